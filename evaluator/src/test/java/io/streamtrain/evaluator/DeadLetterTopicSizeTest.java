package io.streamtrain.evaluator;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.core.kafka.RunTopics;
import io.streamtrain.core.protocol.CheckpointCodec;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.core.topics.Topics;
import io.streamtrain.testkit.KafkaFixture;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.config.TopicConfig;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A run's dead-letter topic made by the evaluator (it took the run up before any trainer made
 * the run's topics) has room for the run's train records: its trainers dead-letter whole ones,
 * and a trainer whose .dlq is smaller than its train topic's records refuses to start.
 */
@Tag("integration")
class DeadLetterTopicSizeTest {
    @RegisterExtension
    static final KafkaFixture kafka = new KafkaFixture();

    @Test
    void theEvaluatorMakesTheDeadLetterTopicAsRoomyAsTheTrainTopic() throws Exception {
        int trainRecords = 4 * 1024 * 1024;
        RunSpec spec = Fixtures.spec("v", "patience: 3"); // run r, train topic t
        try (Admin admin = Admin.create(kafka.settings.admin())) {
            admin.createTopics(List.of(
                            new NewTopic("t", 1, (short) 1)
                                    .configs(Map.of(
                                            TopicConfig.MAX_MESSAGE_BYTES_CONFIG, Integer.toString(trainRecords))),
                            new NewTopic("v", 1, (short) 1),
                            RunTopics.checkpoints(Topics.checkpoints(Fixtures.RUN), 1024 * 1024)))
                    .all()
                    .get(30, TimeUnit.SECONDS);
        }
        byte[] payload = Fixtures.payload(1);
        try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(kafka.settings.producer())) {
            String topic = Topics.checkpoints(Fixtures.RUN);
            for (ProducerRecord<byte[], byte[]> chunk :
                    CheckpointCodec.chunkRecords(topic, "r-e0001", payload, 1024 * 1024)) {
                p.send(chunk).get();
            }
            p.send(CheckpointCodec.manifestRecord(topic, Fixtures.manifest(spec, "r-e0001", 1, false, payload, 1, 0.5)))
                    .get();
        }

        EvaluatorService evaluator = new EvaluatorService(kafka.settings, List.of(Fixtures.RUN), "dlq-size");
        Thread thread = new Thread(evaluator::run, "evaluator");
        thread.start();
        try {
            String dlq = Topics.deadLetters(Fixtures.RUN);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            int room = -1;
            try (Admin admin = Admin.create(kafka.settings.admin())) {
                while (System.nanoTime() < deadline) {
                    if (admin.listTopics().names().get(10, TimeUnit.SECONDS).contains(dlq)) {
                        room = RunTopics.maxMessageBytes(admin, dlq);
                        break;
                    }
                    Thread.sleep(200);
                }
            }
            assertTrue(
                    room >= trainRecords,
                    "the evaluator made " + dlq + " for records of " + room + " bytes; t takes " + trainRecords
                            + " (-1: it made none within 60 s)");
        } finally {
            evaluator.close();
            thread.join(30_000);
        }
    }
}
