package io.streamtrain.trainer.feed;

import io.streamtrain.core.kafka.StartupException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;

/**
 * The plan a run that starts now reads first, from what its train topic holds now: over bounded
 * data the topic's offsets as they stand ({@link #snapshot}), in a continuous run its first
 * window ({@link #firstWindow}). The only part of {@link EpochPlan} that asks the broker; every
 * later plan follows from this one ({@link EpochPlan#next}).
 */
final class StartingPlan {
    private StartingPlan() {}

    /**
     * The plan of a run that starts now: every partition of {@code topic} from its first
     * offset to its (last stable) end offset.
     *
     * @throws StartupException when the topic has no records
     */
    static EpochPlan snapshot(Consumer<?, ?> consumer, String topic) {
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
     * The first window of a continuous run that starts now: each partition from its first
     * offset (whatever retention still holds), for its share of the window; the records
     * need not have arrived yet.
     *
     * @throws StartupException when the topic has more partitions than a window has records
     */
    static EpochPlan firstWindow(Consumer<?, ?> consumer, String topic, Windowing w) {
        List<TopicPartition> all = partitions(consumer, topic);
        if (!w.timed() && w.records() < all.size()) {
            throw new StartupException(
                    StartupException.BAD_CONFIGURATION,
                    "data.window.records is " + w.records() + " but " + topic + " has " + all.size()
                            + " partitions: a window needs at least one record of each");
        }
        Map<TopicPartition, Long> begin = consumer.beginningOffsets(all);
        Map<Integer, long[]> ranges = new TreeMap<>();
        if (w.timed()) {
            all.forEach(tp -> ranges.put(tp.partition(), new long[] {begin.get(tp), EpochPlan.OPEN}));
            return new EpochPlan(topic, ranges, w, 1);
        }
        all.forEach(tp -> ranges.put(tp.partition(), new long[] {begin.get(tp), begin.get(tp)}));
        // the empty window before the first (numbered 1 only to be a valid plan): the first is its next
        return new EpochPlan(topic, ranges, w, 1).nextFrom(0);
    }

    private static List<TopicPartition> partitions(Consumer<?, ?> consumer, String topic) {
        List<TopicPartition> all = new ArrayList<>();
        for (PartitionInfo p : consumer.partitionsFor(topic)) {
            all.add(new TopicPartition(topic, p.partition()));
        }
        return all;
    }
}
