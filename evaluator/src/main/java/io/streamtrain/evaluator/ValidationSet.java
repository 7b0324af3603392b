package io.streamtrain.evaluator;

import io.streamtrain.core.codec.Batch;
import io.streamtrain.core.codec.BatchCodec;
import io.streamtrain.core.codec.RejectedRecordException;
import io.streamtrain.core.evaluation.ValidationPlan;
import io.streamtrain.core.kafka.TopicReader;
import io.streamtrain.core.spec.ModelSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
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
     * The topic's latest {@code records} records as of {@code asOf} (a sliding validation set,
     * as of a window's end), as {@link #latestOffsets} chooses them.
     *
     * @throws IllegalArgumentException if the topic does not exist
     */
    static ValidationSet latest(
            Consumer<byte[], byte[]> consumer,
            String topic,
            ModelSpec model,
            int records,
            Instant asOf,
            Duration timeout,
            long memoryBytes) {
        ValidationPlan plan = latestOffsets(consumer, topic, records, asOf, timeout);
        Map<TopicPartition, Long> starts = new HashMap<>();
        plan.startOffsets().forEach((p, start) -> starts.put(new TopicPartition(topic, p), start));
        Map<TopicPartition, Long> ends = new HashMap<>();
        plan.endOffsets().forEach((p, end) -> ends.put(new TopicPartition(topic, p), end));
        return read(consumer, topic, model, starts, ends, timeout, memoryBytes);
    }

    /**
     * Where a sliding validation set lies: on each partition, its share of {@code records}
     * ({@code records / partitions}, the lower partitions one more; or all it has) before the
     * partition's end as of {@code asOf}. That end is the first offset of a record stamped
     * after {@code asOf} (Kafka's {@code offsetsForTimes}), or the partition's end now when no
     * record is that late yet: records written after a window's end are not in its set, so an
     * evaluator that scores the window again later (a restart) scores the same records.
     * Timestamps are the records' (the producer's clock, or the broker's with
     * {@code message.timestamp.type=LogAppendTime}); they are taken to rise with the offsets.
     *
     * @param asOf null for the partitions' ends now
     * @throws IllegalArgumentException if the topic does not exist
     */
    static ValidationPlan latestOffsets(
            Consumer<byte[], byte[]> consumer, String topic, int records, Instant asOf, Duration timeout) {
        List<PartitionInfo> infos = consumer.partitionsFor(topic, timeout);
        if (infos == null || infos.isEmpty()) {
            throw new IllegalArgumentException("validation topic " + topic + " does not exist");
        }
        List<TopicPartition> partitions = infos.stream()
                .map(i -> new TopicPartition(topic, i.partition()))
                .sorted(java.util.Comparator.comparingInt(TopicPartition::partition))
                .toList();
        Map<TopicPartition, Long> ends = new HashMap<>(consumer.endOffsets(partitions, timeout));
        if (asOf != null) {
            // the first record stamped after asOf (to the millisecond) is the first one not in the set
            Map<TopicPartition, Long> later = new HashMap<>();
            partitions.forEach(tp -> later.put(tp, asOf.toEpochMilli() + 1));
            Map<TopicPartition, OffsetAndTimestamp> found = consumer.offsetsForTimes(later, timeout);
            found.forEach((tp, first) -> {
                if (first != null) {
                    ends.merge(tp, first.offset(), Math::min);
                }
            });
        }
        Map<TopicPartition, Long> beginnings = consumer.beginningOffsets(partitions, timeout);
        Map<Integer, Long> starts = new HashMap<>();
        Map<Integer, Long> until = new HashMap<>();
        for (int i = 0; i < partitions.size(); i++) {
            TopicPartition tp = partitions.get(i);
            long share = records / partitions.size() + (i < records % partitions.size() ? 1 : 0);
            long end = ends.getOrDefault(tp, 0L);
            until.put(tp.partition(), end);
            // an end retention has passed since (a window scored again long after) leaves an empty set
            starts.put(tp.partition(), Math.min(end, Math.max(beginnings.getOrDefault(tp, 0L), end - share)));
        }
        return new ValidationPlan(topic, until, starts);
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
