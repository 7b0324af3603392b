package io.streamtrain.trainer.feed;

import io.streamtrain.core.kafka.StartupException;
import io.streamtrain.core.spec.RunSpec;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.OffsetOutOfRangeException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The feed thread's loop, which alone touches the train-topic consumer: what an assignment's
 * end or a new one does to the feed ({@link GroupMembership} says when), the hand-over with
 * the trainer (a {@link BatchFeed.Reset} out, a start request back), and the epochs, windows
 * and rounds it reads, taking one record at a time round-robin across the assigned partitions.
 *
 * <p>Everything the training thread sets or reads crosses here through the atomic and volatile
 * fields; the rest is this thread's own. {@link BatchFeed} is its public face.
 */
final class FetchLoop {
    // the feed's log lines keep the logger name its operators' filters know
    private static final Logger log = LoggerFactory.getLogger(BatchFeed.class);

    private record StartRequest(long generation, int epoch, Map<Integer, Long> positions, EpochPlan plan) {}

    private enum State {
        AWAITING_START,
        RUNNING,
        IDLE
    }

    private final Consumer<byte[], ByteBuffer> consumer;
    private final Windowing windowing;
    private final String topic;
    private final int maxEpochs;

    private final int everySteps;
    private final boolean averaging;
    private final GroupMembership membership;
    private final PartitionBuffers partitions;
    private final RoundItems items;
    private final DataWait wait;

    private final AtomicReference<BatchFeed.Reset> pendingReset = new AtomicReference<>();
    private final AtomicReference<StartRequest> pendingStart = new AtomicReference<>();
    private final AtomicReference<Throwable> failure = new AtomicReference<>();
    private volatile boolean closed;
    private volatile boolean consumptionPaused;
    private volatile long generation;

    private State state = State.AWAITING_START;
    private int epoch;
    private int roundRobin;

    FetchLoop(
            Consumer<byte[], ByteBuffer> consumer,
            RunSpec spec,
            PartitionBuffers partitions,
            RoundItems items,
            DataWait wait) {
        this.consumer = consumer;
        this.windowing = Windowing.of(spec);
        this.topic = spec.data().train();
        this.maxEpochs = spec.maxEpochs();
        this.everySteps = spec.sync().everySteps();
        this.averaging = !spec.sync().nesterov();
        this.membership = new GroupMembership(
                consumer,
                topic,
                TimeUnit.SECONDS.toNanos(spec.sync().timeoutSeconds()),
                this::revoked,
                this::reassigned);
        this.partitions = partitions;
        this.items = items;
        this.wait = wait;
    }

    // ---- what the training thread sets and reads (see BatchFeed) ----

    void heartbeat() {
        membership.heartbeat();
    }

    boolean resetPending() {
        return pendingReset.get() != null;
    }

    BatchFeed.Reset takeReset() {
        return pendingReset.getAndSet(null);
    }

    void start(long forGeneration, int startEpoch, Map<Integer, Long> positions, EpochPlan runPlan) {
        pendingStart.set(new StartRequest(forGeneration, startEpoch, positions, runPlan));
    }

    long generation() {
        return generation;
    }

    Throwable failure() {
        return failure.get();
    }

    void pauseConsumption(boolean pause) {
        consumptionPaused = pause;
    }

    void close() {
        closed = true;
        consumer.wakeup();
    }

    long evictions() {
        return membership.evictions();
    }

    // ---- the feed thread ----

