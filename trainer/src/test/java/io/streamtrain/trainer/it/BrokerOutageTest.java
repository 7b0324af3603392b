package io.streamtrain.trainer.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.core.checkpoint.Checkpoint;
import io.streamtrain.core.checkpoint.CheckpointManifest;
import io.streamtrain.core.topics.Topics;
import io.streamtrain.testkit.KafkaFixture;
import io.streamtrain.testkit.ServiceProcess;
import io.streamtrain.testkit.SyntheticClusters;
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
 * A broker that goes away mid-run is waited for, not crashed on: the trainer carries on
 * when it is back, and the run's checkpoints are exactly those of a run without the outage
 * — one per epoch, each over every record once.
 */
@Tag("integration")
class BrokerOutageTest {
    static final String TOPIC = "outage.train";
    static final int RECORDS = 1250;
    static final int SAMPLES_PER_RECORD = 32;
    /** How long the broker stays away: well under the trainer's --broker-wait and the group's 45 s session. */
    static final long OUTAGE_SECONDS = 10;
    /** The outage's epoch, and one after it trained as if nothing had happened. */
    static final int EPOCHS = 2;

    @RegisterExtension
    static final KafkaFixture kafka = new KafkaFixture();

    @BeforeAll
    static void broker() throws Exception {
        kafka.createTopic(TOPIC, 2);
        // 40,000 samples of 64 features (10 MB) per epoch: several seconds of training at
        // batchSize 8, and far more than the trainer prefetches, so the outage stalls its reads
        kafka.produce(TOPIC, 2, new SyntheticClusters(64, 3, 0.5, 0.0, 41).records(RECORDS, SAMPLES_PER_RECORD, 9));
    }

    static String spec(String run) {
        return """
                run: %s
                data: { train: %s }
                model: { type: mlp, inputs: 64, hidden: [32], classes: 3 }
                init: { seed: 3 }
                batchSize: 8
                maxEpochs: %d
                optimizer: { type: adamw, learningRate: 0.003 }
                """.formatted(run, TOPIC, EPOCHS);
    }

    static ServiceProcess trainer(Path dir, String run) throws Exception {
        Path spec = Files.writeString(dir.resolve(run + ".yaml"), spec(run));
        return new ServiceProcess(
                spec,
                kafka.broker.bootstrapServers(),
                "node-" + run,
                "--log-every",
                "100",
                "--prefetch-bytes",
                Long.toString(1 << 20),
                "--broker-wait",
                "120");
    }

    @Test
    void brokerRestartMidEpochIsWaitedForAndLosesNothing(@TempDir Path dir) throws Exception {
        String run = "outage-reading";
        try (ServiceProcess trainer = trainer(dir, run)) {
            trainer.awaitLine(l -> l.contains("epoch 1 step"), 120);
            kafka.broker.stop();
            assertFalse(
                    trainer.output().contains("epoch 1/" + EPOCHS + " checkpointed"),
                    "the outage must begin mid-epoch 1:\n" + trainer.output());
            holdOutage(trainer);
            kafka.broker.restart();
            assertEquals(0, trainer.awaitExit(180), trainer.output());
            assertTrue(trainer.output().contains("epoch " + EPOCHS + "/" + EPOCHS + " checkpointed"), trainer.output());
        }
        assertCheckpointsOfAnUninterruptedRun(run);
    }

    @Test
    void brokerAwayWhileTheEpochIsCheckpointedIsWaitedForAndLosesNothing(@TempDir Path dir) throws Exception {
        String run = "outage-publishing";
        try (ServiceProcess trainer = trainer(dir, run)) {
            // the feed has read the whole epoch; the step is still training the last prefetched batches
            trainer.awaitLine(l -> l.contains("epoch 1 read"), 120);
            kafka.broker.stop();
            assertFalse(
                    trainer.output().contains("epoch 1/" + EPOCHS + " checkpointed"),
                    "the outage must begin before the checkpoint:\n" + trainer.output());
            holdOutage(trainer);
            kafka.broker.restart();
            assertEquals(0, trainer.awaitExit(180), trainer.output());
            assertTrue(trainer.output().contains("epoch " + EPOCHS + "/" + EPOCHS + " checkpointed"), trainer.output());
        }
        assertCheckpointsOfAnUninterruptedRun(run);
    }

    /** The outage: nothing to assert until it ends but that the trainer neither exits nor checkpoints without a broker. */
    private static void holdOutage(ServiceProcess trainer) throws InterruptedException {
        long outageEnds = System.nanoTime() + TimeUnit.SECONDS.toNanos(OUTAGE_SECONDS);
        while (System.nanoTime() < outageEnds) {
            assertTrue(
                    trainer.alive(),
                    "the trainer gave up during a " + OUTAGE_SECONDS + " s outage:\n" + trainer.output());
            Thread.sleep(250);
        }
        assertFalse(
                trainer.output().contains("epoch 1/" + EPOCHS + " checkpointed"),
                "a checkpoint without a broker?\n" + trainer.output());
    }

    /** One checkpoint per epoch, every sample once, and the group's offsets where the last checkpoint ends. */
    private static void assertCheckpointsOfAnUninterruptedRun(String run) throws Exception {
        List<Checkpoint> cps = kafka.checkpoints(run);
        assertEquals(List.of(1, 2), cps.stream().map(c -> c.manifest().epoch()).toList());
        for (Checkpoint c : cps) {
            String epoch = "epoch " + c.manifest().epoch() + " " + c.manifest().metrics();
            assertEquals(
                    (double) RECORDS * SAMPLES_PER_RECORD,
                    c.manifest().metrics().get("samples"),
                    epoch);
            assertEquals((double) RECORDS, c.manifest().metrics().get("records"), epoch);
            assertEquals(
                    RECORDS,
                    c.manifest().offsets().stream()
                            .mapToLong(CheckpointManifest.OffsetRange::count)
                            .sum(),
                    epoch);
        }
        try (Admin admin = Admin.create(kafka.settings.admin())) {
            Map<TopicPartition, OffsetAndMetadata> committed = admin.listConsumerGroupOffsets(Topics.trainerGroup(run))
                    .partitionsToOffsetAndMetadata()
                    .get(30, TimeUnit.SECONDS);
            for (CheckpointManifest.OffsetRange r :
                    cps.get(EPOCHS - 1).manifest().offsets()) {
                assertEquals(
                        r.to(),
                        committed
                                .get(new TopicPartition(r.topic(), r.partition()))
                                .offset(),
                        r.toString());
            }
        }
    }
}
