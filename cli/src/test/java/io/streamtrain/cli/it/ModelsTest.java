package io.streamtrain.cli.it;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.cli.ingest.IdxFiles;
import io.streamtrain.core.checkpoint.Checkpoint;
import io.streamtrain.core.evaluation.EvaluationRecord;
import io.streamtrain.core.kafka.KafkaSettings;
import io.streamtrain.core.protocol.Messages;
import io.streamtrain.core.spec.RunSpecParser;
import io.streamtrain.core.topics.Topics;
import io.streamtrain.evaluator.EvaluatorService;
import io.streamtrain.testkit.KafkaFixture;
import io.streamtrain.trainer.TrainerNode;
import io.streamtrain.trainer.TrainerOptions;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The cnn and the causal-lm end to end on a real broker, at toy sizes: data loaded by
 * {@code streamtrain ingest}, trained by a trainer node, scored by the evaluator; then a
 * language model fine-tuned from the first one's best checkpoint ({@code init.from:
 * run:NAME@best}) with a frozen parameter and L2-SP.
 */
@Tag("integration")
class ModelsTest {
    @RegisterExtension
    static final KafkaFixture kafka = new KafkaFixture();

    static String bootstrap;
    static EvaluatorService evaluator;
    static Thread evaluatorThread;

    @BeforeAll
    static void broker() throws Exception {
        bootstrap = kafka.broker.bootstrapServers();
        evaluator = new EvaluatorService(
                KafkaSettings.of(bootstrap), List.of("cnn-e2e", "lm-base", "lm-tune"), "models-it");
        evaluatorThread = new Thread(evaluator::run, "evaluator");
        evaluatorThread.start();
    }

    @AfterAll
    static void stop() throws Exception {
        evaluator.close();
        evaluatorThread.join(30_000);
    }

    static void ingest(String... args) {
        List<String> all = new ArrayList<>(List.of("ingest"));
        all.addAll(List.of(args));
        all.addAll(List.of("--bootstrap-servers", bootstrap, "--progress", "none"));
        CommandRun run = CommandRun.of(all.toArray(String[]::new));
        assertEquals(0, run.exitCode(), run.toString());
    }

    static TrainerNode.Outcome train(String spec) throws Exception {
        return new TrainerNode(
                        RunSpecParser.parse(spec),
                        kafka.settings,
                        TrainerOptions.defaults("node-0").withLogEverySteps(0))
                .run();
    }

    /** The run's evaluations, once the evaluator has scored {@code epochs} checkpoints (or after 120 s). */
    static List<EvaluationRecord> evaluations(String run, int epochs) throws Exception {
        long deadline = System.nanoTime() + 120_000_000_000L;
        while (true) {
            List<EvaluationRecord> out = new ArrayList<>();
            for (ConsumerRecord<byte[], byte[]> r : kafka.readAll(Topics.evaluations(run))) {
                Messages.decodeEvaluation(r.value()).ifPresent(out::add);
            }
            if (out.size() >= epochs || System.nanoTime() > deadline) {
                assertEquals(epochs, out.size(), "evaluations of " + run + ": " + out);
                assertEquals(List.of(), out.stream().filter(e -> !e.evaluated()).toList(), "nothing rejected");
                return out;
            }
            Thread.sleep(250);
        }
    }

    // ---------------------------------------------------------------- cnn

