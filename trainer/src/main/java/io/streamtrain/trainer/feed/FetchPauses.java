package io.streamtrain.trainer.feed;

import java.nio.ByteBuffer;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.TopicPartition;

/**
 * Which assigned partitions the feed's consumers fetch, so that the buffers stay bounded in
 * bytes and nothing past the epoch's end is fetched: each partition's buffer holds its part of
 * the bound (split evenly across the assignment) before its fetching pauses, and a bounded run's
 * partition pauses once the live consumer's position reaches the plan's end. The replay
 * consumer, if any, is held to the same part ({@link ReplayReader#adjustPauses}).
 *
 * <p>Keeps the bytes each partition's buffer holds, told of every record buffered and taken. The
 * feed thread's own, part of {@link PartitionBuffers}.
 */
final class FetchPauses {
    private final Consumer<byte[], ByteBuffer> consumer;
    /** Reads the replayed records of a continuous run's windows; null when its windows replay none. */
    private final ReplayReader replay;

    private final Windowing windowing;
    /** How many bytes all partitions' buffers hold before their fetching pauses. */
    private final long bufferBytes;

    private final Map<TopicPartition, Long> bufferedBytes = new HashMap<>();
    private final PausedPartitions paused;

    FetchPauses(Consumer<byte[], ByteBuffer> consumer, ReplayReader replay, Windowing windowing, long bufferBytes) {
        this.consumer = consumer;
        this.replay = replay;
        this.windowing = windowing;
        this.bufferBytes = bufferBytes;
        this.paused = new PausedPartitions(consumer);
    }

    /** The partitions are no longer ours: no buffer, and none paused. */
    void revoked() {
        bufferedBytes.clear();
        paused.forget();
    }

    /** A new assignment: no buffer yet, and each of its partitions paused until an epoch begins on it. */
    void assigned(List<TopicPartition> now) {
        bufferedBytes.clear();
        paused.pauseEvery(now);
    }

    /** Every buffer is dropped (at an epoch's start, and when the feed goes idle). */
    void emptied() {
        bufferedBytes.clear();
    }

    /** {@code tp}'s buffer starts empty (an epoch begins on it). */
    void emptied(TopicPartition tp) {
        bufferedBytes.put(tp, 0L);
    }

    void buffered(TopicPartition tp, ConsumerRecord<byte[], ByteBuffer> r) {
        bufferedBytes.merge(tp, sizeOf(r), Long::sum);
    }

    void taken(TopicPartition tp, ConsumerRecord<byte[], ByteBuffer> r) {
        bufferedBytes.merge(tp, -sizeOf(r), Long::sum);
    }

    /** Fetch only what the buffers have room for, and nothing past the epoch's end. */
    void adjust(List<TopicPartition> assignment, EpochPlan plan) {
        long limit = bufferBytes / Math.max(1, assignment.size());
        paused.fetchOnly(assignment, tp -> {
            boolean full = bufferedBytes.getOrDefault(tp, 0L) > limit;
            // a continuous run reads ahead into its next windows, within the buffers' bound
            boolean done = !windowing.continuous() && consumer.position(tp) >= plan.to(tp);
            return !full && !done;
        });
        if (replay != null) {
            replay.adjustPauses(assignment, limit);
        }
    }

    /** Fetches nothing more on any of {@code assignment}. */
    void pauseAll(List<TopicPartition> assignment) {
        paused.pauseAll(assignment);
        if (replay != null) {
            replay.pauseAll(assignment);
        }
    }

    /** The bytes a buffered record counts for against the bound (the replay's buffers count them too). */
    static long sizeOf(ConsumerRecord<byte[], ByteBuffer> r) {
        return (r.value() == null ? 0 : r.value().remaining()) + (r.key() == null ? 0 : r.key().length) + 64L;
    }
}
