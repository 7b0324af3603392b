package io.streamtrain.trainer.feed;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Set;
import org.apache.kafka.clients.consumer.MockConsumer;
import org.apache.kafka.clients.consumer.internals.AutoOffsetResetStrategy;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

class PausedPartitionsTest {
    private static final TopicPartition P0 = new TopicPartition("t", 0);
    private static final TopicPartition P1 = new TopicPartition("t", 1);
    private static final TopicPartition P2 = new TopicPartition("t", 2);

    /** A consumer that records what it is told to pause and resume. */
    private static final class Recording extends MockConsumer<byte[], byte[]> {
        final List<String> calls = new ArrayList<>();

        Recording() {
            super(AutoOffsetResetStrategy.EARLIEST.name());
        }

        @Override
        public synchronized void pause(Collection<TopicPartition> partitions) {
            calls.add("pause " + partitions);
            super.pause(partitions);
        }

        @Override
        public synchronized void resume(Collection<TopicPartition> partitions) {
            calls.add("resume " + partitions);
            super.resume(partitions);
        }
    }

    @Test
    void onlyWhatChangesIsSentAndTheConsumersPausesFollowTheWantedSet() {
        Recording consumer = new Recording();
        List<TopicPartition> all = List.of(P0, P1, P2);
        consumer.assign(all);
        PausedPartitions paused = new PausedPartitions(consumer);

        paused.pauseEvery(all);
        assertEquals(Set.of(P0, P1, P2), consumer.paused());

        paused.fetchOnly(all, tp -> !tp.equals(P1));
        assertEquals(Set.of(P1), consumer.paused());
        paused.fetchOnly(all, tp -> !tp.equals(P1));
        paused.fetchOnly(all, tp -> tp.equals(P0));
        assertEquals(Set.of(P1, P2), consumer.paused());
        paused.pauseAll(all);
        paused.pauseAll(all);
        assertEquals(Set.of(P0, P1, P2), consumer.paused());
        assertEquals(
                List.of("pause [t-0, t-1, t-2]", "resume [t-0, t-2]", "pause [t-2]", "pause [t-0]"),
                consumer.calls,
                "a second call that changes nothing sends nothing");
    }
}
