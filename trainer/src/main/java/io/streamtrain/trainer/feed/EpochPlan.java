package io.streamtrain.trainer.feed;

import io.streamtrain.core.checkpoint.CheckpointManifest.OffsetRange;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import io.streamtrain.core.kafka.StartupException;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;

/**
 * What one epoch is over bounded data: for each partition of the train topic, the offsets
 * {@code [from, to)} snapshotted when the run started. Every epoch replays exactly these.
 */
public record EpochPlan(String topic, Map<Integer, long[]> ranges) {

    public EpochPlan {
        Map<Integer, long[]> copy = new TreeMap<>();
        ranges.forEach((p, r) -> copy.put(p, new long[] {r[0], r[1]}));
        ranges = java.util.Collections.unmodifiableMap(copy);
    }

    /** The plan a checkpoint's offset ranges describe. */
    public static EpochPlan of(String topic, Collection<OffsetRange> offsets) {
        Map<Integer, long[]> m = new TreeMap<>();
        for (OffsetRange r : offsets) {
            if (r.topic().equals(topic)) {
                m.put(r.partition(), new long[] {r.from(), r.to()});
            }
        }
        return new EpochPlan(topic, m);
    }

    /**
     * The plan of a run that starts now: every partition of {@code topic} from its first
     * offset to its (last stable) end offset.
     *
     * @throws StartupException when the topic has no records
     */
    public static EpochPlan snapshot(Consumer<?, ?> consumer, String topic) {
        List<TopicPartition> all = new ArrayList<>();
        for (PartitionInfo p : consumer.partitionsFor(topic)) {
            all.add(new TopicPartition(topic, p.partition()));
        }
        Map<TopicPartition, Long> begin = consumer.beginningOffsets(all);
        Map<TopicPartition, Long> end = consumer.endOffsets(all);
        Map<Integer, long[]> ranges = new TreeMap<>();
        all.forEach(tp -> ranges.put(tp.partition(), new long[] {begin.get(tp), end.get(tp)}));
        EpochPlan plan = new EpochPlan(topic, ranges);
        if (plan.records() == 0) {
            throw new StartupException(StartupException.BAD_CONFIGURATION, "the train topic " + topic
                    + " has no records: produce the training batches before starting the run");
        }
        return plan;
    }

    /** Every partition's range, in partition order. */
    public List<OffsetRange> all() {
        return rangesOf(ranges.keySet().stream().map(p -> new TopicPartition(topic, p)).toList());
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
        partitions.stream().map(TopicPartition::partition).sorted().forEach(p ->
                out.add(new OffsetRange(topic, p, ranges.get(p)[0], ranges.get(p)[1])));
        return out;
    }

    public long records() {
        return ranges.values().stream().mapToLong(r -> r[1] - r[0]).sum();
    }
}
