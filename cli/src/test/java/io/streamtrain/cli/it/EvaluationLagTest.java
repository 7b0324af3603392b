package io.streamtrain.cli.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.core.checkpoint.Checkpoint;
import io.streamtrain.core.kafka.KafkaSettings;
import io.streamtrain.core.spec.RunSpecParser;
import io.streamtrain.evaluator.EvaluatorService;
import io.streamtrain.testkit.KafkaFixture;
import io.streamtrain.testkit.SyntheticClusters;
import io.streamtrain.trainer.TrainerNode;
import io.streamtrain.trainer.TrainerOptions;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * {@code evaluation.maxLag}: with no evaluator, a trainer stops before the epoch that would
 * leave more than maxLag checkpoints unevaluated, and goes on when an evaluator catches up,
 * training every epoch once.
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

    private static List<Integer> epochs() throws Exception {
        return kafka.checkpoints("lag").stream().map(c -> c.manifest().epoch()).toList();
    }

    private static void awaitCheckpoints(int n, int seconds) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (epochs().size() < n) {
            assertTrue(System.nanoTime() < deadline, "not " + n + " checkpoints within " + seconds + " s: " + epochs());
            Thread.sleep(200);
        }
    }
}
