package io.streamtrain.trainer.feed;

import io.streamtrain.core.checkpoint.CheckpointManifest.OffsetRange;
import io.streamtrain.core.kafka.StartupException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;

/**
 * What one epoch reads: for each partition of the train topic, the offsets {@code [from, to)}.
 *
 * <p>Over bounded data ({@code window} 0) these are the offsets snapshotted when the run
 * started, and every epoch replays exactly them. In a continuous run each epoch is a
 * <i>window</i> of {@code window} records of a live topic: the next window starts where this
 * one ends, each partition advancing by its share ({@link #share}), so where every window
 * ends follows from the first window's offsets alone, whatever arrived when.
 *
 * @param window records per window of a continuous run; 0 for a bounded one
 */
public record EpochPlan(String topic, Map<Integer, long[]> ranges, long window) {

    public EpochPlan {
        Map<Integer, long[]> copy = new TreeMap<>();
        ranges.forEach((p, r) -> copy.put(p, new long[] {r[0], r[1]}));
        ranges = java.util.Collections.unmodifiableMap(copy);
        if (window < 0 || (window > 0 && window < ranges.size())) {
            throw new IllegalArgumentException(
                    "a window of " + window + " records cannot give each of " + ranges.size() + " partitions a share");
        }
    }

    /** A bounded run's plan. */
    public EpochPlan(String topic, Map<Integer, long[]> ranges) {
        this(topic, ranges, 0);
    }

    /** The plan a checkpoint's offset ranges describe (a bounded run's; see {@link #windowed}). */
    public static EpochPlan of(String topic, Collection<OffsetRange> offsets) {
        Map<Integer, long[]> m = new TreeMap<>();
        for (OffsetRange r : offsets) {
            if (r.topic().equals(topic)) {
                m.put(r.partition(), new long[] {r.from(), r.to()});
            }
        }
        return new EpochPlan(topic, m);
    }

    /** The same ranges as one window of a continuous run of {@code records} per window (0: bounded). */
    public EpochPlan windowed(long records) {
        return new EpochPlan(topic, ranges, records);
    }

    public boolean continuous() {
        return window > 0;
    }

    /**
     * The first window of a continuous run that starts now: each partition from its first
     * offset (whatever retention still holds), for its share of {@code records}; the records
     * need not have arrived yet.
     *
     * @throws StartupException when the topic has more partitions than a window has records
     */
    public static EpochPlan firstWindow(Consumer<?, ?> consumer, String topic, long records) {
        List<TopicPartition> all = partitions(consumer, topic);
        if (records < all.size()) {
            throw new StartupException(
                    StartupException.BAD_CONFIGURATION,
                    "data.window.records is " + records + " but " + topic + " has " + all.size()
                            + " partitions: a window needs at least one record of each");
        }
        Map<TopicPartition, Long> begin = consumer.beginningOffsets(all);
        Map<Integer, long[]> ranges = new TreeMap<>();
        all.forEach(tp -> ranges.put(tp.partition(), new long[] {begin.get(tp), begin.get(tp)}));
        return new EpochPlan(topic, ranges, records).next();
    }

    /** The plan of the epoch after this one: the same for a bounded run, the next window for a continuous one. */
    public EpochPlan next() {
        if (!continuous()) {
            return this;
        }
        Map<Integer, long[]> m = new TreeMap<>();
        int i = 0;
        for (Map.Entry<Integer, long[]> e : ranges.entrySet()) {
            long to = e.getValue()[1];
            m.put(e.getKey(), new long[] {to, to + share(i++)});
        }
        return new EpochPlan(topic, m, window);
    }

    /** The plan of the epoch before this one ({@link #next()} undone). */
    public EpochPlan previous() {
        if (!continuous()) {
            return this;
        }
        Map<Integer, long[]> m = new TreeMap<>();
        int i = 0;
        for (Map.Entry<Integer, long[]> e : ranges.entrySet()) {
            long from = e.getValue()[0];
            m.put(e.getKey(), new long[] {from - share(i++), from});
        }
        return new EpochPlan(topic, m, window);
    }

