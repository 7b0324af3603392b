package io.streamtrain.cli.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.core.evaluation.EvaluationRecord;
import io.streamtrain.core.kafka.KafkaSettings;
import io.streamtrain.core.spec.RunSpecParser;
import io.streamtrain.evaluator.EvaluatorService;
import io.streamtrain.testkit.KafkaFixture;
import io.streamtrain.testkit.SyntheticClusters;
import io.streamtrain.trainer.TrainerNode;
import io.streamtrain.trainer.TrainerOptions;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** A validation set too large for the evaluator's memory budget is streamed, with the same metrics to the last bit. */
@Tag("integration")
class ValidationStreamingTest {
    static final int EPOCHS = 3;

    @RegisterExtension
    static final KafkaFixture kafka = new KafkaFixture();

    @BeforeAll
    static void broker() throws Exception {
        SyntheticClusters task = new SyntheticClusters(8, 3, 0.8, 0.1, 4);
        kafka.createTopic("vs.train", 2);
        kafka.produce("vs.train", 2, task.records(20, 16, 1));
        kafka.createTopic("vs.validation", 3);
        kafka.produce("vs.validation", 3, task.records(30, 16, 2));
    }

    static List<EvaluationRecord> trainAndEvaluate(String run, long memoryBytes) throws Exception {
        TrainerNode node = new TrainerNode(
                RunSpecParser.parse("""
                run: %s
                data: { train: vs.train, validation: vs.validation }
                model: { type: mlp, inputs: 8, hidden: [16], classes: 3 }
                init: { seed: 3 }
                maxEpochs: %d
                earlyStopping: { enabled: false }
                """.formatted(run, EPOCHS)),
                kafka.settings,
                TrainerOptions.defaults("n").withLogEverySteps(0));
        assertEquals(TrainerNode.Outcome.FINISHED, node.run());
        List<EvaluationRecord> seen = new CopyOnWriteArrayList<>();
        EvaluatorService evaluator =
                new EvaluatorService(KafkaSettings.of(kafka.broker.bootstrapServers()), List.of(run), run, memoryBytes);
        evaluator.addListener(seen::add);
        Thread t = new Thread(evaluator::run, "evaluator-" + run);
        t.start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
        while (seen.size() < EPOCHS && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        evaluator.close();
        t.join(30_000);
        return seen;
    }

    @Test
    void streamedAndInMemoryValidationGiveTheSameMetrics() throws Exception {
        List<EvaluationRecord> inMemory =
                trainAndEvaluate("vs-memory", EvaluatorService.DEFAULT_VALIDATION_MEMORY_BYTES);
        List<EvaluationRecord> streamed = trainAndEvaluate("vs-streamed", 1);
        assertEquals(EPOCHS, inMemory.size());
        assertEquals(EPOCHS, streamed.size());
        for (int i = 0; i < EPOCHS; i++) {
            assertEquals(inMemory.get(i).metrics(), streamed.get(i).metrics(), "epoch " + (i + 1));
            assertEquals(480.0, streamed.get(i).metrics().get("val_samples"), "every validation sample, every time");
        }
        assertTrue(
                inMemory.get(EPOCHS - 1).metrics().get("val_loss")
                        < inMemory.get(0).metrics().get("val_loss"),
                "the metrics follow the training, not a constant: " + inMemory);
    }
}