    /** 8x8 images: a bright spot in the left half (class 0), in the right half (1), or none (2), on faint noise. */
    @Test
    void aSmallCnnLearnsWhereTheSpotIs(@TempDir Path dir) throws Exception {
        int n = 300;
        Random r = new Random(3);
        byte[] images = new byte[n * 64];
        byte[] labels = new byte[n];
        for (int i = 0; i < n; i++) {
            for (int p = 0; p < 64; p++) {
                images[i * 64 + p] = (byte) r.nextInt(40);
            }
            labels[i] = (byte) (i % 3);
            if (labels[i] < 2) {
                images[i * 64 + r.nextInt(8) * 8 + r.nextInt(4) + 4 * labels[i]] = (byte) 255;
            }
        }
        Path x = Files.write(dir.resolve("images-idx3-ubyte"), IdxFiles.idx(new int[] {n, 8, 8}, images));
        Path y = Files.write(dir.resolve("labels-idx1-ubyte"), IdxFiles.idx(new int[] {n}, labels));
        ingest(
                "idx",
                x.toString(),
                y.toString(),
                "--shape",
                "chw",
                "--topic",
                "spots.train",
                "--validation-topic",
                "spots.validation",
                "--validation-fraction",
                "0.2",
                "--records-per-message",
                "20",
                "--partitions",
                "2");

        assertEquals(TrainerNode.Outcome.FINISHED, train("""
                run: cnn-e2e
                data: { train: spots.train, validation: spots.validation }
                model: { type: cnn, inputShape: [1, 8, 8], conv: [4, 8], hidden: [16], classes: 3, dropout: 0.1 }
                batchSize: 16
                maxEpochs: 3
                optimizer: { type: adam, learningRate: 0.01 }
                regularization: { l2: 0.0001, exclude: [bias] }
                """));
        List<EvaluationRecord> evaluations = evaluations("cnn-e2e", 3);
        EvaluationRecord last = evaluations.get(2);
        assertTrue(last.metrics().get("val_accuracy") > 0.6, "chance is 1/3: " + evaluations);
        assertTrue(
                last.metrics().get("val_loss") < evaluations.get(0).metrics().get("val_loss")
                        || evaluations.get(0).metrics().get("val_accuracy") > 0.9,
                evaluations.toString());
        assertEquals(60.0, last.metrics().get("val_samples"));
    }

    // ---------------------------------------------------------------- causal-lm and fine-tuning