    /** The records of a window the {@code index}-th partition (in partition order) holds. */
    long share(int index) {
        int partitions = ranges.size();
        return window / partitions + (index < window % partitions ? 1 : 0);
    }

    /**
     * The plan of a run that starts now: every partition of {@code topic} from its first
     * offset to its (last stable) end offset.
     *
     * @throws StartupException when the topic has no records
     */
    public static EpochPlan snapshot(Consumer<?, ?> consumer, String topic) {
        List<TopicPartition> all = partitions(consumer, topic);
        Map<TopicPartition, Long> begin = consumer.beginningOffsets(all);
        Map<TopicPartition, Long> end = consumer.endOffsets(all);
        Map<Integer, long[]> ranges = new TreeMap<>();
        all.forEach(tp -> ranges.put(tp.partition(), new long[] {begin.get(tp), end.get(tp)}));
        EpochPlan plan = new EpochPlan(topic, ranges);
        if (plan.records() == 0) {
            throw new StartupException(
                    StartupException.BAD_CONFIGURATION,
                    "the train topic " + topic
                            + " has no records: produce the training batches before starting the run");
        }
        return plan;
    }

    /**
     * The plan a run that starts now reads first: the topic as it stands ({@code window} 0),
     * or the first window of a continuous run.
     */
    public static EpochPlan start(Consumer<?, ?> consumer, String topic, long window) {
        return window > 0 ? firstWindow(consumer, topic, window) : snapshot(consumer, topic);
    }

    private static List<TopicPartition> partitions(Consumer<?, ?> consumer, String topic) {
        List<TopicPartition> all = new ArrayList<>();
        for (PartitionInfo p : consumer.partitionsFor(topic)) {
            all.add(new TopicPartition(topic, p.partition()));
        }
        return all;
    }

    /** What a log line says of it. */
    public String describe() {
        return continuous()
                ? "window of " + window + " records over " + ranges.size() + " partitions of " + topic + " "
                        + rangesText()
                : records() + " records over " + ranges.size() + " partitions of " + topic
                        + " (end offsets snapshotted now)";
    }

    private String rangesText() {
        StringBuilder b = new StringBuilder();
        ranges.forEach((p, r) -> b.append(b.length() == 0 ? "" : ", ")
                .append(p)
                .append(": [")
                .append(r[0])
                .append(", ")
                .append(r[1])
                .append(')'));
        return "{" + b + "}";
    }

    /** Every partition's range, in partition order. */
    public List<OffsetRange> all() {
        return rangesOf(
                ranges.keySet().stream().map(p -> new TopicPartition(topic, p)).toList());
    }

    public long from(TopicPartition tp) {
        return range(tp)[0];
    }

    public long to(TopicPartition tp) {
        return range(tp)[1];
    }

    public boolean covers(TopicPartition tp) {
        return tp.topic().equals(topic) && ranges.containsKey(tp.partition());
    }

    private long[] range(TopicPartition tp) {
        long[] r = ranges.get(tp.partition());
        if (r == null || !tp.topic().equals(topic)) {
            throw new IllegalArgumentException(tp + " is not in the epoch plan of " + topic + " " + ranges.keySet());
        }
        return r;
    }

    /** The ranges of the given partitions, in partition order, as a manifest lists them. */
    public List<OffsetRange> rangesOf(Collection<TopicPartition> partitions) {
        List<OffsetRange> out = new ArrayList<>();
        partitions.stream()
                .map(TopicPartition::partition)
                .sorted()
                .forEach(p -> out.add(new OffsetRange(topic, p, ranges.get(p)[0], ranges.get(p)[1])));
        return out;
    }

    public long records() {
        return ranges.values().stream().mapToLong(r -> r[1] - r[0]).sum();
    }
}
