package io.streamtrain.trainer.feed;

import io.streamtrain.core.codec.Batch;
import io.streamtrain.core.codec.FeatureBuffers;
import io.streamtrain.core.spec.RunSpec;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.common.TopicPartition;

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
 *
 * <p>This class is the feed's public face; the thread's loop is {@link FetchLoop}, with the
 * partitions' accounts in {@link PartitionBuffers}, the items it makes in {@link RoundItems}
 * and its waits for records in {@link DataWait}.
 */
public final class BatchFeed implements Runnable {
    /** Free features buffers kept for reuse, at most, however small the batches (each the size of a batch's features). */
    private static final int KEPT_BUFFERS_MAX = 4096;

    /**
     * A new assignment; the trainer must roll back and call {@link #start}.
     *
     * @param group the consumer group's metadata (generation, member) of this assignment
     */
    public record Reset(long generation, List<TopicPartition> assignment, ConsumerGroupMetadata group) {}

    /** How many times {@code sync.everySteps} a lone averaging node trains between rounds (see {@link FetchLoop}). */
    public static final int ALONE_ROUND_FACTOR = 20;

    private final FeatureBuffers featureBuffers;
    private final PrefetchQueue<FeedItem> queue;
    private final PartitionBuffers partitions;
    private final DataWait wait;
    private final FetchLoop loop;

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
    public BatchFeed(
            Consumer<byte[], ByteBuffer> consumer,
            RunSpec spec,
            EpochPlan plan,
            long prefetchBytes,
            Duration brokerWait) {
        this(consumer, null, spec, plan, prefetchBytes, brokerWait);
    }

    /**
     * @param replayConsumer reads the records a continuous run's windows replay, outside the
     *     group (the feed thread assigns, seeks and closes it); null when they replay none
     */
    public BatchFeed(
            Consumer<byte[], ByteBuffer> consumer,
            Consumer<byte[], ByteBuffer> replayConsumer,
            RunSpec spec,
            EpochPlan plan,
            long prefetchBytes,
            Duration brokerWait) {
        if (replayConsumer == null && Windowing.of(spec).replay() > 0) {
            throw new IllegalArgumentException("a run whose windows replay records needs a replay consumer");
        }
        // as many as the prefetch queue holds when full, and a few in
        // decoding and training: no more memory than a full queue's
        int batchFloats = spec.batchSize() * spec.model().inputs();
        this.featureBuffers = new FeatureBuffers(
                (int) Math.min(KEPT_BUFFERS_MAX, prefetchBytes / (4L * batchFloats) + 4), batchFloats);
        this.queue = new PrefetchQueue<>(prefetchBytes);
        this.partitions = new PartitionBuffers(
                consumer,
                replayConsumer == null ? null : new ReplayReader(replayConsumer, spec),
                plan,
                Windowing.of(spec),
                Math.max(1 << 20, prefetchBytes));
        this.wait = new DataWait(spec.data().train(), spec.data().continuous(), brokerWait, partitions, queue);
        this.loop = new FetchLoop(consumer, spec, partitions, new RoundItems(spec, featureBuffers, queue), wait);
    }

    // ---- the training thread's side ----

    /**
     * The training thread is alive. If it does not say so for {@code sync.timeoutSeconds},
     * the feed leaves the group (a straggler: the other nodes' round waits for it), so that
     * its partitions go to the others; it rejoins when the trainer is back.
     */
    public void heartbeat() {
        loop.heartbeat();
    }

    /** Whether a reset waits to be taken (a rebalance happened). */
    public boolean resetPending() {
        return loop.resetPending();
    }

    /** A reset the trainer has not answered yet, or null. */
    public Reset takeReset() {
        return loop.takeReset();
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
            if (item == null || item.generation() == loop.generation()) {
                if (item instanceof FeedItem.RoundEnd end) {
                    wait.trained(end.records()); // the samples before it are trained: its records leave the lag
                }
                return item;
            }
        }
    }

    /** The trainer has rolled back for {@code generation}; read epoch {@code epoch} next, from its start. */
    public void start(long forGeneration, int startEpoch) {
        loop.start(forGeneration, startEpoch, null, null);
    }

    /**
     * The trainer has rolled back for {@code generation}; read epoch {@code epoch} next,
     * starting each assigned partition at {@code positions} (the last closed round's). Later
     * epochs start at the plan's start.
     *
     * @param runPlan the run's epoch plan (the feed then reads exactly these ranges)
     */
    public void start(long forGeneration, int startEpoch, Map<Integer, Long> positions, EpochPlan runPlan) {
        loop.start(forGeneration, startEpoch, positions, runPlan);
    }

    public long generation() {
        return loop.generation();
    }

    /** The epoch plan, once known (after the first assignment). */
    public EpochPlan plan() {
        return partitions.plan();
    }

    /** What stopped the feed thread, if it failed. */
    public Throwable failure() {
        return loop.failure();
    }

    public long prefetchedBytes() {
        return queue.bytes();
    }

    /**
     * A continuous run's window cannot go on: the next record it needs, on a partition this
     * node reads, has not been produced yet (nothing is lost or stuck; the topic is idle).
     */
    public boolean awaitingData() {
        return wait.awaitingData();
    }

    /**
     * Records of a continuous run that arrived on this node's partitions and are not yet
     * trained (its window lag), as of the last fetch: not read yet, buffered, or queued or in
     * training in a round the trainer has not finished; 0 for a bounded run.
     */
    public long backlog() {
        return wait.backlog();
    }

    /** PAUSE: read nothing more (every partition paused) until called with false; the group membership stays. */
    public void pauseConsumption(boolean pause) {
        loop.pauseConsumption(pause);
    }

    /** Stops the thread at its next poll; the consumer is closed (leaving the group) by the thread. */
    public void close() {
        loop.close();
    }

    /** Times this feed left the group because the training thread stalled. */
    public long evictions() {
        return loop.evictions();
    }

    // ---- the feed thread ----

    @Override
    public void run() {
        loop.run();
    }
}
