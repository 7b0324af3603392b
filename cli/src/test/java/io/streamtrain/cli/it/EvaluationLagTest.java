package io.streamtrain.cli.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.core.checkpoint.Checkpoint;
import io.streamtrain.core.kafka.KafkaSettings;
import io.streamtrain.core.protocol.Messages;
import io.streamtrain.core.spec.RunSpecParser;
import io.streamtrain.core.topics.Topics;
import io.streamtrain.evaluator.EvaluatorService;
import io.streamtrain.testkit.KafkaFixture;
import io.streamtrain.testkit.Scrape;
import io.streamtrain.testkit.ServiceProcess;
import io.streamtrain.testkit.SyntheticClusters;
import io.streamtrain.trainer.TrainerNode;
import io.streamtrain.trainer.TrainerOptions;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code evaluation.maxLag}: with no evaluator, or with one killed, a trainer stops before the
 * epoch that would leave more than maxLag checkpoints unevaluated, and goes on when an evaluator
 * catches up, training every epoch once.
 */
@Tag("integration")
class EvaluationLagTest {
    static final int EPOCHS = 4;

    @RegisterExtension
    static final KafkaFixture kafka = new KafkaFixture();

    @BeforeAll
    static void broker() throws Exception {
        SyntheticClusters task = new SyntheticClusters(16, 4, 2.0, 0.2, 21);
        kafka.createTopic("lag.train", 2);
        kafka.produce("lag.train", 2, task.records(12, 16, 1));
        kafka.createTopic("lag.validation", 1);
        kafka.produce("lag.validation", 1, task.records(8, 32, 2));
    }

    @Test
    void aTrainerWaitsForTheEvaluatorBeyondMaxLagAndTrainsOnWhenItCatchesUp() throws Exception {
        TrainerNode node = new TrainerNode(
                RunSpecParser.parse("""
                run: lag
                data: { train: lag.train, validation: lag.validation }
                model: { type: mlp, inputs: 16, hidden: [32], classes: 4 }
                init: { seed: 5 }
                batchSize: 16
                maxEpochs: %d
                optimizer: { type: adam, learningRate: 0.003 }
                earlyStopping: { enabled: false }
                evaluation: { maxLag: 1 }
                """.formatted(EPOCHS)),
                kafka.settings,
                TrainerOptions.defaults("n").withLogEverySteps(0));
        NodeThread trainer = NodeThread.start(node, "lag-trainer");

        // no evaluator: epochs 1 and 2 are trained (one checkpoint may be unevaluated while the next epoch trains), not
        // epoch 3
        awaitCheckpoints(2, 120);
        Thread.sleep(5_000); // an epoch here takes well under a second
        assertEquals(List.of(1, 2), epochs(), "held before epoch 3: two checkpoints unevaluated is more than maxLag 1");
        assertTrue(trainer.alive(), "the trainer waits, it does not exit: " + trainer.outcome());
        String[] status = CtlTest.streamtrain(
                "ctl", "status", "--run", "lag", "--bootstrap-servers", kafka.broker.bootstrapServers());
        assertTrue(
                status[1].contains(
                        "evaluation lag: 2 checkpoint(s) not yet evaluated (evaluation.maxLag 1): the trainers wait for"
                                + " the evaluator before epoch 3"),
                status[1]);

        EvaluatorService evaluator =
                new EvaluatorService(KafkaSettings.of(kafka.broker.bootstrapServers()), List.of("lag"), "lag-ev");
        Thread ev = new Thread(evaluator::run, "lag-evaluator");
        ev.start();
        try {
            assertEquals(
                    TrainerNode.Outcome.FINISHED,
                    trainer.await(Duration.ofSeconds(180)),
                    "the evaluator caught up, and the trainer finished the run");
        } finally {
            evaluator.close();
            ev.join(30_000);
        }
        List<Checkpoint> cps = kafka.checkpoints("lag");
        assertEquals(
                List.of(1, 2, 3, 4), cps.stream().map(c -> c.manifest().epoch()).toList(), "every epoch once");
        for (Checkpoint c : cps) {
            assertEquals(
                    12 * 16.0,
                    c.manifest().metrics().get("samples"),
                    "every sample of epoch " + c.manifest().epoch());
        }
    }

