package io.streamtrain.cli.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.core.checkpoint.Checkpoint;
import io.streamtrain.core.checkpoint.CheckpointAssembler;
import io.streamtrain.core.checkpoint.CheckpointManifest;
import io.streamtrain.core.checkpoint.CheckpointReader;
import io.streamtrain.core.evaluation.EvaluationRecord;
import io.streamtrain.core.kafka.KafkaSettings;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.core.spec.RunSpecParser;
import io.streamtrain.core.topics.Topics;
import io.streamtrain.evaluator.EvaluatorService;
import io.streamtrain.testkit.KafkaFixture;
import io.streamtrain.testkit.SyntheticClusters;
import io.streamtrain.trainer.TrainerNode;
import io.streamtrain.trainer.TrainerOptions;
import io.streamtrain.trainer.TrainingListener;
import io.streamtrain.trainer.model.StepReport;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.IntStream;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** An operator stops a run with {@code streamtrain ctl stop} and sees it with {@code ctl status}. */
@Tag("integration")
class CtlTest {
    @RegisterExtension
    static final KafkaFixture kafka = new KafkaFixture();

    @BeforeAll
    static void broker() throws Exception {
        kafka.createTopic("ctl.train", 2);
        kafka.produce("ctl.train", 2, new SyntheticClusters(8, 3, 0.8, 0.0, 4).records(40, 16, 1));
        kafka.createTopic("ctl.validation", 1);
        kafka.produce("ctl.validation", 1, new SyntheticClusters(8, 3, 0.8, 0.0, 4).records(4, 16, 2));
    }

    /** Runs the streamtrain command line in-process; returns exit code and what it printed on standard output. */
    static String[] streamtrain(String... args) {
        CommandRun run = CommandRun.of(args);
        return new String[] {Integer.toString(run.exitCode()), run.out()};
    }

    @Test
    void anOperatorsStopEndsTheRunAndStatusShowsWhoAcknowledged() throws Exception {
        TrainerNode node = new TrainerNode(
                RunSpecParser.parse("""
                run: ctl-run
                data: { train: ctl.train }
                model: { type: mlp, inputs: 8, hidden: [16], classes: 3 }
                maxEpochs: 100000
                """),
                kafka.settings,
                TrainerOptions.defaults("node-7").withLogEverySteps(0));
        CountDownLatch twoEpochs = new CountDownLatch(2);
        node.addListener(new TrainingListener() {
            @Override
            public void onCheckpoint(CheckpointManifest m) {
                twoEpochs.countDown();
            }
        });
        NodeThread t = NodeThread.start(node, "trainer");
        assertTrue(twoEpochs.await(120, TimeUnit.SECONDS), "the run trains");

        String bootstrap = kafka.broker.bootstrapServers();
        String[] stop = streamtrain(
                "ctl", "stop", "--run", "ctl-run", "--reason", "enough for today", "--bootstrap-servers", bootstrap);
        assertEquals("0", stop[0], stop[1]);
        assertTrue(stop[1].contains("STOP") && stop[1].contains("ctl-run"), stop[1]);
        assertEquals(
                TrainerNode.Outcome.STOPPED,
                t.await(Duration.ofSeconds(30)),
                "the trainer stops on the operator's STOP");

        String[] status = streamtrain("ctl", "status", "--run", "ctl-run", "--bootstrap-servers", bootstrap);
        assertEquals("0", status[0], status[1]);
        assertTrue(
                status[1].contains("stopped at")
                        && status[1].contains("operator")
                        && status[1].contains("enough for today"),
                status[1]);
        assertTrue(status[1].contains("acknowledged by: node-7 at step"), status[1]);
        assertTrue(status[1].matches("(?s).*run ctl-run: \\d+ checkpoints, last epoch \\d+.*"), status[1]);

        String[] missing = streamtrain("ctl", "stop", "--bootstrap-servers", bootstrap);
        assertEquals("2", missing[0], "a usage error: --run is required");
        String[] typo = streamtrain("ctl", "stop", "--run", "ctl-rnu", "--bootstrap-servers", bootstrap);
        assertEquals("2", typo[0], "a run with no topics is a typo, not a run to stop");
    }

