package io.streamtrain.evaluator;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.streamtrain.core.evaluation.ValidationPlan;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.MockConsumer;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

/** Which records a sliding validation set holds, without a broker. */
class ValidationSetTest {
    static final Duration TIMEOUT = Duration.ofSeconds(1);
    static final TopicPartition P0 = new TopicPartition("v", 0);
    static final TopicPartition P1 = new TopicPartition("v", 1);

    /** A validation topic whose records carry timestamps: what {@code offsetsForTimes} looks up. */
    static final class StampedTopic extends MockConsumer<byte[], byte[]> {
        final Map<TopicPartition, List<Long>> stamps = new HashMap<>();

        StampedTopic() {
            super("earliest");
            Node n = new Node(0, "localhost", 9092);
            updatePartitions(
                    "v",
                    List.of(
                            new PartitionInfo("v", 0, n, new Node[] {n}, new Node[] {n}),
                            new PartitionInfo("v", 1, n, new Node[] {n}, new Node[] {n})));
            updateBeginningOffsets(Map.of(P0, 0L, P1, 0L));
            stamps.put(P0, new ArrayList<>());
            stamps.put(P1, new ArrayList<>());
        }

        /** Appends records stamped {@code from}, {@code from + step}, ... */
        void append(TopicPartition tp, int n, long from, long step) {
            for (int i = 0; i < n; i++) {
                stamps.get(tp).add(from + i * step);
            }
            updateEndOffsets(Map.of(tp, (long) stamps.get(tp).size()));
        }

        @Override
        public synchronized Map<TopicPartition, OffsetAndTimestamp> offsetsForTimes(
                Map<TopicPartition, Long> times, Duration timeout) {
            Map<TopicPartition, OffsetAndTimestamp> out = new HashMap<>();
            times.forEach((tp, t) -> {
                List<Long> s = stamps.get(tp);
                OffsetAndTimestamp first = null;
                for (int offset = 0; offset < s.size() && first == null; offset++) {
                    if (s.get(offset) >= t) {
                        first = new OffsetAndTimestamp(offset, s.get(offset));
                    }
                }
                out.put(tp, first); // as Kafka answers: null when no record is that late
            });
            return out;
        }
    }

    static ValidationPlan plan(Map<Integer, Long> starts, Map<Integer, Long> ends) {
        return new ValidationPlan("v", ends, starts);
    }

    @Test
    void aSlidingSetIsTheLatestRecordsAsOfTheWindowsEndNotAsOfItsEvaluation() {
        StampedTopic topic = new StampedTopic();
        topic.append(P0, 10, 1_000, 10); // offsets 0-9 at 1000 .. 1090 ms
        topic.append(P1, 5, 1_000, 10); // offsets 0-4 at 1000 .. 1040 ms
        Instant windowEnd = Instant.ofEpochMilli(1_055);

        // 5 records: 3 on partition 0, 2 on partition 1; partition 0 ends before its first record after 1055 ms
        // (offset 6), partition 1 has none that late: its end now
        ValidationPlan asOfEnd = plan(Map.of(0, 3L, 1, 3L), Map.of(0, 6L, 1, 5L));
        assertEquals(asOfEnd, ValidationSet.latestOffsets(topic, "v", 5, windowEnd, TIMEOUT));

        // more validation data arrives; the window is scored again (an evaluator restarted before it committed)
        topic.append(P0, 3, 1_100, 10);
        topic.append(P1, 3, 1_100, 10);
        assertEquals(
                asOfEnd,
                ValidationSet.latestOffsets(topic, "v", 5, windowEnd, TIMEOUT),
                "the same records: the ones written after the window's end are not in its set");
        assertEquals(
                plan(Map.of(0, 10L, 1, 6L), Map.of(0, 13L, 1, 8L)),
                ValidationSet.latestOffsets(topic, "v", 5, null, TIMEOUT),
                "with no time: the latest records now");
        assertEquals(
                plan(Map.of(0, 4L, 1, 3L), Map.of(0, 7L, 1, 5L)),
                ValidationSet.latestOffsets(topic, "v", 5, Instant.ofEpochMilli(1_060), TIMEOUT),
                "a record stamped at the window's end is in its set");
    }

    @Test
    void aSlidingSetStartsNoEarlierThanRetentionKeepsRecords() {
        StampedTopic topic = new StampedTopic();
        topic.append(P0, 10, 1_000, 10);
        topic.append(P1, 5, 1_000, 10);
        topic.updateBeginningOffsets(Map.of(P0, 8L, P1, 4L));
        assertEquals(
                plan(Map.of(0, 6L, 1, 4L), Map.of(0, 6L, 1, 5L)),
                ValidationSet.latestOffsets(topic, "v", 5, Instant.ofEpochMilli(1_055), TIMEOUT),
                "partition 0's records before the window's end are gone: none of it; partition 1 from its beginning");
    }
}
