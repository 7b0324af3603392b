package io.streamtrain.cli.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.streamtrain.core.evaluation.EvaluationRecord;
import io.streamtrain.core.spec.RunSpecParser;
import io.streamtrain.evaluator.EvaluatorService;
import io.streamtrain.testkit.KafkaFixture;
import io.streamtrain.testkit.SyntheticClusters;
import io.streamtrain.trainer.TrainerNode;
import io.streamtrain.trainer.TrainerOptions;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * {@code streamtrain score} on a run trained here: on the run's own validation topic it
 * gives the evaluator's figures exactly, on another topic its own, and bad references,
 * topics and data are refused with exit 2.
 */
@Tag("integration")
class ScoreTest {
    static final String RUN = "score-run";

    @RegisterExtension
    static final KafkaFixture kafka = new KafkaFixture();

    static List<EvaluationRecord> evaluations;

    @BeforeAll
    static void trainARun() throws Exception {
        SyntheticClusters task = new SyntheticClusters(8, 3, 1.0, 0.1, 3);
        kafka.createTopic("score.train", 2);
        kafka.produce("score.train", 2, task.records(30, 16, 1));
        kafka.createTopic("score.validation", 1);
        kafka.produce("score.validation", 1, task.records(4, 32, 2));
        kafka.createTopic("score.test", 2);
        kafka.produce("score.test", 2, task.records(5, 20, 3));
        kafka.createTopic("score.wide", 1);
        kafka.produce("score.wide", 1, new SyntheticClusters(16, 3, 1.0, 0.1, 3).records(2, 8, 4));
        EvaluatorService evaluator = new EvaluatorService(kafka.settings, List.of(RUN), "score-it");
        Thread evaluatorThread = new Thread(evaluator::run, "evaluator");
        evaluatorThread.start();
        try {
            TrainerNode node = new TrainerNode(
                    RunSpecParser.parse("""
                    run: %s
                    data: { train: score.train, validation: score.validation }
                    model: { type: mlp, inputs: 8, hidden: [32], classes: 3, dropout: 0.3 }
                    batchSize: 16
                    maxEpochs: 3
                    optimizer: { type: adamw, learningRate: 0.01 }
                    earlyStopping: { monitor: val_loss, patience: 10 }
                    """.formatted(RUN)),
                    kafka.settings,
                    TrainerOptions.defaults("node-s").withLogEverySteps(0));
            assertEquals(TrainerNode.Outcome.FINISHED, node.run());
            long deadline = System.currentTimeMillis() + 60_000;
            evaluations = evaluations();
            while (evaluations.stream().filter(EvaluationRecord::evaluated).count() < 3
                    && System.currentTimeMillis() < deadline) {
                Thread.sleep(200);
                evaluations = evaluations();
            }
        } finally {
            evaluator.close();
            evaluatorThread.join(30_000);
        }
    }

    private static List<EvaluationRecord> evaluations() throws Exception {
        List<EvaluationRecord> out = new ArrayList<>();
        for (var r : kafka.readAll(io.streamtrain.core.topics.Topics.evaluations(RUN))) {
            io.streamtrain.core.protocol.Messages.decodeEvaluation(r.value()).ifPresent(out::add);
        }
        return out;
    }

    static CommandRun score(String... args) {
        List<String> all = new ArrayList<>(List.of("score"));
        all.addAll(List.of(args));
        all.addAll(List.of("--bootstrap-servers", kafka.broker.bootstrapServers()));
        return CommandRun.of(all.toArray(String[]::new));
    }

    @Test
    void onTheValidationTopicAnEpochScoresExactlyAsTheEvaluatorScoredIt() throws Exception {
        for (int epoch = 1; epoch <= 3; epoch++) {
            int e = epoch;
            EvaluationRecord evaluated = evaluations.stream()
                    .filter(r -> r.evaluated() && r.epoch() == e)
                    .findFirst()
                    .orElseThrow();
            CommandRun run = score("run:" + RUN + "@" + epoch, "--topic", "score.validation", "--json");
            assertEquals(0, run.exitCode(), run.toString());
            JsonNode doc = ExportTest.JSON.readTree(run.out());
            assertEquals(evaluated.checkpointId(), doc.get("checkpointId").asText());
            JsonNode s = doc.get("scores").get(0);
            assertEquals(
                    evaluated.metrics().get("val_loss"),
                    s.get("loss").asDouble(),
                    "the evaluator's val_loss, bit for bit");
            assertEquals(
                    evaluated.metrics().get("val_accuracy"), s.get("accuracy").asDouble());
            assertEquals(128, s.get("samples").asLong());
        }
    }

    @Test
    void theBestCheckpointOnAnotherTopicAndItsPlainReport() {
        EvaluationRecord last = evaluations.stream()
                .filter(EvaluationRecord::evaluated)
                .reduce((a, b) -> b)
                .orElseThrow();
        CommandRun run = score("run:" + RUN + "@best", "--topic", "score.test", "--topic", "score.validation");
        assertEquals(0, run.exitCode(), run.toString());
        assertTrue(run.out().contains("checkpoint " + last.best().checkpointId() + " of run " + RUN), run.out());
        assertTrue(
                run.out()
                        .matches(
                                "(?s).*score\\.test\\s+loss \\d\\.\\d{4}  accuracy \\d\\.\\d{4}  perplexity \\d+\\.\\d{3}  100 samples.*"),
                run.out());
        assertTrue(
                run.out()
                        .contains(String.format(
                                java.util.Locale.ROOT, "loss %.4f", last.best().value())),
                "the best's validation loss, as the evaluator found it: " + run.out());
    }

    @Test
    void badReferencesTopicsAndDataAreRefusedWithExit2() {
        CommandRun notARef = score("model.safetensors", "--topic", "score.test");
        assertEquals(2, notARef.exitCode(), notARef.toString());
        assertTrue(notARef.err().contains("is not a checkpoint reference"), notARef.err());
        CommandRun noRun = score("run:no-such-run@best", "--topic", "score.test");
        assertEquals(2, noRun.exitCode(), noRun.toString());
        assertTrue(noRun.err().contains("no-such-run"), noRun.err());
        CommandRun noEpoch = score("run:" + RUN + "@9", "--topic", "score.test");
        assertEquals(2, noEpoch.exitCode(), noEpoch.toString());
        CommandRun noTopic = score("run:" + RUN, "--topic", "score.nothing");
        assertEquals(2, noTopic.exitCode(), noTopic.toString());
        assertTrue(noTopic.err().contains("score.nothing"), noTopic.err());
        CommandRun wrongData = score("run:" + RUN, "--topic", "score.wide");
        assertEquals(2, wrongData.exitCode(), wrongData.toString());
        assertTrue(wrongData.err().contains("holds no sample for this model"), wrongData.err());
    }
}