    @Test
    void setChangesTheSettingsInTheNextManifestAndPauseHoldsTrainingUntilResume() throws Exception {
        TrainerNode node = new TrainerNode(
                RunSpecParser.parse("""
                run: ctl-set
                data: { train: ctl.train }
                model: { type: mlp, inputs: 8, hidden: [16], classes: 3 }
                maxEpochs: 100000
                optimizer: { type: adamw, learningRate: 0.001 }
                regularization: { l2: 0.0001 }
                """),
                kafka.settings,
                TrainerOptions.defaults("node-s").withLogEverySteps(0));
        List<CheckpointManifest> manifests = new CopyOnWriteArrayList<>();
        AtomicLong steps = new AtomicLong();
        node.addListener(new TrainingListener() {
            @Override
            public void onStep(int epoch, StepReport r) {
                steps.incrementAndGet();
            }
        });
        Thread t = startTrainer(node, manifests);
        String bootstrap = kafka.broker.bootstrapServers();
        try {
            await(() -> manifests.size() >= 1, "a first checkpoint");
            assertEquals(
                    "0",
                    streamtrain(
                            "ctl",
                            "set",
                            "--run",
                            "ctl-set",
                            "--bootstrap-servers",
                            bootstrap,
                            "learningRate=0.0005",
                            "l2=0.01")[0]);
            // an epoch after the SET was applied ends with the new settings in its manifest (epochs here last
            // milliseconds,
            // and a checkpoint is reported once committed, while the next epochs train: which epoch is the first is not
            // fixed)
            await(
                    () -> manifests.stream()
                            .anyMatch(m -> m.spec()
                                            .get("optimizer")
                                            .get("learningRate")
                                            .asDouble()
                                    == 0.0005),
                    "a checkpoint trained with the SET");
            CheckpointManifest after = manifests.stream()
                    .filter(m -> m.spec().get("optimizer").get("learningRate").asDouble() == 0.0005)
                    .findFirst()
                    .orElseThrow();
            assertEquals(0.01, after.spec().get("regularization").get("l2").asDouble());
            assertEquals(
                    0.001,
                    manifests.get(0).spec().get("optimizer").get("learningRate").asDouble(),
                    "earlier epochs keep theirs");

            assertEquals(
                    "2",
                    streamtrain("ctl", "set", "--run", "ctl-set", "--bootstrap-servers", bootstrap, "dropout=0.5")[0],
                    "dropout is part of the model: refused before it is sent");
            assertEquals(
                    "0", streamtrain("ctl", "set", "--run", "ctl-set", "--bootstrap-servers", bootstrap, "l2=-1")[0]);

            assertEquals("0", streamtrain("ctl", "pause", "--run", "ctl-set", "--bootstrap-servers", bootstrap)[0]);
            await(
                    () -> status("ctl-set").matches("(?s).*pause .* acknowledged by: node-s at step \\d+.*"),
                    "the PAUSE acknowledged");
            long pausedAt = steps.get();
            int checkpointsPaused = manifests.size();
            Thread.sleep(2_000);
            assertEquals(pausedAt, steps.get(), "no step while paused");
            assertEquals(checkpointsPaused, manifests.size(), "no checkpoint while paused");
            assertTrue(t.isAlive(), "paused, not stopped");

            assertEquals("0", streamtrain("ctl", "resume", "--run", "ctl-set", "--bootstrap-servers", bootstrap)[0]);
            await(() -> steps.get() > pausedAt + 5, "training again after RESUME");

            String status = status("ctl-set");
            assertTrue(
                    status.contains("{learningRate=5.0E-4, l2=0.01}")
                            || status.contains("{l2=0.01, learningRate=5.0E-4}"),
                    status);
            assertTrue(
                    status.contains("refused:") && status.contains("regularization.l2"),
                    "the bad SET is refused by name: " + status);
            assertTrue(status.contains("not stopped"), status);
        } finally {
            streamtrain("ctl", "stop", "--run", "ctl-set", "--bootstrap-servers", bootstrap);
            t.join(30_000);
        }
    }