    /**
     * A continuous run with a validation topic holds its trainers at maxLag 2 by default. Its
     * evaluator, in a child JVM, is SIGKILLed once it has evaluated window 1: the trainer trains
     * on until 3 windows are unevaluated and holds there, saying so in its log and its
     * {@code awaiting_evaluation} gauge; the restarted evaluator (the same instance id) evaluates
     * every window once, and the trainer trains the rest of the run, each window once.
     */
    @Test
    void aContinuousRunHoldsWhileItsEvaluatorIsDeadAndGoesOnWhenItRestarts(@TempDir Path dir) throws Exception {
        int windows = 10;
        int window = 8; // records: 4 a partition, of 16 samples
        SyntheticClusters task = new SyntheticClusters(16, 4, 2.0, 0.2, 23);
        kafka.createTopic("live-lag.train", 2);
        // every window's records are there from the start: only the evaluator can hold the trainer back
        kafka.produce("live-lag.train", 2, task.records(windows * window, 16, 3));
        Path spec = Files.writeString(dir.resolve("live-lag.yaml"), """
                run: live-lag
                data: { train: live-lag.train, validation: lag.validation, mode: continuous, window: { records: %d } }
                model: { type: mlp, inputs: 16, hidden: [32], classes: 4 }
                init: { seed: 5 }
                batchSize: 16
                maxEpochs: %d
                optimizer: { type: adam, learningRate: 0.003 }
                """.formatted(window, windows));
        List<String> evaluatorArgs = List.of(
                "--run",
                "live-lag",
                "--bootstrap-servers",
                kafka.broker.bootstrapServers(),
                "--instance-id",
                "live-lag-ev");
        try (ServiceProcess trainer =
                        new ServiceProcess(spec, kafka.broker.bootstrapServers(), "live-lag-node", "--log-every", "0");
                ServiceProcess evaluator = new ServiceProcess(ServiceProcess.EVALUATOR, evaluatorArgs)) {
            evaluator.awaitLine(l -> l.contains("run live-lag epoch 1 "), 180);
            evaluator.sigkill();
            evaluator.awaitExit(30);

            int port = Scrape.port(trainer);
            Scrape.awaitValue(port, 1, 60, "streamtrain_trainer_awaiting_evaluation");
            // a window trains in well under a second here: a trainer that were not held would be windows further
            Thread.sleep(5_000);
            List<Integer> evaluated = evaluatedWindows("live-lag");
            int last = evaluated.get(evaluated.size() - 1);
            assertEquals(
                    IntStream.rangeClosed(1, last).boxed().toList(),
                    evaluated,
                    "the killed evaluator's windows, each once");
            assertTrue(last + 3 < windows, "the run is held before its end: " + evaluated);
            assertEquals(
                    IntStream.rangeClosed(1, last + 3).boxed().toList(),
                    windows("live-lag"),
                    "held with 3 windows unevaluated: more than the default maxLag 2");
            assertTrue(trainer.alive(), trainer.output());
            assertTrue(
                    trainer.output()
                            .contains("waiting for the evaluator before epoch " + (last + 4)
                                    + ": 3 of the run's checkpoints are not evaluated yet (the last evaluated is epoch "
                                    + last + "), more than evaluation.maxLag 2"),
                    trainer.output());
            assertEquals(1, Scrape.of(port).value("streamtrain_trainer_awaiting_evaluation"), "still held");
            int heldAt = trainer.lineCount();

            try (ServiceProcess restarted = new ServiceProcess(ServiceProcess.EVALUATOR, evaluatorArgs)) {
                trainer.awaitLineAfter(
                        heldAt,
                        l -> l.contains("the evaluator has evaluated epoch ")
                                && l.contains(": training epoch " + (last + 4)),
                        180);
                assertEquals(0, trainer.awaitExit(300), trainer.output());
                awaitEvaluations("live-lag", windows, 180);
                restarted.sigterm();
                assertEquals(0, restarted.awaitExit(60), restarted.output());
            }
        }
        assertEquals(
                IntStream.rangeClosed(1, windows).boxed().toList(),
                evaluatedWindows("live-lag"),
                "every window evaluated exactly once, across the kill");
        List<Checkpoint> cps = kafka.checkpoints("live-lag");
        assertEquals(
                IntStream.rangeClosed(1, windows).boxed().toList(),
                cps.stream().map(c -> c.manifest().epoch()).toList(),
                "every window trained once");
        for (Checkpoint c : cps) {
            assertEquals(
                    window * 16.0,
                    c.manifest().metrics().get("samples"),
                    "window " + c.manifest().epoch() + "'s samples");
        }
    }

    private static List<Integer> epochs() throws Exception {
        return windows("lag");
    }

    private static List<Integer> windows(String run) throws Exception {
        return kafka.checkpoints(run).stream().map(c -> c.manifest().epoch()).toList();
    }

    /** The epochs (windows) of the run's committed evaluations, in topic order. */
    private static List<Integer> evaluatedWindows(String run) throws Exception {
        List<Integer> out = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> r : kafka.readAll(Topics.evaluations(run))) {
            Messages.decodeEvaluation(r.value()).ifPresent(e -> out.add(e.epoch()));
        }
        return out;
    }

    private static void awaitEvaluations(String run, int n, int seconds) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (evaluatedWindows(run).size() < n) {
            assertTrue(
                    System.nanoTime() < deadline,
                    "not " + n + " evaluations within " + seconds + " s: " + evaluatedWindows(run));
            Thread.sleep(200);
        }
    }

    private static void awaitCheckpoints(int n, int seconds) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (epochs().size() < n) {
            assertTrue(System.nanoTime() < deadline, "not " + n + " checkpoints within " + seconds + " s: " + epochs());
            Thread.sleep(200);
        }
    }
}
