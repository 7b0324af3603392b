package io.streamtrain.trainer.feed;

import io.streamtrain.core.kafka.StartupException;
import io.streamtrain.core.spec.RunSpec;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.OffsetOutOfRangeException;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads the earlier records a continuous run's windows replay ({@code data.window.replay}),
 * with a consumer of its own, outside the group: assigned the node's partitions, it seeks to
 * each partition's replay ({@link EpochPlan#replayRange}) when a window (or a start inside a
 * replay) begins, so the live consumer reads on where it is. It fetches a partition only while
 * its replay still needs records and its buffer is within bounds, and keeps only the records of
 * the replay, in offset order.
 *
 * <p>Used by the feed thread only, through {@link PartitionBuffers}, which decides when a
 * partition's next record is a replayed one.
 */
final class ReplayReader {
    // the feed's log lines keep the logger name its operators' filters know
    private static final Logger log = LoggerFactory.getLogger(BatchFeed.class);
    private static final long SILENCE_LOG_NANOS = 30_000_000_000L;

    private final Consumer<byte[], ByteBuffer> consumer;
    /** The train topic, and how many windows back a replay reaches: what the error for records gone names. */
    private final String topic;

    private final int horizon;
    /** When the feed began waiting on a replayed record with none arriving, or -1; and when that was last said. */
    private long awaitedSince = -1;

    private long lastSilenceLog;
    /** Per partition in its replay: the records fetched and not yet taken. */
    private final Map<TopicPartition, ArrayDeque<ConsumerRecord<byte[], ByteBuffer>>> buffers = new HashMap<>();
    /** Per partition in its replay: the next offset to keep, and where the replay ends. */
    private final Map<TopicPartition, long[]> fetch = new HashMap<>();

    private final Map<TopicPartition, Long> bytes = new HashMap<>();
    private final PausedPartitions paused;

    ReplayReader(Consumer<byte[], ByteBuffer> consumer, RunSpec spec) {
        this.consumer = consumer;
        this.topic = spec.data().train();
        this.horizon = Windowing.of(spec).horizon();
        this.paused = new PausedPartitions(consumer);
    }

    /** The node's partitions now: all paused, no replay begun. */
    void assign(List<TopicPartition> now) {
        clear();
        consumer.assign(now);
        paused.pauseEvery(now);
        // a defined position until a replay seeks (its reset policy is "none"; every poll looks at every partition)
        consumer.seekToBeginning(now);
    }

    /** The node holds no partitions. */
    void unassign() {
        clear();
        consumer.assign(List.of());
        paused.forget();
    }

    /** Drops every replay's records and position; which partitions are paused stays as it is. */
    void clear() {
        buffers.clear();
        fetch.clear();
        bytes.clear();
    }

    /** {@code tp}'s replay is over (or there is none): nothing of it is kept. */
    void end(TopicPartition tp) {
        buffers.remove(tp);
        fetch.remove(tp);
        bytes.remove(tp);
    }

    /** {@code tp} reads its replay from {@code offset} up to {@code end} (exclusive). */
    void begin(TopicPartition tp, long offset, long end) {
        end(tp);
        consumer.seek(tp, offset);
        buffers.put(tp, new ArrayDeque<>());
        fetch.put(tp, new long[] {offset, end});
    }

    /** The next replayed record of {@code tp}, or null when none is buffered. */
    ConsumerRecord<byte[], ByteBuffer> take(TopicPartition tp) {
        ArrayDeque<ConsumerRecord<byte[], ByteBuffer>> b = buffers.get(tp);
        ConsumerRecord<byte[], ByteBuffer> r = b == null ? null : b.pollFirst();
        if (r != null) {
            bytes.merge(tp, -FetchPauses.sizeOf(r), Long::sum);
        }
        return r;
    }

    /** Whether nothing of {@code tp}'s replay is buffered. */
    boolean starved(TopicPartition tp) {
        ArrayDeque<ConsumerRecord<byte[], ByteBuffer>> b = buffers.get(tp);
        return b == null || b.isEmpty();
    }

    /** Whether the consumer has delivered all of {@code tp}'s replay (offsets without records, e.g. transaction markers, included). */
    boolean fetched(TopicPartition tp) {
        long[] f = fetch.get(tp);
        return f == null || f[0] >= f[1] || consumer.position(tp) >= f[1];
    }

    /**
     * Keeps what the consumer fetched (its fetches go out on this call; it waits {@code wait}
     * at most).
     *
     * @param window the window being read, for the error when a replay's records are gone
     * @param awaited whether the round-robin order waits on a replayed record (a silent fetch then
     *     counts towards the warning that the broker may be unreachable)
     * @return whether any record was kept
     * @throws StartupException when retention removed records a replay needs
     */
    boolean poll(Duration wait, int window, boolean awaited) {
        if (consumer.assignment().isEmpty()) {
            return false; // a node with no partitions (more nodes than partitions): the client refuses to poll nothing
        }
        boolean kept = false;
        try {
            for (ConsumerRecord<byte[], ByteBuffer> r : consumer.poll(wait)) {
                kept |= keep(r);
            }
        } catch (OffsetOutOfRangeException e) {
            throw new StartupException(
                    StartupException.BAD_CONFIGURATION,
                    "window " + window + " replays records of " + topic + " that are gone ("
                            + e.offsetOutOfRangePartitions() + " are before the log start; retention or deleteRecords"
                            + " removed them): keep at least data.window.replayHorizon (" + horizon
                            + ") windows on the topic, or lower it",
                    e);
        }
        noteSilence(awaited && !kept, window);
        return kept;
    }

    /** A replay waits for records that exist: if no fetch brings them for 30 s, the broker may be unreachable; said every 30 s. */
    private void noteSilence(boolean silent, int window) {
        long now = System.nanoTime();
        if (!silent) {
            awaitedSince = -1;
        } else if (awaitedSince < 0) {
            awaitedSince = now;
        } else if (now - awaitedSince >= SILENCE_LOG_NANOS && now - lastSilenceLog >= SILENCE_LOG_NANOS) {
            lastSilenceLog = now;
            log.warn(
                    "window {} has waited {} s for records of {} it replays, which exist: no fetch brought them. Is the broker"
                            + " reachable, and may this node read the topic? The window waits",
                    window,
                    (now - awaitedSince) / 1_000_000_000L,
                    topic);
        }
    }

    /** A fetched record, kept if it is the next of its partition's replay. */
    private boolean keep(ConsumerRecord<byte[], ByteBuffer> r) {
        TopicPartition tp = new TopicPartition(r.topic(), r.partition());
        long[] f = fetch.get(tp);
        if (f == null || r.offset() < f[0] || r.offset() >= f[1]) {
            return false;
        }
        f[0] = r.offset() + 1;
        buffers.get(tp).addLast(r);
        bytes.merge(tp, FetchPauses.sizeOf(r), Long::sum);
        return true;
    }

    /** Fetches only for partitions in their replay, only what the replay still needs, within {@code limit} bytes each. */
    void adjustPauses(List<TopicPartition> assignment, long limit) {
        paused.fetchOnly(
                assignment, tp -> buffers.containsKey(tp) && !fetched(tp) && bytes.getOrDefault(tp, 0L) <= limit);
    }

    /** Fetches nothing more on any of {@code assignment}. */
    void pauseAll(List<TopicPartition> assignment) {
        paused.pauseAll(assignment);
    }

    /** Closes the consumer (the feed thread's, at its end). */
    void close(Duration timeout) {
        consumer.close(CloseOptions.timeout(timeout));
    }
}