    /** Runs the node on its own thread, recording its checkpoints. */
    /**
     * An operator's ROLLBACK to an earlier epoch: the trainer carries it out at its next round
     * and acknowledges it, the epoch that round ends holds exactly that epoch's weights, and a
     * checkpoint that is not the run's is refused before anything is sent.
     */
    @Test
    void rollbackReturnsTheTrainerToAnEarlierCheckpointsWeights() throws Exception {
        TrainerNode node = new TrainerNode(
                RunSpecParser.parse("""
                run: ctl-rollback
                data: { train: ctl.train }
                model: { type: mlp, inputs: 8, hidden: [16], classes: 3 }
                maxEpochs: 100000
                optimizer: { type: adam, learningRate: 0.01 }
                """),
                kafka.settings,
                TrainerOptions.defaults("node-r").withLogEverySteps(0));
        List<CheckpointManifest> manifests = new CopyOnWriteArrayList<>();
        Thread t = startTrainer(node, manifests);
        String bootstrap = kafka.broker.bootstrapServers();
        String target;
        try {
            await(() -> manifests.size() >= 3, "three checkpoints");
            target = manifests.get(0).checkpointId();
            assertEquals(
                    "2",
                    streamtrain(
                            "ctl",
                            "rollback",
                            "--run",
                            "ctl-rollback",
                            "--to",
                            "ctl-rollback-e9999-00000000",
                            "--bootstrap-servers",
                            bootstrap)[0],
                    "no such checkpoint: nothing sent");
            assertEquals(
                    "2",
                    streamtrain("ctl", "rollback", "--run", "ctl-rollback", "--bootstrap-servers", bootstrap)[0],
                    "a bounded run has no promoted model");
            String[] sent = streamtrain(
                    "ctl", "rollback", "--run", "ctl-rollback", "--to", target, "--bootstrap-servers", bootstrap);
            assertEquals("0", sent[0], sent[1]);
            await(
                    () -> status("ctl-rollback")
                            .matches("(?s).*rollback .* to checkpoint " + target
                                    + " .* acknowledged by: node-r at step \\d+.*"),
                    "the ROLLBACK carried out and acknowledged");
        } finally {
            node.requestStop();
            t.join(60_000);
        }
        Matcher m = Pattern.compile(
                        "rollback .* to checkpoint " + target + " .* acknowledged by: node-r at step (\\d+)")
                .matcher(status("ctl-rollback"));
        assertTrue(m.find());
        long step = Long.parseLong(m.group(1));
        List<Checkpoint> checkpoints = kafka.checkpoints("ctl-rollback");
        Checkpoint first = checkpoints.stream()
                .filter(c -> c.manifest().checkpointId().equals(target))
                .findFirst()
                .orElseThrow();
        Checkpoint back = checkpoints.stream()
                .filter(c -> c.manifest().step() == step)
                .findFirst()
                .orElseThrow(() -> new AssertionError("no checkpoint at step " + step));
        assertTrue(back.manifest().epoch() > 3);
        for (CheckpointManifest.ParameterInfo p : first.manifest().parameters()) {
            assertTrue(
                    java.util.Arrays.equals(
                            first.payload().tensor(p.name()).toFloats(),
                            back.payload().tensor(p.name()).toFloats()),
                    "epoch " + back.manifest().epoch() + " holds epoch 1's " + p.name());
        }
    }