    void run() {
        try {
            membership.subscribe();
            while (!closed) {
                if (membership.leaveOrRejoin()) {
                    continue;
                }
                applyStart();
                try {
                    boolean replaying = state == State.RUNNING && partitions.replayAwaited();
                    for (ConsumerRecord<byte[], ByteBuffer> r :
                            consumer.poll(Duration.ofMillis(items.pending() || replaying ? 10 : 200))) {
                        if (state == State.RUNNING && partitions.buffer(r)) {
                            wait.progressed();
                        }
                    }
                    if (state == State.RUNNING
                            && partitions.pollReplay(Duration.ofMillis(replaying ? 10 : 0), epoch, replaying)) {
                        wait.progressed();
                    }
                } catch (WakeupException e) {
                    if (closed) {
                        break;
                    }
                } catch (OffsetOutOfRangeException e) {
                    throw new StartupException(
                            StartupException.BAD_CONFIGURATION,
                            "records the run's epoch plan needs are gone from "
                                    + topic + " (" + e.offsetOutOfRangePartitions()
                                    + " are before the log start; retention or deleteRecords"
                                    + " removed them): the epochs cannot be replayed. Start a new run id, or raise the topic's retention",
                            e);
                }
                if (consumptionPaused) {
                    wait.paused();
                    partitions.pauseAll();
                } else if (state == State.RUNNING) {
                    drain();
                    adjustPauses();
                    wait.look(state == State.RUNNING, epoch, items.pending());
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
                consumer.close(CloseOptions.timeout(Duration.ofSeconds(5)));
            } catch (RuntimeException e) {
                log.debug("closing the consumer: {}", e.toString());
            }
            try {
                partitions.closeReplay(Duration.ofSeconds(5));
            } catch (RuntimeException e) {
                log.debug("closing the replay consumer: {}", e.toString());
            }
        }
    }

    /**
     * Reads nothing until the next assignment, which may come several polls later: the
     * partitions are no longer ours, and whatever was queued from them is stale.
     */
    @SuppressWarnings("NonAtomicVolatileUpdate") // the feed thread is generation's only writer
    private void revoked() {
        wait.reset();
        partitions.revoke();
        items.drop();
        state = State.AWAITING_START;
        generation++;
    }

    @SuppressWarnings("NonAtomicVolatileUpdate") // the feed thread is generation's only writer
    private void reassigned() {
        wait.reset();
        items.drop();
        List<TopicPartition> now = partitions.reassign();
        state = State.AWAITING_START;
        generation++;
        ConsumerGroupMetadata group = consumer.groupMetadata();
        log.info(
                "assigned partitions {} (group generation {}); waiting for the trainer to roll back",
                partitionsOf(now),
                group.generationId());
        pendingReset.set(new BatchFeed.Reset(generation, now, group));
    }

    private void applyStart() {
        StartRequest s = pendingStart.get();
        if (s == null || s.generation() != generation || state != State.AWAITING_START) {
            return;
        }
        pendingStart.compareAndSet(s, null);
        if (s.plan() != null) {
            partitions.plan(s.plan());
        }
        if (partitions.plan() == null) {
            partitions.plan(EpochPlan.start(consumer, topic, windowing));
            log.info("epoch plan: {}", partitions.plan().describe());
        }
        EpochPlan plan = partitions.plan();
        for (TopicPartition tp : partitions.assignment()) {
            if (!plan.covers(tp)) {
                throw new StartupException(
                        StartupException.BAD_CONFIGURATION,
                        tp + " is not in the run's epoch plan " + plan.ranges().keySet()
                                + "; partitions added to the train topic after the run started are not supported");
            }
        }
        beginEpoch(s.epoch(), s.positions());
    }

    private void beginEpoch(int nextEpoch, Map<Integer, Long> positions) {
        epoch = nextEpoch;
        beginRound();
        partitions.clear();
        if (epoch > maxEpochs) {
            state = State.IDLE;
            log.info("all {} epochs read; the feed is idle", maxEpochs);
            return;
        }
        partitions.seek(positions);
        state = State.RUNNING;
        wait.progressed();
        adjustPauses();
    }

    /**
     * A continuous run's next window starts where this one ended: the consumer reads on (no
     * seek, whose in-flight fetch at the old position would stall the partition until the
     * broker answered it), and what it buffered past the window's end is the new window's.
     */
    private void nextWindow() {
        partitions.plan(partitions.plan().next());
        epoch++;
        beginRound();
        if (epoch > maxEpochs) {
            state = State.IDLE;
            partitions.clear();
            wait.reset();
            // a live topic goes on growing: fetch none of it
            partitions.pauseAll();
            log.info("all {} windows read; the feed is idle", maxEpochs);
            return;
        }
        partitions.nextWindow();
        wait.progressed();
        adjustPauses();
    }

    /** Moves records from the partition buffers into the prefetch queue, in round-robin order. */
    private void drain() {
        List<TopicPartition> assignment = partitions.assignment();
        if (assignment.isEmpty()) {
            return; // more trainers than partitions: this one has nothing to read
        }
        while (flushOutbox() && state == State.RUNNING) {
            if (partitions.allFinished()) {
                endRound(true);
                continue;
            }
            TopicPartition tp = assignment.get(roundRobin);
            if (partitions.finished(tp)) {
                roundRobin = (roundRobin + 1) % assignment.size();
                continue;
            }
            ConsumerRecord<byte[], ByteBuffer> r = partitions.take(tp);
            if (r == null) {
                return; // the next record in order has not arrived yet
            }
            roundRobin = (roundRobin + 1) % assignment.size();
            items.decode(r, generation, epoch, partitions.tookReplayed());
            wait.took();
            if (items.batches() >= stepsPerRound() && !partitions.allFinished()) {
                endRound(false);
            }
        }
    }

    /**
     * {@code sync.everySteps}, or {@value BatchFeed#ALONE_ROUND_FACTOR} times as many for a node that holds
     * every partition of the topic and averages: it combines with nobody, so its round changes no
     * weight and only leaves a resume point (for a restart, or for a node that joins: a rebalance
     * rolls every node back to the last closed round, so a joiner always starts from a state the
     * run really had). Writing and reading back its whole state every 50 steps cost a lone node
     * 5-14 % of its time (docs/benchmarks.md); this way a crash or a join costs it at most
     * {@value BatchFeed#ALONE_ROUND_FACTOR} rounds' training. Nesterov's outer step does change the weights
     * of a lone node, so its rounds stay as they are. Decided per assignment, from offsets and
     * membership only, so a run is still a function of its membership history.
     */
    private int stepsPerRound() {
        // saturated: a round per epoch is asked for with a huge everySteps
        return partitions.holdsAll() && averaging
                ? (int) Math.min(Integer.MAX_VALUE, (long) everySteps * BatchFeed.ALONE_ROUND_FACTOR)
                : everySteps;
    }

    private void beginRound() {
        items.beginRound();
        roundRobin = 0;
    }

    /** Closes this node's share of a round: the partial batch goes out, then the round's ranges. */
    private void endRound(boolean last) {
        PartitionBuffers.RoundRanges ranges = partitions.closeRound(topic);
        items.endRound(generation, epoch, ranges.ranges(), ranges.ended(), last, consumer.groupMetadata());
        if (last) {
            log.info(
                    "{} {} read on partitions {}",
                    windowing.continuous() ? "window" : "epoch",
                    epoch,
                    partitionsOf(partitions.assignment()));
            if (windowing.continuous()) {
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
            return items.flush();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            closed = true;
            return false;
        }
    }

    private void adjustPauses() {
        if (state != State.RUNNING || consumptionPaused) {
            return; // while PAUSEd nothing is resumed, not even by a rollback's new epoch
        }
        partitions.adjustPauses();
    }

    private static List<Integer> partitionsOf(List<TopicPartition> tps) {
        return tps.stream().map(TopicPartition::partition).toList();
    }
}