    /** Sentences from a small grammar: enough structure for a tiny model to beat the 256 bytes' perplexity fast. */
    static String text(long seed, String[] subjects, String[] verbs, String[] objects, int sentences) {
        Random r = new Random(seed);
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < sentences; i++) {
            b.append(subjects[r.nextInt(subjects.length)])
                    .append(' ')
                    .append(verbs[r.nextInt(verbs.length)])
                    .append(' ')
                    .append(objects[r.nextInt(objects.length)])
                    .append(". ");
        }
        return b.toString();
    }

    static String lm(String run, String topic, String more) {
        return """
                run: %s
                data: { train: %s.train, validation: %s.validation }
                model: { type: causal-lm, context: 16, layers: 1, heads: 2, width: 32, mlpWidth: 64, dropout: 0.1, attentionDropout: 0.1 }
                batchSize: 16
                optimizer: { type: adamw, learningRate: 0.005 }
                %s
                """.formatted(run, topic, topic, more);
    }

    @Test
    void aCausalLmTrainsOnByteWindowsAndIsFineTunedFromItsBestCheckpoint(@TempDir Path dir) throws Exception {
        Path general = Files.writeString(
                dir.resolve("general.txt"),
                text(
                        1,
                        new String[] {"the cat", "a dog", "my bird"},
                        new String[] {"sees", "likes", "eats"},
                        new String[] {"the fish", "a mouse", "some seeds"},
                        300),
                StandardCharsets.US_ASCII);
        ingest(
                "text",
                general.toString(),
                "--context",
                "16",
                "--topic",
                "general.train",
                "--validation-topic",
                "general.validation",
                "--validation-fraction",
                "0.2",
                "--records-per-message",
                "16",
                "--partitions",
                "2");
        assertEquals(TrainerNode.Outcome.FINISHED, train(lm("lm-base", "general", "maxEpochs: 2")));
        List<EvaluationRecord> base = evaluations("lm-base", 2);
        for (EvaluationRecord e : base) {
            assertEquals(
                    Math.exp(e.metrics().get("val_loss")),
                    e.metrics().get("val_perplexity"),
                    1e-9,
                    "perplexity is exp(loss per token)");
            assertTrue(
                    e.metrics().get("val_accuracy") > 0 && e.metrics().get("val_accuracy") < 1,
                    "next-byte accuracy: " + e.metrics());
        }
        assertTrue(
                base.get(1).metrics().get("val_perplexity")
                        < base.get(0).metrics().get("val_perplexity"),
                base.toString());
        assertTrue(base.get(1).metrics().get("val_perplexity") < 20, "far below the 256 of a uniform guess: " + base);

        // fine-tuning on other text, from the base run's best checkpoint, the position embedding frozen
        Path court = Files.writeString(
                dir.resolve("court.txt"),
                text(
                        2,
                        new String[] {"the court", "the clerk"},
                        new String[] {"orders", "files"},
                        new String[] {"the motion", "a brief"},
                        200),
                StandardCharsets.US_ASCII);
        ingest(
                "text",
                court.toString(),
                "--context",
                "16",
                "--topic",
                "court.train",
                "--validation-topic",
                "court.validation",
                "--validation-fraction",
                "0.2",
                "--records-per-message",
                "16",
                "--partitions",
                "2");
        assertEquals(TrainerNode.Outcome.FINISHED, train(lm("lm-tune", "court", """
                maxEpochs: 1
                init: { from: "run:lm-base@best", freeze: [positionEmbedding] }
                regularization: { l2sp: 0.01, exclude: [norm, bias] }
                """)));
        String bestId = base.get(1).best().checkpointId();
        Checkpoint best = kafka.checkpoints("lm-base").stream()
                .filter(c -> c.manifest().checkpointId().equals(bestId))
                .findFirst()
                .orElseThrow();
        Checkpoint tuned = kafka.checkpoints("lm-tune").get(0);
        assertArrayEquals(
                best.payload().tensor("positionEmbedding").toFloats(),
                tuned.payload().tensor("positionEmbedding").toFloats(),
                "frozen");
        assertFalse(
                java.util.Arrays.equals(
                        best.payload().tensor("tokenEmbedding").toFloats(),
                        tuned.payload().tensor("tokenEmbedding").toFloats()),
                "trained");
        assertArrayEquals(
                best.payload().tensor("tokenEmbedding").toFloats(),
                tuned.payload().tensor("anchor.tokenEmbedding").toFloats(),
                "L2-SP is anchored to the weights the run started from");
        assertTrue(
                tuned.manifest().metrics().get("l2sp") > 0,
                tuned.manifest().metrics().toString());
        assertTrue(evaluations("lm-tune", 1).get(0).metrics().containsKey("val_perplexity"));

        // a model that does not fit the checkpoint, and a run that does not exist: exit 2 at startup, saying why
        Path wide = Files.writeString(
                dir.resolve("wide.yaml"),
                lm("lm-wide", "court", "init: { from: \"run:lm-base\" }").replace("width: 32", "width: 64"));
        CommandRun mismatch = CommandRun.of(
                "train", "--spec", wide.toString(), "--bootstrap-servers", bootstrap, "--metrics-port", "-1");
        assertEquals(2, mismatch.exitCode(), mismatch.toString());
        assertTrue(
                mismatch.err().contains("init.from: checkpoint lm-base-e0002-")
                        && mismatch.err().contains("does not fit the model")
                        && mismatch.err().contains("'tokenEmbedding' is (256, 32), the model needs (256, 64)"),
                mismatch.err());
        Path typo = Files.writeString(
                dir.resolve("typo.yaml"), lm("lm-typo", "court", "init: { from: \"run:lm-bsae@best\" }"));
        CommandRun missing = CommandRun.of(
                "train", "--spec", typo.toString(), "--bootstrap-servers", bootstrap, "--metrics-port", "-1");
        assertEquals(2, missing.exitCode(), missing.toString());
        assertTrue(missing.err().contains("no run lm-bsae"), missing.err());
    }
}
