package io.streamtrain.cli.it;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.streamtrain.core.checkpoint.Checkpoint;
import io.streamtrain.core.checkpoint.PayloadSources;
import io.streamtrain.core.codec.SafeTensors;
import io.streamtrain.core.codec.Tensor;
import io.streamtrain.core.evaluation.EvaluationRecord;
import io.streamtrain.core.protocol.CheckpointCodec;
import io.streamtrain.core.protocol.Messages;
import io.streamtrain.core.spec.RunSpecParser;
import io.streamtrain.core.topics.Topics;
import io.streamtrain.evaluator.EvaluatorService;
import io.streamtrain.testkit.KafkaFixture;
import io.streamtrain.testkit.SafetensorsFile;
import io.streamtrain.testkit.SyntheticClusters;
import io.streamtrain.trainer.TrainerNode;
import io.streamtrain.trainer.TrainerOptions;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code streamtrain export} on runs trained here: the best checkpoint by the evaluator's
 * verdict and a given epoch, from chunks on the topic and from a claim-check store, written
 * as safetensors files whose tensors are the checkpoint's.
 */
@Tag("integration")
class ExportTest {
    static final ObjectMapper JSON = new ObjectMapper();

    @RegisterExtension
    static final KafkaFixture kafka = new KafkaFixture();

    @BeforeAll
    static void broker() throws Exception {
        SyntheticClusters task = new SyntheticClusters(8, 3, 1.0, 0.1, 3);
        kafka.createTopic("export.train", 2);
        kafka.produce("export.train", 2, task.records(30, 16, 1));
        kafka.createTopic("export.validation", 1);
        kafka.produce("export.validation", 1, task.records(4, 32, 2));
    }

    static String spec(String run, String checkpoints) {
        return """
                run: %s
                data: { train: export.train, validation: export.validation }
                model: { type: mlp, inputs: 8, hidden: [32], classes: 3 }
                batchSize: 16
                maxEpochs: 3
                optimizer: { type: adamw, learningRate: 0.01 }
                regularization: { l2sp: 0.001 }
                earlyStopping: { monitor: val_loss, patience: 10 }
                checkpoints: %s
                """.formatted(run, checkpoints);
    }

    static CommandRun export(String... args) {
        List<String> all = new ArrayList<>(List.of("export"));
        all.addAll(List.of(args));
        all.addAll(List.of("--bootstrap-servers", kafka.broker.bootstrapServers()));
        return CommandRun.of(all.toArray(String[]::new));
    }

