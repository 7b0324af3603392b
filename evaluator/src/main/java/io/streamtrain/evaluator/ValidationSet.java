package io.streamtrain.evaluator;

import io.streamtrain.core.codec.Batch;
import io.streamtrain.core.codec.BatchCodec;
import io.streamtrain.core.codec.RejectedRecordException;
import io.streamtrain.core.evaluation.ValidationPlan;
import io.streamtrain.core.kafka.TopicReader;
import io.streamtrain.core.spec.ModelSpec;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;

/**
 * A run's validation data: every record of the validation topic up to the run's
 * {@link ValidationPlan} — the end offsets seen when the run was first evaluated (bounded,
 * like a training epoch) — decoded for the run's model. Held in
 * memory when its decoded size fits the budget; otherwise read from the topic again, record
 * by record, for every evaluation (the same records: the end offsets are kept). Records
 * that do not decode are kept aside for the dead-letter topic.
 */
final class ValidationSet {
    /** A decoded record and where it came from: metrics are summed in (partition, offset) order. */
    record Item(int partition, long offset, Batch batch) {}

    record Rejected(ConsumerRecord<byte[], byte[]> record, RejectedRecordException reason) {}

    private final String topic;
    private final BatchCodec codec;
    /** Where each partition's data starts; a partition not named, at its beginning. */
    private final Map<TopicPartition, Long> starts;

    private final Map<TopicPartition, Long> ends;
    private final List<Item> items; // null when streamed
    private final List<Rejected> rejected;
    private final long samples;
    private final long records;

    private ValidationSet(
            String topic,
            BatchCodec codec,
            Map<TopicPartition, Long> starts,
            Map<TopicPartition, Long> ends,
            List<Item> items,
            List<Rejected> rejected,
            long samples,
            long records) {
        this.topic = topic;
        this.codec = codec;
        this.starts = Map.copyOf(starts);
        this.ends = ends;
        this.items = items;
        this.rejected = rejected;
        this.samples = samples;
        this.records = records;
    }

    /**
     * Reads {@code topic} from its beginning to the plan's end offsets (or, with no plan, to
     * its current end) with a consumer outside any group.
     *
     * @param plan the run's plan, of this topic; null to plan the run now
     * @param memoryBytes the most decoded data to hold; beyond it the set is streamed
     * @throws IllegalArgumentException if the topic does not exist, or ends before the plan
     */
    static ValidationSet load(
            Consumer<byte[], byte[]> consumer,
            String topic,
            ModelSpec model,
            ValidationPlan plan,
            Duration timeout,
            long memoryBytes) {
        List<PartitionInfo> partitions = consumer.partitionsFor(topic, timeout);
        if (partitions.isEmpty()) {
            throw new IllegalArgumentException("validation topic " + topic + " does not exist");
        }
        Map<TopicPartition, Long> planned = plan == null ? null : planned(consumer, topic, partitions, plan, timeout);
        return read(consumer, topic, model, Map.of(), planned, timeout, memoryBytes);
    }

    /**
     * The topic's latest {@code records} records as of now (a sliding validation set): each
     * partition's share of them ({@code records / partitions}, the lower partitions one more),
     * or all it has.
     *
     * @throws IllegalArgumentException if the topic does not exist
     */
    static ValidationSet latest(
            Consumer<byte[], byte[]> consumer,
            String topic,
            ModelSpec model,
            int records,
            Duration timeout,
            long memoryBytes) {
        List<PartitionInfo> infos = consumer.partitionsFor(topic, timeout);
        if (infos == null || infos.isEmpty()) {
            throw new IllegalArgumentException("validation topic " + topic + " does not exist");
        }
        List<TopicPartition> partitions = infos.stream()
                .map(i -> new TopicPartition(topic, i.partition()))
                .sorted(java.util.Comparator.comparingInt(TopicPartition::partition))
                .toList();
        Map<TopicPartition, Long> ends = consumer.endOffsets(partitions, timeout);
        Map<TopicPartition, Long> beginnings = consumer.beginningOffsets(partitions, timeout);
        Map<TopicPartition, Long> starts = new HashMap<>();
        for (int i = 0; i < partitions.size(); i++) {
            TopicPartition tp = partitions.get(i);
            long share = records / partitions.size() + (i < records % partitions.size() ? 1 : 0);
            starts.put(tp, Math.max(beginnings.getOrDefault(tp, 0L), ends.getOrDefault(tp, 0L) - share));
        }
        return read(consumer, topic, model, starts, ends, timeout, memoryBytes);
    }

