package io.streamtrain.trainer.it;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.streamtrain.core.checkpoint.Checkpoint;
import io.streamtrain.core.checkpoint.CheckpointReader;
import io.streamtrain.core.checkpoint.PayloadSources;
import io.streamtrain.core.spec.RunSpecParser;
import io.streamtrain.core.topics.Topics;
import io.streamtrain.testkit.KafkaFixture;
import io.streamtrain.testkit.SafetensorsFile;
import io.streamtrain.testkit.SyntheticClusters;
import io.streamtrain.trainer.TrainerNode;
import io.streamtrain.trainer.TrainerOptions;
import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.header.Header;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * What a checkpoint is on the wire, read as an outside tool would: a JSON manifest and a
 * standard safetensors payload whose SHA-256 the manifest carries, either in chunks on the
 * checkpoint topic or in a claim-check directory with only the manifest on Kafka.
 */
@Tag("integration")
class CheckpointFormatTest {
    static final String TOPIC = "format.train";
    static final ObjectMapper JSON = new ObjectMapper();
    static final int CHUNK_BYTES = 1024;

    @RegisterExtension
    static final KafkaFixture kafka = new KafkaFixture();

    @BeforeAll
    static void broker() throws Exception {
        kafka.createTopic(TOPIC, 2);
        kafka.produce(TOPIC, 2, new SyntheticClusters(8, 3, 0.5, 0.0, 21).records(40, 10, 4));
    }

    /** hidden [64]: about 3 KB of parameters and twice that of Adam moments, so many 1 KiB chunks. */
    static String spec(String run, String checkpoints) {
        return """
                run: %s
                data: { train: %s }
                model: { type: mlp, inputs: 8, hidden: [64], classes: 3 }
                batchSize: 16
                maxEpochs: 2
                optimizer: { type: adamw, learningRate: 0.01 }
                checkpoints: %s
                """.formatted(run, TOPIC, checkpoints);
    }

    @Test
    void chunkedPayloadIsStandardSafetensorsWithTheManifestsHash() throws Exception {
        String run = "format-chunks";
        TrainerNode node = new TrainerNode(
                RunSpecParser.parse(spec(run, "{ store: kafka, chunkBytes: " + CHUNK_BYTES + " }")),
                kafka.settings,
                TrainerOptions.defaults("node-f"));
        assertEquals(TrainerNode.Outcome.FINISHED, node.run());

        List<ConsumerRecord<byte[], byte[]>> records = kafka.readAll(Topics.checkpoints(run));
        List<ConsumerRecord<byte[], byte[]>> manifests = records.stream()
                .filter(r -> "manifest".equals(header(r, "streamtrain.type")))
                .toList();
        assertEquals(2, manifests.size(), "one manifest per epoch");
        List<Checkpoint> loaded = kafka.checkpoints(run);
        for (int e = 0; e < manifests.size(); e++) {
            ConsumerRecord<byte[], byte[]> manifestRecord = manifests.get(e);
            JsonNode manifest = JSON.readTree(manifestRecord.value());
            assertEquals(e + 1, manifest.get("epoch").asInt());
            String id = manifest.get("checkpointId").asText();
            JsonNode payloadInfo = manifest.get("payload");
            assertEquals("kafka", payloadInfo.get("store").asText());

            // the chunks of this checkpoint, all before its manifest, reassembled in index order
            List<ConsumerRecord<byte[], byte[]>> chunks = records.stream()
                    .filter(r -> "chunk".equals(header(r, "streamtrain.type"))
                            && id.equals(header(r, "streamtrain.checkpoint")))
                    .sorted(Comparator.comparingInt(r -> Integer.parseInt(header(r, "streamtrain.chunk"))))
                    .toList();
            assertTrue(
                    chunks.size() >= 3,
                    id + " should need several chunks of " + CHUNK_BYTES + " bytes, has " + chunks.size());
            assertEquals(payloadInfo.get("chunks").asInt(), chunks.size(), id + " chunk count in the manifest");
            ByteArrayOutputStream joined = new ByteArrayOutputStream();
            for (int i = 0; i < chunks.size(); i++) {
                ConsumerRecord<byte[], byte[]> c = chunks.get(i);
                assertEquals(
                        Integer.toString(i), header(c, "streamtrain.chunk"), id + " chunk indexes 0..n-1, once each");
                assertEquals(Integer.toString(chunks.size()), header(c, "streamtrain.chunks"));
                assertTrue(c.value().length <= CHUNK_BYTES, "chunk " + i + " has " + c.value().length + " bytes");
                assertTrue(c.offset() < manifestRecord.offset(), "chunks precede their manifest");
                joined.writeBytes(c.value());
            }
            byte[] payload = joined.toByteArray();
            assertEquals(payloadInfo.get("size").asLong(), payload.length, id + " size");
            assertEquals(
                    payloadInfo.get("sha256").asText(), sha256(payload), id + " SHA-256 of the reassembled payload");

            Map<String, float[]> values = checkSafetensors(payload, manifest, run);
            // the project's own reader sees the same numbers the hand-parser does
            assertEquals(id, loaded.get(e).manifest().checkpointId());
            loaded.get(e).parameters().forEach((name, t) -> assertArrayEquals(t.toFloats(), values.get(name), name));
        }
    }