    static Thread startTrainer(TrainerNode node, List<CheckpointManifest> manifests) {
        node.addListener(new TrainingListener() {
            @Override
            public void onCheckpoint(CheckpointManifest m) {
                manifests.add(m);
            }
        });
        Thread t = new Thread(
                () -> {
                    try {
                        node.run();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                },
                "trainer");
        t.start();
        return t;
    }

    static String status(String run) {
        return streamtrain("ctl", "status", "--run", run, "--bootstrap-servers", kafka.broker.bootstrapServers())[1];
    }

    static void await(BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("no " + what + " within 60 s");
            }
            Thread.sleep(50);
        }
    }

    @Test
    void checkpointPublishesAScoredSnapshotThatARunNeverResumesFrom() throws Exception {
        RunSpec spec = RunSpecParser.parse("""
                run: ctl-snap
                data: { train: ctl.train, validation: ctl.validation }
                model: { type: mlp, inputs: 8, hidden: [16], classes: 3 }
                maxEpochs: 100000
                earlyStopping: { enabled: false }
                """);
        TrainerNode node = new TrainerNode(
                spec, kafka.settings, TrainerOptions.defaults("node-c").withLogEverySteps(0));
        List<CheckpointManifest> manifests = new CopyOnWriteArrayList<>();
        List<EvaluationRecord> evaluations = new CopyOnWriteArrayList<>();
        EvaluatorService evaluator =
                new EvaluatorService(KafkaSettings.of(kafka.broker.bootstrapServers()), List.of("ctl-snap"), "ctl-it");
        evaluator.addListener(evaluations::add);
        Thread e = new Thread(evaluator::run, "evaluator");
        e.start();
        Thread t = startTrainer(node, manifests);
        String bootstrap = kafka.broker.bootstrapServers();
        try {
            await(() -> manifests.size() >= 1, "a first checkpoint");
            assertEquals(
                    "0", streamtrain("ctl", "checkpoint", "--run", "ctl-snap", "--bootstrap-servers", bootstrap)[0]);
            await(() -> status("ctl-snap").contains("applied: checkpoint"), "the CHECKPOINT acknowledged");
            Matcher ack = Pattern.compile("applied: checkpoint (\\S+)\\)").matcher(status("ctl-snap"));
            assertTrue(ack.find(), status("ctl-snap"));
            String snapshotId = ack.group(1);
            await(() -> evaluations.stream().anyMatch(x -> x.checkpointId().equals(snapshotId)), "the snapshot scored");
            int epochs = manifests.size();
            await(() -> manifests.size() >= epochs + 1, "training on after the snapshot");
            node.requestStop();
            t.join(30_000);
            await(
                    () -> evaluations.stream()
                                    .filter(EvaluationRecord::evaluated)
                                    .count()
                            >= manifests.size(),
                    "every epoch evaluated");
        } finally {
            node.requestStop();
            evaluator.close();
            e.join(30_000);
        }
        CheckpointAssembler assembler = new CheckpointAssembler();
        CheckpointManifest snapshot = null;
        for (ConsumerRecord<byte[], byte[]> r : kafka.readAll(Topics.checkpoints("ctl-snap"))) {
            Checkpoint c = assembler.accept(r); // verifies the payload's SHA-256
            if (c != null && c.manifest().snapshot()) {
                snapshot = c.manifest();
            }
        }
        assertTrue(snapshot != null, "a snapshot manifest on the checkpoints topic");
        assertTrue(snapshot.offsets().isEmpty(), "a snapshot accounts for no offsets");
        CheckpointManifest lastEpoch = manifests.get(manifests.size() - 1);
        assertTrue(
                snapshot.step() >= manifests.get(0).step() && snapshot.step() < lastEpoch.step(),
                "taken after the first epoch end and before the last: " + snapshot.step());
        // epochs stay consecutive and each is evaluated once; the snapshot is scored apart from them
        assertEquals(
                IntStream.rangeClosed(1, manifests.size()).boxed().toList(),
                manifests.stream().map(CheckpointManifest::epoch).toList());
        assertEquals(
                manifests.stream().map(CheckpointManifest::epoch).toList(),
                evaluations.stream()
                        .filter(EvaluationRecord::evaluated)
                        .map(x -> x.epoch())
                        .toList());
        String sid = snapshot.checkpointId();
        assertEquals(
                "snapshot",
                evaluations.stream()
                        .filter(x -> x.checkpointId().equals(sid))
                        .findFirst()
                        .orElseThrow()
                        .status());
        // a restart resumes from the last epoch's checkpoint, never from the snapshot
        try (KafkaConsumer<byte[], byte[]> reader = new KafkaConsumer<>(kafka.settings.consumer(null))) {
            assertEquals(
                    lastEpoch.checkpointId(),
                    CheckpointReader.latest(reader, Topics.checkpoints("ctl-snap"), Duration.ofSeconds(30))
                            .orElseThrow()
                            .manifest()
                            .checkpointId());
        }
    }
}
