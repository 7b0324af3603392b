package io.streamtrain.trainer.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.core.checkpoint.Checkpoint;
import io.streamtrain.core.kafka.RunTopics;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.core.spec.RunSpecParser;
import io.streamtrain.core.topics.Topics;
import io.streamtrain.testkit.KafkaFixture;
import io.streamtrain.testkit.SyntheticClusters;
import io.streamtrain.trainer.TrainerNode;
import io.streamtrain.trainer.TrainerOptions;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

@Tag("integration")
class TrainerNodeTest {
    @RegisterExtension
    static final KafkaFixture kafka = new KafkaFixture();

    static RunSpec spec(String run, String topic, int epochs) {
        return RunSpecParser.parse("""
                run: %s
                data: { train: %s }
                model: { type: mlp, inputs: 8, hidden: [16], classes: 3 }
                batchSize: 16
                maxEpochs: %d
                optimizer: { type: adamw, learningRate: 0.01 }
                regularization: { l1: 0.0001, l2: 0.0001, weightDecay: 0.01, exclude: [bias] }
                """.formatted(run, topic, epochs));
    }

    @Test
    void trainsEveryEpochAndPublishesACheckpointPerEpoch() throws Exception {
        String topic = "basic.train";
        kafka.createTopic(topic, 2);
        SyntheticClusters task = new SyntheticClusters(8, 3, 0.5, 0.0, 1);
        kafka.produce(topic, 2, task.records(40, 10, 2));

        TrainerNode node = new TrainerNode(spec("basic", topic, 3), kafka.settings, TrainerOptions.defaults("node-a"));
        assertEquals(TrainerNode.Outcome.FINISHED, node.run());

        List<Checkpoint> cps = kafka.checkpoints("basic");
        assertEquals(
                List.of(1, 2, 3), cps.stream().map(c -> c.manifest().epoch()).toList());
        for (Checkpoint c : cps) {
            assertEquals(400.0, c.manifest().metrics().get("samples"));
            assertEquals(
                    40,
                    c.manifest().offsets().stream().mapToLong(r -> r.count()).sum());
        }
        double first = cps.get(0).manifest().metrics().get("data_loss");
        double last = cps.get(2).manifest().metrics().get("data_loss");
        assertTrue(last < first, "training should lower the loss: " + first + " -> " + last);
    }

    @Test
    void aSyncLogThatLostItsFirstRoundsWithoutAnyReadableCheckpointIsOneClearError() throws Exception {
        // the rounds were deleted below a checkpoint that is gone (or whose claim-check store is unreachable)
        String topic = "orphan.train";
        kafka.createTopic(topic, 1);
        kafka.produce(topic, 1, new SyntheticClusters(8, 3, 0.5, 0.0, 1).records(4, 10, 2));
        String sync = Topics.sync("orphan");
        try (Admin admin = Admin.create(kafka.settings.admin())) {
            admin.createTopics(List.of(RunTopics.sync(sync, RunSpecParser.DEFAULT_CHUNK_BYTES)))
                    .all()
                    .get(30, TimeUnit.SECONDS);
            try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(kafka.settings.producer())) {
                for (int i = 0; i < 3; i++) {
                    p.send(new ProducerRecord<>(sync, 0, null, new byte[] {1})).get(30, TimeUnit.SECONDS);
                }
            }
            admin.deleteRecords(Map.of(new TopicPartition(sync, 0), RecordsToDelete.beforeOffset(2)))
                    .all()
                    .get(30, TimeUnit.SECONDS);
        }
        TrainerNode node = new TrainerNode(spec("orphan", topic, 1), kafka.settings, TrainerOptions.defaults("node-a"));
        IllegalStateException e = assertThrows(IllegalStateException.class, node::run);
        assertTrue(
                e.getMessage().contains("no longer holds the run's first rounds")
                        && e.getMessage().contains("has no checkpoint this" + " node can read"),
                e.getMessage());
        assertEquals(
                List.of(),
                kafka.checkpoints("orphan"),
                "nothing trained from round 0 on a log that went on without it");
    }
}