    @Test
    void claimCheckPutsOnlyTheManifestOnKafkaAndThePayloadInTheStore(@TempDir Path store) throws Exception {
        String run = "format-claim";
        String uri = store.toUri().toString();
        assertTrue(uri.startsWith("file:///"), uri);
        TrainerNode node = new TrainerNode(
                RunSpecParser.parse(spec(run, "{ store: \"" + uri + "\" }")),
                kafka.settings,
                TrainerOptions.defaults("node-c"));
        assertEquals(TrainerNode.Outcome.FINISHED, node.run());

        List<ConsumerRecord<byte[], byte[]>> records = kafka.readAll(Topics.checkpoints(run));
        assertEquals(
                List.of("manifest", "manifest"),
                records.stream().map(r -> header(r, "streamtrain.type")).toList(),
                "a claim check puts nothing but one manifest per epoch on the topic");
        List<Path> files = new ArrayList<>();
        for (int e = 0; e < records.size(); e++) {
            JsonNode manifest = JSON.readTree(records.get(e).value());
            assertEquals(e + 1, manifest.get("epoch").asInt());
            JsonNode payloadInfo = manifest.get("payload");
            assertEquals("file", payloadInfo.get("store").asText());
            assertEquals(0, payloadInfo.get("chunks").asInt());
            Path file = Path.of(URI.create(payloadInfo.get("uri").asText()));
            assertTrue(file.startsWith(store), file + " should be in the store " + store);
            assertTrue(Files.isRegularFile(file), file + " exists");
            byte[] payload = Files.readAllBytes(file);
            assertEquals(payloadInfo.get("size").asLong(), payload.length);
            assertEquals(payloadInfo.get("sha256").asText(), sha256(payload), file + " SHA-256");
            checkSafetensors(payload, manifest, run);
            files.add(file);
        }
        try (var dir = Files.list(store.resolve(run))) {
            assertEquals(
                    files.stream().sorted().toList(),
                    dir.sorted().toList(),
                    "one payload file per checkpoint, no leftovers");
        }

        Checkpoint latest = latest(run, PayloadSources.none().with(uri)).orElseThrow();
        assertEquals(2, latest.manifest().epoch());
        Map<String, float[]> values = checkSafetensors(
                Files.readAllBytes(files.get(1)), JSON.readTree(records.get(1).value()), run);
        latest.parameters().forEach((name, t) -> assertArrayEquals(values.get(name), t.toFloats(), name));

        // a payload altered in the store no longer matches its manifest: that checkpoint is refused, the one before is
        // used
        byte[] tampered = Files.readAllBytes(files.get(1));
        tampered[tampered.length - 1] ^= 0x01;
        Files.write(files.get(1), tampered);
        assertEquals(
                1,
                latest(run, PayloadSources.none().with(uri))
                        .orElseThrow()
                        .manifest()
                        .epoch(),
                "the tampered epoch-2 checkpoint must be rejected");
        // a reader that was not given the store reads no claim check (a manifest's URI is untrusted)
        assertEquals(Optional.empty(), latest(run, PayloadSources.none()));
    }

