package io.streamtrain.trainer.control;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.core.control.ControlMessage;
import io.streamtrain.core.evaluation.EvaluationRecord;
import io.streamtrain.core.protocol.Messages;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.MockConsumer;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

class ControlFeedTest {
    static final String TOPIC = "streamtrain.r.control";
    static final TopicPartition P = new TopicPartition(TOPIC, 0);

    static MockConsumer<byte[], byte[]> consumer(long end) {
        MockConsumer<byte[], byte[]> c = new MockConsumer<>("earliest");
        c.updatePartitions(TOPIC, List.of(new PartitionInfo(TOPIC, 0, null, null, null)));
        c.updateBeginningOffsets(Map.of(P, 0L));
        c.updateEndOffsets(Map.of(P, end));
        return c;
    }

    static ConsumerRecord<byte[], byte[]> record(long offset, byte[] value) {
        return new ConsumerRecord<>(TOPIC, 0, offset, null, value);
    }

    @Test
    void catchUpReturnsTheMessagesBeforeTheEndInOrderAcksIncludedAndSkipsGarbage() {
        MockConsumer<byte[], byte[]> c = consumer(5);
        ControlFeed feed = new ControlFeed(c, "r", m -> {});
        c.schedulePollTask(() -> {
            c.addRecord(record(0, Messages.encode(new ControlMessage.Set("r", "s1", "t", Map.of("l2", 0.5), "ops"))));
            c.addRecord(record(1, "not json".getBytes(StandardCharsets.UTF_8)));
            c.addRecord(record(2, Messages.encode(new ControlMessage.Ack("r", "a", "t", "s1", "n", 3, "applied"))));
            // written on this run's topic, naming another run: this topic's writers do not speak for it
            c.addRecord(record(
                    3, Messages.encode(new ControlMessage.Stop("other", "x", "t", "operator", "x", null, "ops"))));
            c.addRecord(record(4, Messages.encode(new ControlMessage.Pause("r", "p1", "t", "ops"))));
        });
        List<ControlMessage> history = feed.catchUp(Duration.ofSeconds(10));
        // acknowledgements come too: they say at which step each SET took effect
        assertEquals(
                List.of("s1", "a", "p1"),
                history.stream().map(ControlMessage::id).toList());
        assertEquals(2, feed.ignored(), "the malformed message and the other run's are counted");
        assertEquals(5, c.position(P), "run() goes on from the end of the catch-up");
    }

    @Test
    void aFeedThatFollowsTheEvaluationsKnowsTheLastEpochTheEvaluatorDealtWith() throws Exception {
        String evaluations = "streamtrain.r.evaluations";
        TopicPartition e = new TopicPartition(evaluations, 0);
        MockConsumer<byte[], byte[]> c = consumer(0);
        c.updatePartitions(evaluations, List.of(new PartitionInfo(evaluations, 0, null, null, null)));
        c.updateBeginningOffsets(Map.of(e, 0L));
        c.updateEndOffsets(Map.of(e, 2L));
        ControlFeed feed = new ControlFeed(c, "r", m -> {}, true);
        c.schedulePollTask(() -> {
            c.addRecord(new ConsumerRecord<>(
                    evaluations,
                    0,
                    0,
                    null,
                    Messages.encode(EvaluationRecord.evaluated(
                            "r", 1, "r-e0001", Map.of("val_loss", 0.5), 0.4, null, 0, 3, null, "first", 0.1, null))));
            c.addRecord(new ConsumerRecord<>(
                    evaluations,
                    0,
                    1,
                    null,
                    Messages.encode(EvaluationRecord.rejected(
                            "r",
                            2,
                            "r-e0002",
                            "unreadable",
                            "a checkpoint the evaluator could not load still counts as dealt with",
                            null))));
        });
        feed.catchUp(Duration.ofSeconds(10));
        assertEquals(
                2,
                feed.lastEvaluatedEpoch(),
                "read to the end before training starts: a restart knows how far the evaluator is");

        List<byte[]> later = List.of(
                // a snapshot is no epoch checkpoint; another run's record does not speak for this one; a lower epoch
                // changes nothing
                Messages.encode(EvaluationRecord.snapshot("r", 9, "r-s0009", Map.of(), null, "snap", 0.1, null)),
                Messages.encode(EvaluationRecord.evaluated(
                        "other", 7, "o-e0007", Map.of(), null, null, 0, 3, null, "x", 0.1, null)),
                Messages.encode(EvaluationRecord.evaluated(
                        "r", 1, "r-e0001", Map.of(), null, null, 0, 3, null, "again", 0.1, null)),
                "not json".getBytes(StandardCharsets.UTF_8),
                Messages.encode(EvaluationRecord.evaluated(
                        "r", 3, "r-e0003", Map.of(), null, null, 0, 3, null, "third", 0.1, null)));
        c.schedulePollTask(() -> {
            for (int i = 0; i < later.size(); i++) {
                c.addRecord(new ConsumerRecord<>(evaluations, 0, 2 + i, null, later.get(i)));
            }
        });
        Thread t = feed.start("control");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (feed.lastEvaluatedEpoch() < 3 && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertEquals(3, feed.lastEvaluatedEpoch());
        assertEquals(1, feed.ignored(), "the malformed record");
        feed.close();
        t.join(10_000);
    }

    @Test
    void commandsAfterTheCatchUpReachTheTrainerOnceAndAFailureIsReported() throws Exception {
        MockConsumer<byte[], byte[]> c = consumer(0);
        List<ControlMessage> seen = new CopyOnWriteArrayList<>();
        ControlFeed feed = new ControlFeed(c, "r", seen::add);
        feed.catchUp(Duration.ofSeconds(10));
        c.schedulePollTask(() -> c.addRecord(
                record(0, Messages.encode(new ControlMessage.Stop("r", "stop-1", "t", "operator", "x", null, "ops")))));
        Thread t = feed.start("control");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (seen.isEmpty() && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertEquals(
                "stop-1",
                assertInstanceOf(ControlMessage.Stop.class, seen.get(0)).id());
        // other nodes' acknowledgements reach the trainer too (a
        // ROLLBACK one of them carried out, a SET one answered failed)
        c.schedulePollTask(() -> c.addRecord(
                record(1, Messages.encode(new ControlMessage.Ack("r", "a", "t", "stop-1", "n", 3, "applied")))));
        Thread.sleep(300);
        c.setPollException(new KafkaException("broken"));
        t.join(10_000);
        assertTrue(feed.failure() instanceof KafkaException, "the trainer learns the feed is gone: " + feed.failure());
        assertEquals(2, seen.size());
        assertEquals(
                "stop-1",
                assertInstanceOf(ControlMessage.Ack.class, seen.get(1)).command());
    }
}
