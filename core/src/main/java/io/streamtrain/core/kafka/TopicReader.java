package io.streamtrain.core.kafka;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TimeoutException;

/** Reads a whole topic, as it is now, with a consumer outside any group. */
public final class TopicReader {
    private TopicReader() {}

    /**
     * Every record from the beginning of each partition to the end offset seen at the start
     * (later records are left out), in partition then offset order. A topic that does not
     * exist reads as empty. The consumer should read committed records only.
     *
     * @throws TimeoutException if the end is not reached within {@code timeout}
     */
    public static List<ConsumerRecord<byte[], byte[]>> readAll(
            Consumer<byte[], byte[]> consumer, String topic, Duration timeout) {
        List<ConsumerRecord<byte[], byte[]>> out = new ArrayList<>();
        forEach(consumer, topic, null, timeout, out::add);
        out.sort(Comparator.<ConsumerRecord<byte[], byte[]>>comparingInt(ConsumerRecord::partition)
                .thenComparingLong(ConsumerRecord::offset));
        return out;
    }

    /**
     * Hands every record up to {@code ends} (or, when null, the end offsets seen now) to
     * {@code action} as it is polled, holding none: offset order within a partition,
     * partitions interleaved as they arrive.
     *
     * @return the end offsets read to, to read the same records again later
     * @throws TimeoutException if no record arrives for {@code timeout} before the end
     */
    public static Map<TopicPartition, Long> forEach(
            Consumer<byte[], byte[]> consumer,
            String topic,
            Map<TopicPartition, Long> ends,
            Duration timeout,
            java.util.function.Consumer<ConsumerRecord<byte[], byte[]>> action) {
        return forEach(consumer, topic, Map.of(), ends, timeout, action);
    }

    /** @param starts where to start reading each partition; a partition not named, from its beginning */
    public static Map<TopicPartition, Long> forEach(
            Consumer<byte[], byte[]> consumer,
            String topic,
            Map<TopicPartition, Long> starts,
            Map<TopicPartition, Long> ends,
            Duration timeout,
            java.util.function.Consumer<ConsumerRecord<byte[], byte[]>> action) {
        List<PartitionInfo> infos = consumer.partitionsFor(topic, timeout);
        if (infos == null || infos.isEmpty()) {
            return Map.of();
        }
        List<TopicPartition> partitions = infos.stream()
                .map(i -> new TopicPartition(topic, i.partition()))
                .sorted(Comparator.comparingInt(TopicPartition::partition))
                .toList();
        consumer.assign(partitions);
        consumer.seekToBeginning(partitions);
        starts.forEach((tp, offset) -> {
            if (partitions.contains(tp)) {
                consumer.seek(tp, offset);
            }
        });
        Map<TopicPartition, Long> end = ends != null ? ends : consumer.endOffsets(partitions, timeout);
        long deadline = System.nanoTime() + timeout.toNanos();
        try {
            while (partitions.stream().anyMatch(tp -> consumer.position(tp) < end.getOrDefault(tp, 0L))) {
                if (System.nanoTime() > deadline) {
                    throw new TimeoutException("reading " + topic + ": no records for " + timeout + " before its end");
                }
                var records = consumer.poll(Duration.ofMillis(200));
                for (ConsumerRecord<byte[], byte[]> r : records) {
                    if (r.offset() < end.getOrDefault(new TopicPartition(r.topic(), r.partition()), 0L)) {
                        action.accept(r);
                    }
                }
                if (!records.isEmpty()) {
                    // the timeout bounds a stall, not the read: a large topic (and a slow action) may take longer
                    deadline = System.nanoTime() + timeout.toNanos();
                }
            }
        } finally {
            consumer.unsubscribe();
        }
        return Map.copyOf(end);
    }
}
