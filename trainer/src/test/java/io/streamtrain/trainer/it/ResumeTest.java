package io.streamtrain.trainer.it;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.core.checkpoint.Checkpoint;
import io.streamtrain.core.checkpoint.CheckpointManifest;
import io.streamtrain.core.codec.Tensor;
import io.streamtrain.core.spec.RunSpecParser;
import io.streamtrain.core.topics.Topics;
import io.streamtrain.testkit.KafkaFixture;
import io.streamtrain.testkit.ServiceProcess;
import io.streamtrain.testkit.SyntheticClusters;
import io.streamtrain.trainer.TrainerNode;
import io.streamtrain.trainer.TrainerOptions;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A trainer killed with SIGKILL mid-epoch and started again trains no record twice and
 * skips none: with a fixed seed and no dropout its final weights equal, bit for bit, those
 * of a run that was never interrupted.
 */
@Tag("integration")
class ResumeTest {
    static final String TOPIC = "resume.train";

    @RegisterExtension
    static final KafkaFixture kafka = new KafkaFixture();

    @BeforeAll
    static void broker() throws Exception {
        kafka.createTopic(TOPIC, 3);
        // 3 partitions of uneven length, records of 7 samples: batches straddle records
        kafka.produce(TOPIC, 3, new SyntheticClusters(16, 4, 0.8, 0.1, 5).records(400, 7, 6));
    }

    static String spec(String run) {
        return """
                run: %s
                data: { train: %s }
                model: { type: mlp, inputs: 16, hidden: [32], classes: 4, dropout: 0.0 }
                init: { seed: 7 }
                batchSize: 8
                maxEpochs: 3
                optimizer: { type: adam, learningRate: 0.003 }
                regularization: { l1: 0.0001, l2: 0.001, weightDecay: 0.01, exclude: [bias], clipGradNorm: 5.0 }
                """.formatted(run, TOPIC);
    }

    @Test
    void killedMidEpochAndRestartedEqualsAnUninterruptedRun(@TempDir Path dir) throws Exception {
        TrainerNode reference = new TrainerNode(
                RunSpecParser.parse(spec("uninterrupted")), kafka.settings, TrainerOptions.defaults("ref"));
        assertEquals(TrainerNode.Outcome.FINISHED, reference.run());

        Path specFile = Files.writeString(dir.resolve("run.yaml"), spec("killed"));
        try (ServiceProcess first =
                new ServiceProcess(specFile, kafka.broker.bootstrapServers(), "node-1", "--log-every", "10")) {
            // epoch 1's checkpoint commits while epoch 2 trains: once it is logged, the node is in epoch 2 (or, on a
            // slow
            // commit, already in epoch 3)
            first.awaitLine(l -> l.contains("epoch 1/3 checkpointed"), 120);
            first.sigkill();
            first.awaitExit(30);
            assertTrue(
                    !first.output().contains("epoch 3/3 checkpointed"),
                    "the kill must land mid-run:\n" + first.output());
        }
        try (ServiceProcess second = new ServiceProcess(specFile, kafka.broker.bootstrapServers(), "node-1")) {
            assertEquals(0, second.awaitExit(180), second.output());
            assertTrue(
                    second.output().contains("resuming run killed from checkpoint killed-e0001")
                            || second.output().contains("resuming run killed from checkpoint killed-e0002"),
                    second.output());
        }

        List<Checkpoint> killed = kafka.checkpoints("killed");
        List<Checkpoint> uninterrupted = kafka.checkpoints("uninterrupted");
        // exactly one checkpoint per epoch: the killed attempt at epoch 2 left nothing behind
        assertEquals(
                List.of(1, 2, 3), killed.stream().map(c -> c.manifest().epoch()).toList());
        for (int e = 0; e < 3; e++) {
            CheckpointManifest a = killed.get(e).manifest();
            CheckpointManifest b = uninterrupted.get(e).manifest();
            assertEquals(b.offsets(), a.offsets(), "epoch " + (e + 1) + " offset ranges");
            assertEquals(2800.0, a.metrics().get("samples"), "every sample of the epoch, once");
            assertEquals(b.step(), a.step());
            Map<String, Tensor> pa = killed.get(e).parameters();
            Map<String, Tensor> pb = uninterrupted.get(e).parameters();
            assertEquals(pb.keySet(), pa.keySet());
            for (String name : pa.keySet()) {
                assertArrayEquals(
                        pb.get(name).toFloats(),
                        pa.get(name).toFloats(),
                        "epoch " + (e + 1) + " " + name + " must be bit-identical");
            }
        }
        // the group's committed offsets are the ones the last checkpoint accounts for
        try (Admin admin = Admin.create(kafka.settings.admin())) {
            Map<TopicPartition, OffsetAndMetadata> committed = admin.listConsumerGroupOffsets(
                            Topics.trainerGroup("killed"))
                    .partitionsToOffsetAndMetadata()
                    .get(30, TimeUnit.SECONDS);
            for (CheckpointManifest.OffsetRange r : killed.get(2).manifest().offsets()) {
                OffsetAndMetadata o = committed.get(new TopicPartition(r.topic(), r.partition()));
                assertEquals(r.to(), o.offset());
                assertTrue(o.metadata().contains("epoch=3"), o.metadata());
            }
        }
    }
}