    private static ValidationSet read(
            Consumer<byte[], byte[]> consumer,
            String topic,
            ModelSpec model,
            Map<TopicPartition, Long> starts,
            Map<TopicPartition, Long> planned,
            Duration timeout,
            long memoryBytes) {
        BatchCodec codec = new BatchCodec(model);
        List<Item> items = new ArrayList<>();
        List<Rejected> rejected = new ArrayList<>();
        long[] totals = new long[3]; // samples, records, decoded bytes
        boolean[] streamed = new boolean[1];
        Map<TopicPartition, Long> ends = TopicReader.forEach(consumer, topic, starts, planned, timeout, r -> {
            totals[1]++;
            try {
                Batch b = codec.decode(r.value());
                totals[0] += b.samples();
                totals[2] += b.bytes();
                if (!streamed[0]) {
                    items.add(new Item(r.partition(), r.offset(), b));
                    if (totals[2] > memoryBytes) {
                        streamed[0] = true; // too big to hold: from now on, read it again each time
                        items.clear();
                    }
                }
            } catch (RejectedRecordException e) {
                rejected.add(new Rejected(r, e));
            }
        });
        return new ValidationSet(
                topic,
                codec,
                starts,
                ends,
                streamed[0] ? null : List.copyOf(items),
                List.copyOf(rejected),
                totals[0],
                totals[1]);
    }

    /** The plan's end offsets, once the topic is known to reach them. */
    private static Map<TopicPartition, Long> planned(
            Consumer<byte[], byte[]> consumer,
            String topic,
            List<PartitionInfo> partitions,
            ValidationPlan plan,
            Duration timeout) {
        Map<TopicPartition, Long> planned = new HashMap<>();
        plan.endOffsets().forEach((p, end) -> planned.put(new TopicPartition(topic, p), end));
        Set<Integer> existing =
                partitions.stream().map(PartitionInfo::partition).collect(Collectors.toSet());
        Map<TopicPartition, Long> now = consumer.endOffsets(
                planned.keySet().stream()
                        .filter(tp -> existing.contains(tp.partition()))
                        .toList(),
                timeout);
        for (Map.Entry<TopicPartition, Long> e : planned.entrySet()) {
            long end = now.getOrDefault(e.getKey(), 0L);
            if (end < e.getValue()) {
                throw new IllegalArgumentException("validation topic " + topic + " ends at offset " + end
                        + " of partition "
                        + e.getKey().partition() + ", before the run's validation plan (up to offset " + e.getValue()
                        + ", fixed by its first evaluation): was the topic deleted and made again?");
            }
        }
        return planned;
    }

    /** The records this set holds, as a plan: the same records for every later evaluation of the run. */
    ValidationPlan plan() {
        Map<Integer, Long> offsets = new HashMap<>();
        ends.forEach((tp, end) -> offsets.put(tp.partition(), end));
        Map<Integer, Long> from = new HashMap<>();
        starts.forEach((tp, start) -> from.put(tp.partition(), start));
        return new ValidationPlan(topic, offsets, from);
    }

    /** Every decoded record, from memory or read again from the topic. */
    void forEach(Consumer<byte[], byte[]> consumer, Duration timeout, java.util.function.Consumer<Item> action) {
        if (items != null) {
            items.forEach(action);
            return;
        }
        TopicReader.forEach(consumer, topic, starts, ends, timeout, r -> {
            try {
                action.accept(new Item(r.partition(), r.offset(), codec.decode(r.value())));
            } catch (RejectedRecordException e) {
                // found when loaded, dead-lettered then
            }
        });
    }

    boolean streamed() {
        return items == null;
    }

    String topic() {
        return topic;
    }

    List<Rejected> rejected() {
        return rejected;
    }

    long samples() {
        return samples;
    }

    long records() {
        return records;
    }
}