    static List<EvaluationRecord> evaluations(String run) throws Exception {
        List<EvaluationRecord> out = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> r : kafka.readAll(Topics.evaluations(run))) {
            Messages.decodeEvaluation(r.value()).ifPresent(out::add);
        }
        return out;
    }

    /** The exported file, read both by the project's reader and by the hand-written one the format tests use. */
    static SafeTensors.Document read(Path file) throws Exception {
        byte[] bytes = Files.readAllBytes(file);
        SafetensorsFile.Parsed independent = SafetensorsFile.parse(bytes);
        SafeTensors.Document doc = SafeTensors.read(bytes);
        assertEquals(
                List.copyOf(doc.tensors().keySet()),
                List.copyOf(independent.tensors().keySet()));
        assertEquals("pt", independent.metadata().get("format"), "safetensors.torch.load_file expects format=pt");
        return doc;
    }

    static void assertSameTensors(Map<String, Tensor> expected, SafeTensors.Document actual) {
        assertEquals(
                List.copyOf(expected.keySet()), List.copyOf(actual.tensors().keySet()));
        expected.forEach((name, t) -> {
            Tensor a = actual.tensor(name);
            assertEquals(t.dtype(), a.dtype(), name);
            assertArrayEquals(t.shape(), a.shape(), name);
            assertArrayEquals(t.toFloats(), a.toFloats(), name);
        });
    }

    @Test
    void theBestCheckpointAndAnEpochAreExportedWithTheCheckpointsTensorsAndManifest(@TempDir Path dir)
            throws Exception {
        String run = "export-chunks";
        EvaluatorService evaluator = new EvaluatorService(kafka.settings, List.of(run), "export-it");
        Thread evaluatorThread = new Thread(evaluator::run, "evaluator");
        evaluatorThread.start();
        try {
            TrainerNode node = new TrainerNode(
                    RunSpecParser.parse(spec(run, "{ store: kafka, chunkBytes: 1024 }")),
                    kafka.settings,
                    TrainerOptions.defaults("node-x").withLogEverySteps(0));
            assertEquals(TrainerNode.Outcome.FINISHED, node.run());
            long deadline = System.currentTimeMillis() + 60_000;
            while (evaluations(run).size() < 3 && System.currentTimeMillis() < deadline) {
                Thread.sleep(200);
            }
        } finally {
            evaluator.close();
            evaluatorThread.join(30_000);
        }
        List<EvaluationRecord> evaluations = evaluations(run);
        assertEquals(3, evaluations.size(), "one evaluation per epoch");
        String bestId = evaluations.get(2).best().checkpointId();
        List<Checkpoint> checkpoints = kafka.checkpoints(run);
        Checkpoint best = checkpoints.stream()
                .filter(c -> c.manifest().checkpointId().equals(bestId))
                .findFirst()
                .orElseThrow();

        Path out = dir.resolve("models/best.safetensors");
        CommandRun run1 = export("--run", run, "--best", "-o", out.toString());
        assertEquals(0, run1.exitCode(), run1.toString());
        assertTrue(
                run1.out().contains("exported checkpoint " + bestId)
                        && run1.out().contains("best by val_loss"),
                run1.out());
        SafeTensors.Document doc = read(out);
        assertSameTensors(best.parameters(), doc);
        assertEquals(bestId, doc.metadata().get("streamtrain.checkpoint"));
        assertEquals(run, doc.metadata().get("streamtrain.run"));

        JsonNode manifest = JSON.readTree(dir.resolve("models/best.json").toFile());
        assertEquals(bestId, manifest.get("checkpointId").asText());
        assertEquals(
                best.manifest().payload().sha256(),
                manifest.get("payload").get("sha256").asText(),
                "the verified payload's hash");
        assertEquals(
                CheckpointCodec.sha256(Files.readAllBytes(out)),
                manifest.get("exported").get("sha256").asText());
        assertEquals("best.safetensors", manifest.get("exported").get("file").asText());
        assertEquals(
                best.manifest().parameters().size(), manifest.get("parameters").size());

        Checkpoint epoch2 = checkpoints.stream()
                .filter(c -> c.manifest().epoch() == 2)
                .findFirst()
                .orElseThrow();
        Path all = dir.resolve("e2.safetensors");
        CommandRun run2 = export("--run", run, "--epoch", "2", "--with-optimizer", "-o", all.toString());
        assertEquals(0, run2.exitCode(), run2.toString());
        SafeTensors.Document everything = read(all);
        assertSameTensors(epoch2.payload().tensors(), everything);
        assertTrue(
                everything.tensors().size() > epoch2.parameters().size(),
                "more than the parameters: " + everything.tensors().keySet());
        assertTrue(everything.tensors().keySet().stream().anyMatch(n -> n.startsWith("anchor.")), "l2sp anchors");
        assertTrue(Files.isRegularFile(dir.resolve("e2.json")));

        CommandRun noEpoch = export(
                "--run", run, "--epoch", "9", "-o", dir.resolve("x.safetensors").toString());
        assertEquals(2, noEpoch.exitCode(), noEpoch.toString());
        assertTrue(
                noEpoch.err()
                        .contains("run export-chunks has no checkpoint of epoch 9; its checkpoints are of epochs 1-3"),
                noEpoch.err());
        CommandRun noRun = export(
                "--run",
                "export-chunsk",
                "--best",
                "-o",
                dir.resolve("x.safetensors").toString());
        assertEquals(2, noRun.exitCode(), noRun.toString());
        assertTrue(
                noRun.err().contains("no run export-chunsk") && noRun.err().contains("Is the run id right?"),
                noRun.err());
        CommandRun both = export(
                "--run",
                run,
                "--best",
                "--epoch",
                "1",
                "-o",
                dir.resolve("x.safetensors").toString());
        assertEquals(2, both.exitCode(), both.toString());
        assertTrue(!Files.exists(dir.resolve("x.safetensors")), "nothing written on a refusal");
    }

    @Test
    void aClaimCheckedRunExportsAnEpochAndRefusesBestWithoutEvaluationsAndATamperedPayload(@TempDir Path dir)
            throws Exception {
        String run = "export-claim";
        Path store = Files.createDirectories(dir.resolve("store"));
        TrainerNode node = new TrainerNode(
                RunSpecParser.parse(spec(run, "{ store: \"" + store.toUri() + "\" }")),
                kafka.settings,
                TrainerOptions.defaults("node-y").withLogEverySteps(0));
        assertEquals(TrainerNode.Outcome.FINISHED, node.run());
        List<Checkpoint> checkpoints =
                kafka.checkpoints(run, PayloadSources.none().with(store.toUri().toString()));

        CommandRun noStore = export(
                "--run", run, "--epoch", "1", "-o", dir.resolve("n.safetensors").toString());
        assertEquals(1, noStore.exitCode(), noStore.toString());
        assertTrue(
                noStore.err().contains("reads claim-checked payloads from no store")
                        && !Files.exists(dir.resolve("n.safetensors")),
                "a manifest's payload URI is untrusted: not read without the store named: " + noStore.err());
        String withStore = "--checkpoint-store=" + store.toUri();
        CommandRun noBest = export(
                "--run", run, "--best", "-o", dir.resolve("b.safetensors").toString());
        assertEquals(2, noBest.exitCode(), noBest.toString());
        assertTrue(
                noBest.err().contains("run export-claim has no evaluations yet")
                        && noBest.err().contains("--epoch E"),
                noBest.err());

        CommandRun e1 = export(
                "--run",
                run,
                "--epoch",
                "1",
                withStore,
                "-o",
                dir.resolve("e1.safetensors").toString());
        assertEquals(0, e1.exitCode(), e1.toString());
        assertSameTensors(checkpoints.get(0).parameters(), read(dir.resolve("e1.safetensors")));

        Path payload =
                Path.of(URI.create(checkpoints.get(2).manifest().payload().uri()));
        byte[] tampered = Files.readAllBytes(payload);
        tampered[tampered.length - 1] ^= 1;
        Files.write(payload, tampered);
        CommandRun bad = export(
                "--run",
                run,
                "--epoch",
                "3",
                withStore,
                "-o",
                dir.resolve("e3.safetensors").toString());
        assertEquals(1, bad.exitCode(), bad.toString());
        assertTrue(bad.err().contains("SHA-256 mismatch") && bad.err().contains("nothing was written"), bad.err());
        assertTrue(!Files.exists(dir.resolve("e3.safetensors")));
    }
}
