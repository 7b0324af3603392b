package io.streamtrain.trainer.feed;

import io.streamtrain.core.checkpoint.CheckpointManifest.OffsetRange;
import io.streamtrain.core.checkpoint.RecordsChecksum;
import io.streamtrain.core.codec.Batch;
import io.streamtrain.core.codec.BatchCodec;
import io.streamtrain.core.codec.FeatureBuffers;
import io.streamtrain.core.codec.RejectedRecordException;
import io.streamtrain.core.kafka.StartupException;
import io.streamtrain.core.spec.RunSpec;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.OffsetOutOfRangeException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.utils.Utils;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The thread that owns the train-topic consumer: it polls, decodes and re-batches ahead of
 * the training step, into a prefetch bounded in bytes, so the step never waits for Kafka
 * while data is there.
 *
 * <p>Order is deterministic: records are taken round-robin, one record at a time, across
 * the assigned partitions in partition order, so an epoch's batches depend only on the
 * offset ranges, never on how fetches happened to interleave. That is what lets a resumed
 * run reproduce an uninterrupted one bit for bit.
 *
 * <p>After every (re)assignment the feed pauses and announces a {@link Reset}; the trainer
 * rolls back to its last checkpoint and answers with {@link #start(long, int)}, naming the
 * epoch to read. The feed keeps polling while it waits, paused, so the group never times
 * it out.
 */
public final class BatchFeed implements Runnable {
    private static final Logger log = LoggerFactory.getLogger(BatchFeed.class);
    private static final long WAIT_LOG_NANOS = TimeUnit.SECONDS.toNanos(30);
    /** Free features buffers kept for reuse, at most, however small the batches (each the size of a batch's features). */
    private static final int KEPT_BUFFERS_MAX = 4096;

    /**
     * A new assignment; the trainer must roll back and call {@link #start}.
     *
     * @param group the consumer group's metadata (generation, member) of this assignment
     */
    public record Reset(long generation, List<TopicPartition> assignment, ConsumerGroupMetadata group) {}

    private record StartRequest(long generation, int epoch, Map<Integer, Long> positions, EpochPlan plan) {}

    private enum State { AWAITING_START, RUNNING, IDLE }

    private final Consumer<byte[], ByteBuffer> consumer;
    private final String topic;
    private final FeatureBuffers featureBuffers;
    private final BatchCodec codec;
    private final Rebatcher rebatcher;
    private final int maxEpochs;
    /** Records per window of a continuous run; 0 for a bounded one. */
    private final long window;
    /** How many times {@code sync.everySteps} a lone averaging node trains between rounds (see {@link #stepsPerRound()}). */
    public static final int ALONE_ROUND_FACTOR = 20;
    private final int everySteps;
    private final boolean averaging;
    private final long partitionBufferBytes;
    private final PrefetchQueue<FeedItem> queue;
    private final AtomicReference<Reset> pendingReset = new AtomicReference<>();
    private final AtomicReference<StartRequest> pendingStart = new AtomicReference<>();
    private final AtomicReference<Throwable> failure = new AtomicReference<>();
    private final AtomicBoolean rewind = new AtomicBoolean();
    private final ArrayDeque<FeedItem> outbox = new ArrayDeque<>();
    private final Map<TopicPartition, ArrayDeque<ConsumerRecord<byte[], ByteBuffer>>> buffers = new HashMap<>();
    private final Map<TopicPartition, Long> bufferedBytes = new HashMap<>();
    private final Set<TopicPartition> paused = new HashSet<>();
    private volatile boolean closed;
    /** When the training thread last showed it is alive; a feed whose trainer hangs leaves the group. */
    private volatile long trainerBeat = System.nanoTime();
    private final long stallNanos;
    private final AtomicLong evictions = new AtomicLong();
    private boolean left;
    private volatile boolean consumptionPaused;
    private volatile long generation;
    private volatile EpochPlan plan;
    private List<TopicPartition> assignment = List.of();
    private State state = State.AWAITING_START;
    private int epoch;
    private int roundRobin;
    private long roundRecords;
    private long roundRejected;
    private long roundChecksum;
    private int roundBatches;
    /** Per assigned partition: where the round started, and the next offset to take. */
    private final Map<TopicPartition, Long> roundFrom = new HashMap<>();
    private final Map<TopicPartition, Long> next = new HashMap<>();
    private final long brokerWaitNanos;
    private long lastProgress = System.nanoTime();
    private long lastWaitLog = System.nanoTime();
    /** The partition whose next record (in round-robin order) had not arrived when the feed last looked, or null. */
    private TopicPartition blockedOn;
    private volatile boolean awaitingData;
    /** When the partition a continuous window waits on was first seen with no known lag (no fetch answered), or -1. */
    private long lagUnknownSince = -1;
    private volatile long backlog;

    /**
     * @param plan the epoch plan from the checkpoint being resumed, or null to snapshot the
     *     topic's offsets at the first assignment
     */
    public BatchFeed(Consumer<byte[], ByteBuffer> consumer, RunSpec spec, EpochPlan plan, long prefetchBytes) {
        this(consumer, spec, plan, prefetchBytes, Duration.ofMinutes(5));
    }

    /**
     * @param brokerWait how long the epoch may get no records while it still needs some
     *     before the feed fails (the node then exits, to be restarted from its checkpoint)
     */
    public BatchFeed(Consumer<byte[], ByteBuffer> consumer, RunSpec spec, EpochPlan plan, long prefetchBytes, Duration brokerWait) {
        this.consumer = consumer;
        this.brokerWaitNanos = brokerWait.toNanos();
        this.topic = spec.data().train();
        // as many as the prefetch queue holds when full, and a few in decoding and training: no more memory than a full queue's
        int batchFloats = spec.batchSize() * spec.model().inputs();
        this.featureBuffers = new FeatureBuffers((int) Math.min(KEPT_BUFFERS_MAX, prefetchBytes / (4L * batchFloats) + 4), batchFloats);
        this.codec = new BatchCodec(spec.model(), featureBuffers);
        this.rebatcher = new Rebatcher(spec.batchSize(), spec.model().inputs(), spec.model().classification(), spec.model().yWidth(),
                featureBuffers);
        this.maxEpochs = spec.maxEpochs();
        this.window = spec.data().windowRecords();
        this.lastWaitLog = System.nanoTime() - WAIT_LOG_NANOS; // a continuous run's first wait for data is said at once
        this.everySteps = spec.sync().everySteps();
        this.averaging = !spec.sync().nesterov();
        this.stallNanos = TimeUnit.SECONDS.toNanos(spec.sync().timeoutSeconds());
        this.plan = plan;
        this.queue = new PrefetchQueue<>(prefetchBytes);
        this.partitionBufferBytes = Math.max(1 << 20, prefetchBytes);
    }

    // ---- the training thread's side ----

    /**
     * The training thread is alive. If it does not say so for {@code sync.timeoutSeconds},
     * the feed leaves the group (a straggler: the other nodes' round waits for it), so that
     * its partitions go to the others; it rejoins when the trainer is back.
     */
    public void heartbeat() {
        trainerBeat = System.nanoTime();
    }

    /** Whether a reset waits to be taken (a rebalance happened). */
    public boolean resetPending() {
        return pendingReset.get() != null;
    }

    /** A reset the trainer has not answered yet, or null. */
    public Reset takeReset() {
        return pendingReset.getAndSet(null);
    }

    /**
     * The training thread is done with a batch this feed made (its step ran, and closed every
     * array it made from it): its features buffer holds a later batch instead of a new one.
     */
    public void recycle(Batch trained) {
        featureBuffers.give(trained.x());
    }

    /** The next item of the current generation, or null after {@code timeout}. */
    public FeedItem next(long timeout, TimeUnit unit) throws InterruptedException {
        long deadline = System.nanoTime() + unit.toNanos(timeout);
        while (true) {
            FeedItem item = queue.poll(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            if (item == null || item.generation() == generation) {
                return item;
            }
        }
    }

    /** The trainer has rolled back for {@code generation}; read epoch {@code epoch} next, from its start. */
    public void start(long forGeneration, int startEpoch) {
        pendingStart.set(new StartRequest(forGeneration, startEpoch, null, null));
    }

    /**
     * The trainer has rolled back for {@code generation}; read epoch {@code epoch} next,
     * starting each assigned partition at {@code positions} (the last closed round's). Later
     * epochs start at the plan's start.
     *
     * @param runPlan the run's epoch plan (the feed then reads exactly these ranges)
     */
    public void start(long forGeneration, int startEpoch, Map<Integer, Long> positions, EpochPlan runPlan) {
        pendingStart.set(new StartRequest(forGeneration, startEpoch, positions, runPlan));
    }

    public long generation() {
        return generation;
    }

    /** The epoch plan, once known (after the first assignment). */
    public EpochPlan plan() {
        return plan;
    }

    /** What stopped the feed thread, if it failed. */
    public Throwable failure() {
        return failure.get();
    }

    public long prefetchedBytes() {
        return queue.bytes();
    }

    /**
     * A continuous run's window cannot go on: the next record it needs, on a partition this
     * node reads, has not been produced yet (nothing is lost or stuck; the topic is idle).
     */
    public boolean awaitingData() {
        return awaitingData;
    }

    /**
     * Records of a continuous run that arrived on this node's partitions and are not yet
     * trained (its window lag), as of the last fetch; 0 for a bounded run.
     */
    public long backlog() {
        return backlog;
    }

    /**
     * Starts over as if the partitions had been reassigned: a new generation and a
     * {@link Reset}, for a trainer whose checkpoint failed without a rebalance behind it.
     */
    public void rewind() {
        rewind.set(true); // seen within one poll interval
    }

    /** PAUSE: read nothing more (every partition paused) until called with false; the group membership stays. */
    public void pauseConsumption(boolean pause) {
        consumptionPaused = pause;
    }

    /** Stops the thread at its next poll; the consumer is closed (leaving the group) by the thread. */
    public void close() {
        closed = true;
        consumer.wakeup();
    }

    // ---- the feed thread ----

    @Override
    public void run() {
        try {
            consumer.subscribe(List.of(topic), new Listener());
            while (!closed) {
                if (leaveOrRejoin()) {
                    continue;
                }
                if (rewind.getAndSet(false)) {
                    reassigned();
                }
                applyStart();
                try {
                    for (ConsumerRecord<byte[], ByteBuffer> r : consumer.poll(Duration.ofMillis(outbox.isEmpty() ? 200 : 10))) {
                        buffer(r);
                    }
                } catch (WakeupException e) {
                    if (closed) {
                        break;
                    }
                } catch (OffsetOutOfRangeException e) {
                    throw new StartupException(StartupException.BAD_CONFIGURATION, "records the run's epoch plan needs are gone from "
                            + topic + " (" + e.offsetOutOfRangePartitions() + " are before the log start; retention or deleteRecords"
                            + " removed them): the epochs cannot be replayed. Start a new run id, or raise the topic's retention", e);
                }
                if (consumptionPaused) {
                    pauseAll();
                } else if (state == State.RUNNING) {
                    drain();
                    adjustPauses();
                    logIfWaiting();
                } else {
                    // the last epoch's end went idle with its partial batch and round end still in the
                    // outbox when the queue was full: they go out as the trainer makes room
                    flushOutbox();
                }
            }
        } catch (Throwable t) {
            if (!closed) {
                failure.set(t);
                log.error("the batch feed stopped: {}", t.toString(), t);
            }
        } finally {
            try {
                consumer.close(Duration.ofSeconds(5));
            } catch (RuntimeException e) {
                log.debug("closing the consumer: {}", e.toString());
            }
        }
    }

    /** Times this feed left the group because the training thread stalled. */
    public long evictions() {
        return evictions.get();
    }

    /** @return true while out of the group (nothing to poll) */
    private boolean leaveOrRejoin() throws InterruptedException {
        long since = System.nanoTime() - trainerBeat;
        if (!left && since > stallNanos) {
            log.warn("the training thread has not been heard from for {} s (sync.timeoutSeconds is {}): leaving the group so"
                    + " that the other nodes take this node's partitions over; it rejoins when training resumes",
                    since / 1_000_000_000L, stallNanos / 1_000_000_000L);
            consumer.unsubscribe();
            revoked();
            left = true;
            evictions.incrementAndGet();
        } else if (left && since < stallNanos) {
            log.info("the training thread is back: rejoining the group");
            consumer.subscribe(List.of(topic), new Listener());
            left = false;
        }
        if (left) {
            Thread.sleep(100);
        }
        return left;
    }

    private final class Listener implements ConsumerRebalanceListener {
        // nothing is committed on revocation: offsets are committed only with the checkpoint that accounts for them

        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
            if (!partitions.isEmpty()) {
                revoked();
            }
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
            // called after every rebalance, with an empty set too: the Reset goes out here
            reassigned();
        }

        @Override
        public void onPartitionsLost(Collection<TopicPartition> partitions) {
            revoked();
        }
    }

    /**
     * Reads nothing until the next assignment, which may come several polls later: the
     * partitions are no longer ours, and whatever was queued from them is stale.
     */
    private void revoked() {
        awaitingData = false;
        backlog = 0;
        buffers.clear();
        bufferedBytes.clear();
        outbox.clear();
        rebatcher.reset();
        assignment = List.of();
        paused.clear();
        state = State.AWAITING_START;
        generation++;
    }

    private void reassigned() {
        List<TopicPartition> now = consumer.assignment().stream()
                .sorted(Comparator.comparingInt(TopicPartition::partition)).toList();
        awaitingData = false;
        backlog = 0;
        buffers.clear();
        bufferedBytes.clear();
        outbox.clear();
        rebatcher.reset();
        assignment = now;
        consumer.pause(now);
        // a defined position until beginEpoch seeks to the plan (reset policy is "none": no silent jumps)
        consumer.seekToBeginning(now);
        paused.clear();
        paused.addAll(now);
        state = State.AWAITING_START;
        generation++;
        ConsumerGroupMetadata group = consumer.groupMetadata();
        log.info("assigned partitions {} (group generation {}); waiting for the trainer to roll back", partitionsOf(now),
                group.generationId());
        pendingReset.set(new Reset(generation, now, group));
    }

    private void applyStart() {
        StartRequest s = pendingStart.get();
        if (s == null || s.generation() != generation || state != State.AWAITING_START) {
            return;
        }
        pendingStart.compareAndSet(s, null);
        if (s.plan() != null) {
            plan = s.plan();
        }
        if (plan == null) {
            snapshotPlan();
        }
        for (TopicPartition tp : assignment) {
            if (!plan.covers(tp)) {
                throw new StartupException(StartupException.BAD_CONFIGURATION, tp + " is not in the run's epoch plan " + plan.ranges().keySet()
                        + "; partitions added to the train topic after the run started are not supported");
            }
        }
        beginEpoch(s.epoch(), s.positions());
    }

    private void snapshotPlan() {
        plan = EpochPlan.start(consumer, topic, window);
        log.info("epoch plan: {}", plan.describe());
    }

    private void beginEpoch(int nextEpoch, Map<Integer, Long> positions) {
        epoch = nextEpoch;
        beginRound();
        buffers.clear();
        bufferedBytes.clear();
        next.clear();
        if (epoch > maxEpochs) {
            state = State.IDLE;
            log.info("all {} epochs read; the feed is idle", maxEpochs);
            return;
        }
        for (TopicPartition tp : assignment) {
            long from = positions == null ? plan.from(tp) : Math.max(plan.from(tp), Math.min(plan.to(tp), positions.get(tp.partition())));
            consumer.seek(tp, from);
            next.put(tp, from);
            buffers.put(tp, new ArrayDeque<>());
            bufferedBytes.put(tp, 0L);
        }
        roundFrom.clear();
        roundFrom.putAll(next);
        state = State.RUNNING;
        lastProgress = System.nanoTime();
        adjustPauses();
    }

    /**
     * A continuous run's next window starts where this one ended: the consumer reads on (no
     * seek, whose in-flight fetch at the old position would stall the partition until the
     * broker answered it), and what it buffered past the window's end is the new window's.
     */
    private void nextWindow() {
        plan = plan.next();
        epoch++;
        beginRound();
        if (epoch > maxEpochs) {
            state = State.IDLE;
            buffers.clear();
            bufferedBytes.clear();
            next.clear();
            awaitingData = false;
            backlog = 0;
            // a live topic goes on growing: fetch none of it
            List<TopicPartition> more = assignment.stream().filter(paused::add).toList();
            if (!more.isEmpty()) {
                consumer.pause(more);
            }
            log.info("all {} windows read; the feed is idle", maxEpochs);
            return;
        }
        for (TopicPartition tp : assignment) {
            next.put(tp, plan.from(tp));
        }
        roundFrom.clear();
        roundFrom.putAll(next);
        lastProgress = System.nanoTime();
        adjustPauses();
    }

    private void buffer(ConsumerRecord<byte[], ByteBuffer> r) {
        TopicPartition tp = new TopicPartition(r.topic(), r.partition());
        ArrayDeque<ConsumerRecord<byte[], ByteBuffer>> b = buffers.get(tp);
        // records past the snapshot belong to no epoch of this run; a continuous run's belong to its next windows
        if (state != State.RUNNING || b == null || (window == 0 && r.offset() >= plan.to(tp))) {
            return;
        }
        b.addLast(r);
        bufferedBytes.merge(tp, sizeOf(r), Long::sum);
        lastProgress = System.nanoTime();
    }

    /** Moves records from the partition buffers into the prefetch queue, in round-robin order. */
    private void drain() {
        if (assignment.isEmpty()) {
            return; // more trainers than partitions: this one has nothing to read
        }
        while (flushOutbox() && state == State.RUNNING) {
            if (assignment.stream().allMatch(this::finished)) {
                endRound(true);
                continue;
            }
            TopicPartition tp = assignment.get(roundRobin);
            if (finished(tp)) {
                roundRobin = (roundRobin + 1) % assignment.size();
                continue;
            }
            ConsumerRecord<byte[], ByteBuffer> r = buffers.get(tp).pollFirst();
            if (r == null) {
                blockedOn = tp;
                return; // the next record in order has not arrived yet
            }
            blockedOn = null;
            bufferedBytes.merge(tp, -sizeOf(r), Long::sum);
            roundRobin = (roundRobin + 1) % assignment.size();
            decode(r);
            next.put(tp, r.offset() + 1);
            if (roundBatches >= stepsPerRound() && !assignment.stream().allMatch(this::finished)) {
                endRound(false);
            }
        }
    }

    /**
     * {@code sync.everySteps}, or {@value #ALONE_ROUND_FACTOR} times as many for a node that holds
     * every partition of the topic and averages: it combines with nobody, so its round changes no
     * weight and only leaves a resume point (for a restart, or for a node that joins: a rebalance
     * rolls every node back to the last closed round, so a joiner always starts from a state the
     * run really had). Writing and reading back its whole state every 50 steps cost a lone node
     * 5-14 % of its time (docs/benchmarks.md); this way a crash or a join costs it at most
     * {@value #ALONE_ROUND_FACTOR} rounds' training. Nesterov's outer step does change the weights
     * of a lone node, so its rounds stay as they are. Decided per assignment, from offsets and
     * membership only, so a run is still a function of its membership history.
     */
    private int stepsPerRound() {
        boolean alone = plan != null && assignment.size() == plan.ranges().size();
        // saturated: a round per epoch is asked for with a huge everySteps
        return alone && averaging ? (int) Math.min(Integer.MAX_VALUE, (long) everySteps * ALONE_ROUND_FACTOR) : everySteps;
    }

    private void decode(ConsumerRecord<byte[], ByteBuffer> r) {
        roundRecords++;
        try {
            Batch b = codec.decode(r.value());
            roundChecksum += RecordsChecksum.of(r.value());
            for (Batch full : rebatcher.add(b)) {
                outbox.add(new FeedItem.Samples(generation, epoch, full));
                roundBatches++;
            }
        } catch (RejectedRecordException e) {
            roundRejected++;
            outbox.add(new FeedItem.Rejected(generation, epoch, withBytes(r), e.reason(), e.getMessage()));
        }
    }

    private void beginRound() {
        roundRecords = 0;
        roundRejected = 0;
        roundChecksum = 0;
        roundBatches = 0;
        roundRobin = 0;
        rebatcher.reset();
    }

    /**
     * A partition is done for the epoch when every record before the plan's end is taken: its
     * position passed the end and its buffer is empty, or (a continuous run, which keeps what
     * it read of its next windows) the next record buffered is past the end.
     */
    private boolean finished(TopicPartition tp) {
        ConsumerRecord<byte[], ByteBuffer> head = buffers.get(tp).peekFirst();
        return head == null ? consumer.position(tp) >= plan.to(tp) : head.offset() >= plan.to(tp);
    }

    /** Closes this node's share of a round: the partial batch goes out, then the round's ranges. */
    private void endRound(boolean last) {
        Batch rest = rebatcher.flush();
        if (rest != null) {
            outbox.add(new FeedItem.Samples(generation, epoch, rest));
        }
        List<OffsetRange> ranges = new ArrayList<>();
        for (TopicPartition tp : assignment) {
            long to = finished(tp) ? plan.to(tp) : next.get(tp);
            ranges.add(new OffsetRange(topic, tp.partition(), roundFrom.get(tp), to));
            roundFrom.put(tp, to);
        }
        outbox.add(new FeedItem.RoundEnd(generation, epoch, ranges, last, consumer.groupMetadata(), roundRecords, roundRejected,
                roundChecksum));
        if (last) {
            log.info("{} {} read on partitions {}", window > 0 ? "window" : "epoch", epoch, partitionsOf(assignment));
            if (window > 0) {
                nextWindow();
            } else {
                beginEpoch(epoch + 1, null);
            }
        } else {
            beginRound();
        }
    }

    /** Offers pending items to the queue; false while the queue is full. */
    private boolean flushOutbox() {
        try {
            while (!outbox.isEmpty()) {
                FeedItem item = outbox.peekFirst();
                if (!queue.offer(item, bytesOf(item), 20, TimeUnit.MILLISECONDS)) {
                    return false;
                }
                outbox.removeFirst();
            }
            return true;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            closed = true;
            return false;
        }
    }

    /** Fetch only what the buffers have room for, and nothing past the epoch's end. */
    private void adjustPauses() {
        if (state != State.RUNNING || consumptionPaused) {
            return; // while PAUSEd nothing is resumed, not even by a rollback's new epoch
        }
        long limit = partitionBufferBytes / Math.max(1, assignment.size());
        List<TopicPartition> pause = new ArrayList<>();
        List<TopicPartition> resume = new ArrayList<>();
        for (TopicPartition tp : assignment) {
            boolean full = bufferedBytes.getOrDefault(tp, 0L) > limit;
            // a continuous run reads ahead into its next windows, within the buffers' bound
            boolean done = window == 0 && consumer.position(tp) >= plan.to(tp);
            if ((full || done) && paused.add(tp)) {
                pause.add(tp);
            } else if (!full && !done && paused.remove(tp)) {
                resume.add(tp);
            }
        }
        if (!pause.isEmpty()) {
            consumer.pause(pause);
        }
        if (!resume.isEmpty()) {
            consumer.resume(resume);
        }
    }

    private void pauseAll() {
        awaitingData = false; // PAUSEd: waiting for the operator, not for data
        List<TopicPartition> more = assignment.stream().filter(paused::add).toList();
        if (!more.isEmpty()) {
            consumer.pause(more);
        }
        lastProgress = System.nanoTime(); // a paused run is not waiting for the broker
    }

    private void logIfWaiting() {
        if (window > 0) {
            watchWindow();
            return;
        }
        long now = System.nanoTime();
        if (!outbox.isEmpty() || queue.bytes() > 0) {
            lastProgress = now; // the trainer has data: a slow step is not a missing broker
            return;
        }
        boolean givingUp = now - lastProgress > brokerWaitNanos;
        if (!givingUp && (now - lastProgress < WAIT_LOG_NANOS || now - lastWaitLog < WAIT_LOG_NANOS)) {
            return;
        }
        List<String> waiting = new ArrayList<>();
        for (TopicPartition tp : assignment) {
            if (!finished(tp)) {
                waiting.add(tp.partition() + "@" + consumer.position(tp) + "/" + plan.to(tp));
            }
        }
        if (waiting.isEmpty()) {
            return;
        }
        long waited = (now - lastProgress) / 1_000_000_000L;
        if (givingUp) {
            throw new IllegalStateException("no records from " + topic + " for " + waited + " s (the broker wait is "
                    + brokerWaitNanos / 1_000_000_000L + " s) while epoch " + epoch + " still needs partitions " + waiting
                    + " (position/end); giving up, a restart resumes from the last checkpoint");
        }
        lastWaitLog = now;
        log.warn("no records from {} for {} s; epoch {} still needs partitions {} (position/end). Is the broker reachable?"
                + " Waiting up to {} s", topic, waited, epoch, waiting, brokerWaitNanos / 1_000_000_000L);
    }

    /**
     * A continuous run waits for its window's records as long as it takes: an idle topic is
     * not a failure. Says so (at most every 30 s), and keeps the window lag.
     */
    private void watchWindow() {
        if (state != State.RUNNING) {
            awaitingData = false;
            backlog = 0;
            return;
        }
        long lag = 0;
        for (TopicPartition tp : assignment) {
            lag += buffers.get(tp).size() + consumer.currentLag(tp).orElse(0);
        }
        backlog = lag;
        boolean starved = outbox.isEmpty() && blockedOn != null && buffers.get(blockedOn) != null && buffers.get(blockedOn).isEmpty();
        java.util.OptionalLong blockedLag = starved ? consumer.currentLag(blockedOn) : java.util.OptionalLong.empty();
        boolean idle = blockedLag.isPresent() && blockedLag.getAsLong() == 0;
        long now = System.nanoTime();
        if (idle && now - lastWaitLog >= WAIT_LOG_NANOS) {
            lastWaitLog = now;
            logAwaitingData();
        }
        awaitingData = idle;
        // starved with no lag known: no fetch has answered, which is the broker's silence, not an idle topic
        if (!starved || blockedLag.isPresent()) {
            lagUnknownSince = -1;
        } else if (lagUnknownSince < 0) {
            lagUnknownSince = now;
        } else if (now - lagUnknownSince >= WAIT_LOG_NANOS && now - lastWaitLog >= WAIT_LOG_NANOS) {
            lastWaitLog = now;
            log.warn("window {} waits for partition {} of {}, whose lag has been unknown for {} s: no fetch has answered. Is the broker"
                    + " reachable? The window waits (a continuous run does not give up on its data)", epoch, blockedOn.partition(), topic,
                    (now - lagUnknownSince) / 1_000_000_000L);
        }
    }

    private void logAwaitingData() {
        List<String> waiting = new ArrayList<>();
        long missing = 0;
        for (TopicPartition tp : assignment) {
            if (!finished(tp)) {
                long position = consumer.position(tp);
                waiting.add(tp.partition() + "@" + position + "/" + plan.to(tp));
                missing += plan.to(tp) - position - buffers.get(tp).size();
            }
        }
        log.info("window {} waits for data: {} more record(s) to close it on partitions {} (position/window end); {} has no newer"
                + " records yet", epoch, missing, waiting, topic);
    }

    private static long sizeOf(ConsumerRecord<byte[], ByteBuffer> r) {
        return (r.value() == null ? 0 : r.value().remaining()) + (r.key() == null ? 0 : r.key().length) + 64L;
    }

    private static long bytesOf(FeedItem item) {
        if (item instanceof FeedItem.Samples s) {
            return s.batch().bytes();
        }
        if (item instanceof FeedItem.Rejected r) {
            return (r.record().value() == null ? 0 : r.record().value().length) + 64L;
        }
        return 256;
    }

    /** A rejected record as its dead letter is written: the value in an array of its own (the fetch's buffer is not kept). */
    private static ConsumerRecord<byte[], byte[]> withBytes(ConsumerRecord<byte[], ByteBuffer> r) {
        byte[] value = r.value() == null ? null : Utils.toArray(r.value());
        return new ConsumerRecord<>(r.topic(), r.partition(), r.offset(), r.timestamp(), r.timestampType(), r.serializedKeySize(),
                r.serializedValueSize(), r.key(), value, r.headers(), r.leaderEpoch());
    }

    private static List<Integer> partitionsOf(List<TopicPartition> tps) {
        return tps.stream().map(TopicPartition::partition).toList();
    }
}