    private static Optional<Checkpoint> latest(String run, PayloadSources sources) {
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(kafka.settings.consumer(null))) {
            return CheckpointReader.latest(c, Topics.checkpoints(run), Duration.ofSeconds(30), sources);
        }
    }

    /**
     * Checks a payload against the safetensors specification and its manifest, by hand.
     *
     * @return the F32 values of each tensor, by name
     */
    private static Map<String, float[]> checkSafetensors(byte[] payload, JsonNode manifest, String run) {
        SafetensorsFile.Parsed doc = SafetensorsFile.parse(payload);
        String id = manifest.get("checkpointId").asText();
        assertEquals(payload.length, 8 + doc.headerLength() + doc.dataBytes());
        // the spans tile the data section: sorted by start, each begins where the last ended
        List<SafetensorsFile.Entry> bySpan = doc.tensors().values().stream()
                .sorted(Comparator.comparingLong(SafetensorsFile.Entry::begin))
                .toList();
        long at = 0;
        for (SafetensorsFile.Entry t : bySpan) {
            assertEquals(at, t.begin(), id + ": tensor data must leave no hole and not overlap");
            at = t.end();
        }
        assertEquals(doc.dataBytes(), at, id + ": the tensors cover the whole data section");
        Map<String, float[]> values = new java.util.LinkedHashMap<>();
        doc.tensors().forEach((name, t) -> {
            assertEquals("F32", t.dtype(), name);
            assertEquals(t.elements() * 4, t.end() - t.begin(), name + " " + Arrays.toString(t.shape()) + " as F32");
            float[] v = t.floats();
            for (float f : v) {
                assertTrue(Float.isFinite(f), name + " holds " + f);
            }
            values.put(name, v);
        });
        // every parameter the manifest lists is in the payload with its dtype and shape
        JsonNode params = manifest.get("parameters");
        assertTrue(params.size() >= 4, "an MLP with one hidden layer has 2 weights and 2 biases: " + params);
        for (JsonNode p : params) {
            String name = p.get("name").asText();
            SafetensorsFile.Entry t = doc.tensors().get(name);
            assertNotNull(
                    t,
                    name + " listed in the manifest but missing from the payload "
                            + doc.tensors().keySet());
            assertEquals(p.get("dtype").asText(), t.dtype(), name);
            long[] shape = new long[p.get("shape").size()];
            for (int i = 0; i < shape.length; i++) {
                shape[i] = p.get("shape").get(i).asLong();
            }
            assertArrayEquals(shape, t.shape(), name);
            // adamw's two moments of every parameter carry on from epoch to epoch (a resume continues them)
            for (String slot : List.of("m", "v")) {
                SafetensorsFile.Entry moment = doc.tensors().get("optimizer." + slot + "." + name);
                assertNotNull(
                        moment,
                        "optimizer." + slot + "." + name + " missing from the payload "
                                + doc.tensors().keySet());
                assertArrayEquals(shape, moment.shape(), "optimizer." + slot + "." + name);
            }
        }
        assertEquals("pt", doc.metadata().get("format"), "PyTorch's safetensors loader expects format=pt");
        assertEquals(run, doc.metadata().get("streamtrain.run"));
        assertEquals(manifest.get("epoch").asText(), doc.metadata().get("streamtrain.epoch"));
        return values;
    }

    private static String sha256(byte[] bytes) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
    }

    private static String header(ConsumerRecord<byte[], byte[]> r, String name) {
        Header h = r.headers().lastHeader(name);
        return h == null ? null : new String(h.value(), StandardCharsets.UTF_8);
    }
}
