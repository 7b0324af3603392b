package io.streamtrain.cli.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.core.checkpoint.CheckpointManifest;
import io.streamtrain.core.control.ControlMessage;
import io.streamtrain.core.kafka.RunTopics;
import io.streamtrain.core.protocol.Messages;
import io.streamtrain.core.topics.Topics;
import io.streamtrain.testkit.KafkaFixture;
import io.streamtrain.testkit.ServiceProcess;
import io.streamtrain.testkit.SyntheticClusters;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A SET inside the bounds that still makes every step non-finite (SGD at learning rate 10
 * with an L2 of 10 and no clipping: each step multiplies the weights by about -199) cannot
 * brick a run: the node that meets it acknowledges it as failed and exits 1, and the restart
 * does not replay it, trains on from the last closed round, and finishes with finite losses.
 */
@Tag("integration")
class FailedSetTest {
    @RegisterExtension
    static final KafkaFixture kafka = new KafkaFixture();

    private static final String RUN = "failed-set";

    @TempDir
    Path dir;

    @Test
    void aSetAfterWhichStepsAreNotFiniteIsAnsweredFailedAndTheRestartTrainsOnWithoutIt() throws Exception {
        kafka.createTopic("failed-set.train", 1);
        kafka.produce("failed-set.train", 1, new SyntheticClusters(8, 3, 0.8, 0.0, 4).records(300, 16, 1));
        Path spec = dir.resolve("spec.yaml");
        Files.writeString(spec, """
                run: %s
                data: { train: failed-set.train }
                model: { type: mlp, inputs: 8, hidden: [16], classes: 3 }
                init: { seed: 3 }
                batchSize: 16
                maxEpochs: 3
                optimizer: { type: sgd, learningRate: 0.05 }
                """.formatted(RUN));
        String bootstrap = kafka.broker.bootstrapServers();

        // the run starts paused (its control topic made as the trainer would), so the SET takes effect at a step this
        // test knows
        try (Admin admin = Admin.create(kafka.settings.admin())) {
            RunTopics.ensure(admin, List.of(RunTopics.control(Topics.control(RUN))));
        }
        assertEquals("0", CtlTest.streamtrain("ctl", "pause", "--run", RUN, "--bootstrap-servers", bootstrap)[0]);
        try (ServiceProcess first = new ServiceProcess(spec, bootstrap, "n0")) {
            first.awaitLine(l -> l.contains("continuing from round 0"), 120);
            String[] set = CtlTest.streamtrain(
                    "ctl", "set", "--run", RUN, "learningRate=10", "l2=10", "--bootstrap-servers", bootstrap);
            assertEquals("0", set[0], set[1]);
            first.awaitLine(l -> l.contains("SET") && l.contains("from step 1"), 60);
            assertEquals("0", CtlTest.streamtrain("ctl", "resume", "--run", RUN, "--bootstrap-servers", bootstrap)[0]);
            assertEquals(1, first.awaitExit(120), "a failure a restart can get past: " + first.output());
            assertTrue(first.output().contains("acknowledged as failed and will not be replayed"), first.output());
        }
        String setId = null;
        ControlMessage.Ack failed = null;
        for (ConsumerRecord<byte[], byte[]> r : kafka.readAll(Topics.control(RUN))) {
            ControlMessage m = Messages.decodeControl(r.value()).orElse(null);
            if (m instanceof ControlMessage.Set s) {
                setId = s.id();
            } else if (m instanceof ControlMessage.Ack a && a.failed()) {
                failed = a;
            }
        }
        assertTrue(
                failed != null && failed.command().equals(setId), "the SET is answered as failed on the control topic");
        assertTrue(failed.outcome().contains("were not finite"), failed.outcome());

        try (ServiceProcess restarted = new ServiceProcess(spec, bootstrap, "n0")) {
            assertEquals(0, restarted.awaitExit(180), restarted.output());
            assertTrue(restarted.output().contains("is not replayed"), restarted.output());
        }
        List<CheckpointManifest> epochs =
                kafka.checkpoints(RUN).stream().map(c -> c.manifest()).toList();
        assertEquals(
                List.of(1, 2, 3), epochs.stream().map(CheckpointManifest::epoch).toList());
        for (CheckpointManifest m : epochs) {
            double loss = m.metrics().get("train_loss");
            assertTrue(Double.isFinite(loss) && loss < 5, "epoch " + m.epoch() + ": " + m.metrics());
            assertEquals(0.0, m.metrics().get("l2"), "trained without the SET's l2");
        }
        String[] status = CtlTest.streamtrain("ctl", "status", "--run", RUN, "--bootstrap-servers", bootstrap);
        assertTrue(status[1].contains("failed: the steps from step"), status[1]);
    }
}
