package io.streamtrain.core.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.streamtrain.core.codec.SafeTensors;
import io.streamtrain.core.codec.Tensor;
import io.streamtrain.core.protocol.CheckpointCodec;
import io.streamtrain.core.spec.RunSpecParser;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.function.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.record.TimestampType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CheckpointCodecTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String TOPIC = "streamtrain.r1.checkpoints";
    private static final JsonNode SPEC = RunSpecParser.toJson(RunSpecParser.parse("""
            run: r1
            data: { train: t }
            model: { inputs: 32, hidden: [16], classes: 4 }
            """));

    private long nextOffset;

    // ---------------------------------------------------------------- fixtures

    private static float[] randomFloats(int n, long seed) {
        Random r = new Random(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) r.nextGaussian();
        }
        return v;
    }

    /** Model parameters in block order. */
    private static List<Tensor> parameters(long seed) {
        return List.of(
                Tensor.ofFloats("01Linear_weight", new long[] {16, 32}, randomFloats(16 * 32, seed)),
                Tensor.ofFloats("01Linear_bias", new long[] {16}, randomFloats(16, seed + 1)),
                Tensor.ofFloats("03Linear_weight", new long[] {4, 16}, randomFloats(4 * 16, seed + 2)),
                Tensor.ofFloats("03Linear_bias", new long[] {4}, randomFloats(4, seed + 3)));
    }

    /** A payload: the parameters plus optimizer state that is not a parameter. */
    private static byte[] payload(long seed) {
        List<Tensor> all = new ArrayList<>(parameters(seed));
        all.add(Tensor.ofFloats("optimizer.m.01Linear_weight", new long[] {16, 32}, randomFloats(16 * 32, seed + 10)));
        all.add(Tensor.ofLongs("optimizer.step", new long[] {1}, new long[] {seed}));
        return SafeTensors.write(all, Map.of());
    }

    private static List<CheckpointManifest.ParameterInfo> infos(List<Tensor> ts) {
        return ts.stream()
                .map(t ->
                        new CheckpointManifest.ParameterInfo(t.name(), t.dtype().name(), t.shape()))
                .toList();
    }

    private static String sha256(byte[] b) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
    }

    private static CheckpointManifest manifest(
            String id, List<CheckpointManifest.ParameterInfo> params, CheckpointManifest.Payload payload) {
        return new CheckpointManifest(
                CheckpointManifest.VERSION,
                CheckpointManifest.TYPE,
                "r1",
                id,
                1,
                0,
                100,
                SPEC,
                params,
                payload,
                List.of(new CheckpointManifest.OffsetRange("t", 0, 0, 100)),
                Map.of("train_loss", 0.5),
                "node-0",
                "2024-01-01T00:00:00Z",
                CheckpointManifest.EPOCH,
                new CheckpointManifest.SyncPoint(7, 3),
                RecordsChecksum.format(0x1234),
                null);
    }

    private static CheckpointManifest kafkaManifest(String id, byte[] payload, int chunkBytes) throws Exception {
        int chunks = (payload.length + chunkBytes - 1) / chunkBytes;
        return manifest(
                id,
                infos(parameters(1)),
                new CheckpointManifest.Payload(sha256(payload), payload.length, "kafka", null, chunks));
    }

    private ConsumerRecord<byte[], byte[]> consumed(ProducerRecord<byte[], byte[]> p) {
        RecordHeaders h = new RecordHeaders();
        for (Header x : p.headers()) {
            h.add(x.key(), x.value());
        }
        return new ConsumerRecord<>(
                p.topic(),
                0,
                nextOffset++,
                0L,
                TimestampType.CREATE_TIME,
                p.key() == null ? -1 : p.key().length,
                p.value() == null ? -1 : p.value().length,
                p.key(),
                p.value(),
                h,
                Optional.empty());
    }

    private List<ConsumerRecord<byte[], byte[]>> consumed(List<ProducerRecord<byte[], byte[]>> ps) {
        return ps.stream().map(this::consumed).toList();
    }

    /** Feeds every record; chunks must answer null, the last record (a manifest) its checkpoint. */
    private static Checkpoint feed(
            CheckpointAssembler a, List<ConsumerRecord<byte[], byte[]>> chunks, ConsumerRecord<byte[], byte[]> manifest)
            throws CheckpointRejectedException {
        for (ConsumerRecord<byte[], byte[]> c : chunks) {
            assertNull(a.accept(c), "a chunk completes nothing");
        }
        return a.accept(manifest);
    }

    private static String header(ProducerRecord<byte[], byte[]> r, String name) {
        Header h = r.headers().lastHeader(name);
        return h == null ? null : new String(h.value(), StandardCharsets.UTF_8);
    }

    private static void assertParameters(List<Tensor> expected, Checkpoint c) {
        Map<String, Tensor> got = c.parameters();
        assertEquals(
                expected.stream().map(Tensor::name).toList(),
                new ArrayList<>(got.keySet()),
                "parameters() holds exactly the manifest's parameters, in order");
        for (Tensor t : expected) {
            assertArrayEquals(t.toFloats(), got.get(t.name()).toFloats(), t.name());
            assertArrayEquals(t.shape(), got.get(t.name()).shape(), t.name());
        }
    }

    // ---------------------------------------------------------------- chunking

    @Test
    void chunkRecordsSplitsThePayload() {
        byte[] payload = new byte[10_000];
        new Random(3).nextBytes(payload);
        int chunkBytes = 1024;
        List<ProducerRecord<byte[], byte[]>> records = CheckpointCodec.chunkRecords(TOPIC, "ck-1", payload, chunkBytes);

        assertEquals((int) Math.ceil(10_000 / 1024.0), records.size());
        ByteArrayOutputStream joined = new ByteArrayOutputStream();
        for (int i = 0; i < records.size(); i++) {
            ProducerRecord<byte[], byte[]> r = records.get(i);
            assertEquals(TOPIC, r.topic());
            assertTrue(r.value().length <= chunkBytes, "chunk " + i + " has " + r.value().length + " bytes");
            assertTrue(r.value().length > 0);
            assertEquals("ck-1", new String(r.key(), StandardCharsets.UTF_8));
            assertEquals("chunk", header(r, CheckpointCodec.TYPE_HEADER));
            assertEquals("ck-1", header(r, CheckpointCodec.ID_HEADER));
            assertEquals(String.valueOf(i), header(r, CheckpointCodec.CHUNK_HEADER));
            assertEquals(String.valueOf(records.size()), header(r, CheckpointCodec.CHUNKS_HEADER));
            joined.writeBytes(r.value());
        }
        assertArrayEquals(payload, joined.toByteArray());
    }

    @Test
    void exactMultipleHasNoEmptyTrailingChunk() {
        List<ProducerRecord<byte[], byte[]>> records = CheckpointCodec.chunkRecords(TOPIC, "ck", new byte[4096], 1024);
        assertEquals(4, records.size());
        records.forEach(r -> assertEquals(1024, r.value().length));
    }

    @Test
    void smallPayloadIsOneChunk() {
        assertEquals(
                1, CheckpointCodec.chunkRecords(TOPIC, "ck", new byte[10], 1024).size());
        assertEquals(1, CheckpointCodec.chunkCount(0, 1024));
        assertEquals(3, CheckpointCodec.chunkCount(2049, 1024));
    }

    @Test
    void manifestRecordCarriesTypeAndIdAndJson() throws Exception {
        byte[] payload = payload(1);
        CheckpointManifest m = kafkaManifest("ck-9", payload, 1024);
        ProducerRecord<byte[], byte[]> r = CheckpointCodec.manifestRecord(TOPIC, m);
        assertEquals("manifest", header(r, CheckpointCodec.TYPE_HEADER));
        assertEquals("ck-9", header(r, CheckpointCodec.ID_HEADER));
        assertEquals("ck-9", new String(r.key(), StandardCharsets.UTF_8));

        CheckpointManifest back = CheckpointCodec.manifestFromJson(r.value());
        assertEquals("ck-9", back.checkpointId());
        assertEquals(m.payload(), back.payload());
        assertEquals(m.offsets(), back.offsets());
        assertEquals(m.metrics(), back.metrics());
        assertEquals(RunSpecParser.parse(SPEC), back.runSpec());
        assertEquals(m.parameters().size(), back.parameters().size());
        assertEquals("01Linear_weight", back.parameters().get(0).name());
        assertEquals("F32", back.parameters().get(0).dtype());
        assertArrayEquals(new long[] {16, 32}, back.parameters().get(0).shape());
    }

    @Test
    void sha256IsTheStandardHexDigest() throws Exception {
        assertEquals(
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                CheckpointCodec.sha256(new byte[0]));
        byte[] p = payload(5);
        assertEquals(sha256(p), CheckpointCodec.sha256(p));
    }

    // ---------------------------------------------------------------- assembling

    @Test
    void assemblerReturnsTheVerifiedCheckpoint() throws Exception {
        byte[] payload = payload(1);
        CheckpointManifest m = kafkaManifest("ck-1", payload, 1024);
        CheckpointAssembler a = new CheckpointAssembler();
        Checkpoint c = feed(
                a,
                consumed(CheckpointCodec.chunkRecords(TOPIC, "ck-1", payload, 1024)),
                consumed(CheckpointCodec.manifestRecord(TOPIC, m)));
        assertNotNull(c);
        assertEquals("ck-1", c.manifest().checkpointId());
        assertParameters(parameters(1), c);
        assertNotNull(c.payload().tensor("optimizer.step"), "optimizer state stays in the payload");
    }

    @Test
    void chunksInAnyOrderAssemble() throws Exception {
        byte[] payload = payload(1);
        CheckpointManifest m = kafkaManifest("ck-1", payload, 1024);
        List<ConsumerRecord<byte[], byte[]>> chunks =
                new ArrayList<>(consumed(CheckpointCodec.chunkRecords(TOPIC, "ck-1", payload, 1024)));
        assertTrue(chunks.size() > 1, "the fixture must need several chunks");
        Collections.reverse(chunks);
        assertParameters(
                parameters(1),
                feed(new CheckpointAssembler(), chunks, consumed(CheckpointCodec.manifestRecord(TOPIC, m))));
    }

    @Test
    void interleavedCheckpointsOfTwoWritersBothAssemble() throws Exception {
        byte[] pa = payload(1);
        byte[] pb = payload(2);
        List<ProducerRecord<byte[], byte[]>> ca = CheckpointCodec.chunkRecords(TOPIC, "ck-a", pa, 1024);
        List<ProducerRecord<byte[], byte[]>> cb = CheckpointCodec.chunkRecords(TOPIC, "ck-b", pb, 1024);
        CheckpointAssembler a = new CheckpointAssembler();
        // A1 B1 A2 B2 ... then MA, MB: two nodes publishing at the same moment
        long firstOfB = -1;
        for (int i = 0; i < Math.max(ca.size(), cb.size()); i++) {
            if (i < ca.size()) {
                assertNull(a.accept(consumed(ca.get(i))));
            }
            if (i < cb.size()) {
                ConsumerRecord<byte[], byte[]> r = consumed(cb.get(i));
                firstOfB = firstOfB < 0 ? r.offset() : firstOfB;
                assertNull(a.accept(r));
            }
        }
        assertParameters(
                parameters(1),
                a.accept(consumed(CheckpointCodec.manifestRecord(TOPIC, kafkaManifest("ck-a", pa, 1024)))));
        assertEquals(
                firstOfB, a.firstPendingOffset().getAsLong(), "B is still being assembled from its first chunk on");
        Checkpoint b = a.accept(consumed(CheckpointCodec.manifestRecord(TOPIC, kafkaManifest("ck-b", pb, 1024))));
        assertEquals("ck-b", b.manifest().checkpointId());
        assertArrayEquals(
                parameters(2).get(0).toFloats(),
                b.parameters().get(parameters(2).get(0).name()).toFloats());
        assertTrue(a.firstPendingOffset().isEmpty(), "nothing pending");
    }

    @Test
    void recordsOfOtherTypesAreIgnored() throws Exception {
        ConsumerRecord<byte[], byte[]> untyped = consumed(new ProducerRecord<>(TOPIC, 0, null, new byte[] {1}));
        assertNull(new CheckpointAssembler().accept(untyped));
    }

    @Test
    void missingChunkIsRejected() throws Exception {
        byte[] payload = payload(1);
        CheckpointManifest m = kafkaManifest("ck-1", payload, 1024);
        List<ConsumerRecord<byte[], byte[]>> chunks =
                new ArrayList<>(consumed(CheckpointCodec.chunkRecords(TOPIC, "ck-1", payload, 1024)));
        int total = chunks.size();
        chunks.remove(1);
        CheckpointRejectedException e = assertThrows(
                CheckpointRejectedException.class,
                () -> feed(new CheckpointAssembler(), chunks, consumed(CheckpointCodec.manifestRecord(TOPIC, m))));
        assertEquals("ck-1", e.checkpointId());
        assertTrue(
                e.getMessage().contains("incomplete") && e.getMessage().contains((total - 1) + " of " + total),
                e.getMessage());
    }

    @Test
    void flippedByteFailsTheHash() throws Exception {
        byte[] payload = payload(1);
        CheckpointManifest m = kafkaManifest("ck-1", payload, 1024);
        byte[] corrupt = payload.clone();
        corrupt[corrupt.length - 3] ^= 0x01; // in the data section: still valid safetensors, different weights
        CheckpointRejectedException e = assertThrows(
                CheckpointRejectedException.class,
                () -> feed(
                        new CheckpointAssembler(),
                        consumed(CheckpointCodec.chunkRecords(TOPIC, "ck-1", corrupt, 1024)),
                        consumed(CheckpointCodec.manifestRecord(TOPIC, m))));
        assertTrue(e.getMessage().contains("SHA-256"), e.getMessage());
    }

    @Test
    void manifestSizeDifferentFromPayload() throws Exception {
        byte[] payload = payload(1);
        CheckpointManifest m = manifest(
                "ck-1",
                infos(parameters(1)),
                new CheckpointManifest.Payload(sha256(payload), payload.length + 1, "kafka", null, 1));
        CheckpointRejectedException e = assertThrows(
                CheckpointRejectedException.class,
                () -> feed(
                        new CheckpointAssembler(),
                        consumed(CheckpointCodec.chunkRecords(TOPIC, "ck-1", payload, payload.length)),
                        consumed(CheckpointCodec.manifestRecord(TOPIC, m))));
        assertTrue(
                e.getMessage().contains(String.valueOf(payload.length))
                        && e.getMessage().contains(String.valueOf(payload.length + 1)),
                e.getMessage());
    }

    @Test
    void manifestListsAParameterThePayloadLacks() throws Exception {
        byte[] payload = payload(1);
        List<CheckpointManifest.ParameterInfo> params = new ArrayList<>(infos(parameters(1)));
        params.add(new CheckpointManifest.ParameterInfo("05Linear_weight", "F32", new long[] {4, 4}));
        CheckpointManifest m = manifest(
                "ck-1", params, new CheckpointManifest.Payload(sha256(payload), payload.length, "kafka", null, 1));
        CheckpointRejectedException e =
                assertThrows(CheckpointRejectedException.class, () -> CheckpointCodec.verify(m, payload));
        assertTrue(e.getMessage().contains("05Linear_weight"), e.getMessage());
    }

    @Test
    void manifestShapeDifferentFromPayload() throws Exception {
        byte[] payload = payload(1);
        List<CheckpointManifest.ParameterInfo> params = new ArrayList<>(infos(parameters(1)));
        params.set(0, new CheckpointManifest.ParameterInfo("01Linear_weight", "F32", new long[] {32, 16}));
        CheckpointManifest m = manifest(
                "ck-1", params, new CheckpointManifest.Payload(sha256(payload), payload.length, "kafka", null, 1));
        CheckpointRejectedException e =
                assertThrows(CheckpointRejectedException.class, () -> CheckpointCodec.verify(m, payload));
        assertTrue(e.getMessage().contains("01Linear_weight"), e.getMessage());
    }

    @Test
    void payloadThatIsNotSafetensorsIsRejected() throws Exception {
        byte[] junk = "definitely not safetensors".getBytes(StandardCharsets.UTF_8);
        CheckpointManifest m = manifest(
                "ck-1",
                infos(parameters(1)),
                new CheckpointManifest.Payload(sha256(junk), junk.length, "kafka", null, 1));
        CheckpointRejectedException e =
                assertThrows(CheckpointRejectedException.class, () -> CheckpointCodec.verify(m, junk));
        assertTrue(e.getMessage().contains("safetensors"), e.getMessage());
    }

    @Test
    void manifestThatIsNotJsonIsRejected() {
        ProducerRecord<byte[], byte[]> p = CheckpointCodec.manifestRecord(TOPIC, manifest("ck-x", List.of(), null));
        ProducerRecord<byte[], byte[]> broken =
                new ProducerRecord<>(TOPIC, 0, p.key(), "{oops".getBytes(StandardCharsets.UTF_8), p.headers());
        CheckpointRejectedException e = assertThrows(
                CheckpointRejectedException.class, () -> new CheckpointAssembler().accept(consumed(broken)));
        assertEquals("ck-x", e.checkpointId());
        assertTrue(e.getMessage().contains("JSON"), e.getMessage());
    }

    /** A genuine checkpoint's manifest as JSON, changed by {@code forge}, on its record (the genuine chunks go first). */
    private ConsumerRecord<byte[], byte[]> forged(CheckpointManifest genuine, Consumer<ObjectNode> forge)
            throws Exception {
        ObjectNode json = (ObjectNode) JSON.readTree(CheckpointCodec.toJson(genuine));
        forge.accept(json);
        ProducerRecord<byte[], byte[]> p = CheckpointCodec.manifestRecord(TOPIC, genuine);
        return consumed(new ProducerRecord<>(TOPIC, 0, p.key(), JSON.writeValueAsBytes(json), p.headers()));
    }

    /**
     * Anyone who may write the checkpoint topic writes manifests. One without what its readers use
     * (a payload's store, the parameters, ...) made the assembler throw a NullPointerException,
     * which a trainer's resume does not catch: every start of the run exited 1.
     */
    @Test
    void aManifestLackingWhatItsReadersUseIsRejectedNotThrown() throws Exception {
        byte[] payload = payload(1);
        CheckpointManifest genuine = kafkaManifest("ck-f", payload, 700);
        Map<String, Consumer<ObjectNode>> forgeries = new java.util.LinkedHashMap<>();
        forgeries.put("an empty payload section", m -> m.putObject("payload"));
        forgeries.put("parameters null", m -> m.putNull("parameters"));
        forgeries.put(
                "a parameter without a shape",
                m -> ((ObjectNode) m.get("parameters").get(0)).remove("shape"));
        forgeries.put("no sha256", m -> ((ObjectNode) m.get("payload")).remove("sha256"));
        forgeries.put("no chunks", m -> ((ObjectNode) m.get("payload")).remove("chunks"));
        forgeries.put("a file store without a uri", m -> ((ObjectNode) m.get("payload")).put("store", "file"));
        forgeries.put("no spec", m -> m.remove("spec"));
        forgeries.put("offsets null", m -> m.putNull("offsets"));
        forgeries.put("a time that is not one", m -> m.put("time", "yesterday"));
        forgeries.put("no checkpointId", m -> m.remove("checkpointId"));
        for (Map.Entry<String, Consumer<ObjectNode>> f : forgeries.entrySet()) {
            CheckpointAssembler a = new CheckpointAssembler(PayloadSources.none());
            for (ConsumerRecord<byte[], byte[]> c :
                    consumed(CheckpointCodec.chunkRecords(TOPIC, "ck-f", payload, 700))) {
                a.accept(c);
            }
            ConsumerRecord<byte[], byte[]> record = forged(genuine, f.getValue());
            CheckpointRejectedException e =
                    assertThrows(CheckpointRejectedException.class, () -> a.accept(record), f.getKey());
            assertTrue(e.getMessage().contains("the manifest has "), f.getKey() + ": " + e.getMessage());
            assertEquals(
                    java.util.OptionalLong.empty(), a.firstPendingOffset(), f.getKey() + ": its chunks are dropped");
        }
        // the audit's record, as a forger writes it by hand, without chunks or headers beyond the type
        ProducerRecord<byte[], byte[]> bare = new ProducerRecord<>(
                TOPIC,
                0,
                (byte[]) null,
                "{\"version\":1,\"run\":\"r1\",\"checkpointId\":\"x\",\"epoch\":9,\"payload\":{}}"
                        .getBytes(StandardCharsets.UTF_8),
                new RecordHeaders()
                        .add(CheckpointCodec.TYPE_HEADER, CheckpointCodec.MANIFEST.getBytes(StandardCharsets.UTF_8)));
        assertThrows(CheckpointRejectedException.class, () -> new CheckpointAssembler().accept(consumed(bare)));
    }

    /** Whatever else fails while a manifest's payload is read is that record's fault: a claim check Path.of refuses. */
    @Test
    void aFailureNothingForesawRejectsTheRecord(@TempDir Path dir) throws Exception {
        byte[] payload = payload(1);
        CheckpointManifest m = manifest(
                "ck-q",
                infos(parameters(1)),
                new CheckpointManifest.Payload(
                        sha256(payload), payload.length, "file", dir.toUri() + "r1/ck-q.safetensors?x#y", 0));
        CheckpointAssembler a =
                new CheckpointAssembler(PayloadSources.none().with(dir.toUri().toString()));
        assertThrows(
                CheckpointRejectedException.class, () -> a.accept(consumed(CheckpointCodec.manifestRecord(TOPIC, m))));
    }

    /**
     * A trainer's resume reads the topic to its end and takes the latest checkpoint that
     * verifies: a forged manifest after the genuine one is skipped, not the end of the start.
     */
    @Test
    void theLatestCheckpointIsTheGenuineOnePastForgedManifests() throws Exception {
        byte[] payload = payload(1);
        CheckpointManifest genuine = kafkaManifest("ck-1", payload, 700);
        List<ConsumerRecord<byte[], byte[]>> records =
                new ArrayList<>(consumed(CheckpointCodec.chunkRecords(TOPIC, "ck-1", payload, 700)));
        records.add(consumed(CheckpointCodec.manifestRecord(TOPIC, genuine)));
        // a copy of the genuine checkpoint of a later epoch, its parameters gone; and the audit's bare manifest
        records.addAll(consumed(CheckpointCodec.chunkRecords(TOPIC, "ck-1", payload, 700)));
        records.add(forged(genuine, m -> m.put("epoch", 2).putNull("parameters")));
        records.add(forged(genuine, m -> m.put("epoch", 9).putObject("payload")));

        Optional<Checkpoint> latest = CheckpointReader.latest(
                topicOf(records), TOPIC, java.time.Duration.ofSeconds(10), PayloadSources.none());
        assertEquals(Optional.of(1), latest.map(c -> c.manifest().epoch()));
    }

    /**
     * A run's several checkpoints in one read (a run's every epoch scored on another topic):
     * each id's own payload, in the order asked; an id whose records do not verify is refused
     * with its reason, and an id that is not on the topic is refused too.
     */
    @Test
    void severalCheckpointsAreAssembledInOneReadEachIdItsOwn() throws Exception {
        List<ConsumerRecord<byte[], byte[]>> records = new ArrayList<>();
        Map<String, byte[]> payloads = new java.util.LinkedHashMap<>();
        for (int i = 1; i <= 3; i++) {
            byte[] payload = payload(i);
            payloads.put("ck-" + i, payload);
            records.addAll(consumed(CheckpointCodec.chunkRecords(TOPIC, "ck-" + i, payload, 700)));
            records.add(consumed(CheckpointCodec.manifestRecord(TOPIC, kafkaManifest("ck-" + i, payload, 700))));
        }
        // ck-bad's manifest names another payload's SHA-256
        records.addAll(consumed(CheckpointCodec.chunkRecords(TOPIC, "ck-bad", payload(4), 700)));
        records.add(consumed(CheckpointCodec.manifestRecord(TOPIC, kafkaManifest("ck-bad", payload(5), 700))));
        java.time.Duration timeout = java.time.Duration.ofSeconds(10);
        RunCheckpoints.Listing listing = RunCheckpoints.list(
                topicOf(records), "r1", timeout, m -> {}, io.streamtrain.core.signing.Signing.off());

        Map<String, Checkpoint> got = RunCheckpoints.assemble(
                topicOf(records),
                listing,
                List.of("ck-3", "ck-1"),
                timeout,
                PayloadSources.none(),
                io.streamtrain.core.signing.Signing.off());
        assertEquals(List.of("ck-3", "ck-1"), new ArrayList<>(got.keySet()));
        for (Map.Entry<String, Checkpoint> e : got.entrySet()) {
            assertEquals(e.getKey(), e.getValue().manifest().checkpointId());
            assertArrayEquals(
                    SafeTensors.read(payloads.get(e.getKey()))
                            .tensor("01Linear_weight")
                            .toFloats(),
                    e.getValue().parameters().get("01Linear_weight").toFloats(),
                    e.getKey());
        }
        CheckpointRejectedException bad = assertThrows(
                CheckpointRejectedException.class,
                () -> RunCheckpoints.assemble(
                        topicOf(records),
                        listing,
                        List.of("ck-2", "ck-bad"),
                        timeout,
                        PayloadSources.none(),
                        io.streamtrain.core.signing.Signing.off()));
        assertEquals("ck-bad", bad.checkpointId());
        CheckpointRejectedException missing = assertThrows(
                CheckpointRejectedException.class,
                () -> RunCheckpoints.assemble(
                        topicOf(records),
                        listing,
                        "ck-9",
                        timeout,
                        PayloadSources.none(),
                        io.streamtrain.core.signing.Signing.off()));
        assertTrue(missing.getMessage().contains("could not be assembled"), missing.getMessage());
    }

    /** The checkpoint topic holding {@code records} at offsets 0, 1, ..., read by a mock consumer. */
    private static org.apache.kafka.clients.consumer.MockConsumer<byte[], byte[]> topicOf(
            List<ConsumerRecord<byte[], byte[]>> records) {
        org.apache.kafka.clients.consumer.MockConsumer<byte[], byte[]> consumer =
                new org.apache.kafka.clients.consumer.MockConsumer<>("earliest");
        org.apache.kafka.common.TopicPartition tp = new org.apache.kafka.common.TopicPartition(TOPIC, 0);
        consumer.updatePartitions(
                TOPIC, List.of(new org.apache.kafka.common.PartitionInfo(TOPIC, 0, null, null, null)));
        consumer.updateBeginningOffsets(Map.of(tp, 0L));
        consumer.updateEndOffsets(Map.of(tp, (long) records.size()));
        consumer.schedulePollTask(() -> {
            for (int i = 0; i < records.size(); i++) {
                ConsumerRecord<byte[], byte[]> r = records.get(i);
                consumer.addRecord(new ConsumerRecord<>(
                        TOPIC,
                        0,
                        i,
                        0L,
                        TimestampType.CREATE_TIME,
                        -1,
                        -1,
                        r.key(),
                        r.value(),
                        r.headers(),
                        Optional.empty()));
            }
        });
        return consumer;
    }

    /**
     * A manifest signed by a key nobody trusts is skipped, and the skip says which key once
     * escaped: the refusal escapes the key id where it is made, so it is not escaped again.
     */
    @Test
    void aManifestSignedByAnUntrustedKeyIsSkippedAndItsKeyIdEscapedOnce() throws Exception {
        ConsumerRecord<byte[], byte[]> manifest =
                consumed(CheckpointCodec.manifestRecord(TOPIC, kafkaManifest("ck-1", payload(1), 700)));
        manifest.headers()
                .add(
                        io.streamtrain.core.signing.Signing.HEADER,
                        "bad\\key\nWARN forged:c2ln".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        io.streamtrain.core.signing.Signing signing = new io.streamtrain.core.signing.Signing(
                null,
                io.streamtrain.core.signing.TrustedKeys.parse(
                        io.streamtrain.core.signing.SigningKey.generate("alice").trustedLine("operator"),
                        "trusted-keys"));
        List<String> skipped = new ArrayList<>();
        assertThrows(
                io.streamtrain.core.kafka.StartupException.class,
                () -> RunCheckpoints.list(
                        topicOf(List.of(manifest)), "r1", java.time.Duration.ofSeconds(10), skipped::add, signing),
                "no checkpoint left");
        assertEquals(1, skipped.size(), skipped.toString());
        assertTrue(
                skipped.get(0).endsWith("signed by key 'bad\\\\key\\nWARN forged', which is not trusted"),
                skipped.get(0));
    }

    @Test
    void chunksOfAnAbortedCheckpointDoNotDisturbTheNext() throws Exception {
        CheckpointAssembler a = new CheckpointAssembler();
        byte[] aborted = payload(7);
        List<ConsumerRecord<byte[], byte[]>> abortedChunks =
                consumed(CheckpointCodec.chunkRecords(TOPIC, "ck-aborted", aborted, 1024));
        for (ConsumerRecord<byte[], byte[]> c : abortedChunks.subList(0, abortedChunks.size() - 1)) {
            assertNull(a.accept(c));
        }
        byte[] payload = payload(1);
        CheckpointManifest m = kafkaManifest("ck-2", payload, 1024);
        Checkpoint c = feed(
                a,
                consumed(CheckpointCodec.chunkRecords(TOPIC, "ck-2", payload, 1024)),
                consumed(CheckpointCodec.manifestRecord(TOPIC, m)));
        assertParameters(parameters(1), c);

        // and the assembler keeps working for the one after
        byte[] p3 = payload(1);
        CheckpointManifest m3 = kafkaManifest("ck-3", p3, 512);
        assertParameters(
                parameters(1),
                feed(
                        a,
                        consumed(CheckpointCodec.chunkRecords(TOPIC, "ck-3", p3, 512)),
                        consumed(CheckpointCodec.manifestRecord(TOPIC, m3))));
    }

    @Test
    void twoCheckpointsInSequenceBothVerify() throws Exception {
        CheckpointAssembler a = new CheckpointAssembler();
        for (String id : List.of("ck-a", "ck-b")) {
            byte[] payload = payload(1);
            CheckpointManifest m = kafkaManifest(id, payload, 700);
            assertEquals(
                    id,
                    feed(
                                    a,
                                    consumed(CheckpointCodec.chunkRecords(TOPIC, id, payload, 700)),
                                    consumed(CheckpointCodec.manifestRecord(TOPIC, m)))
                            .manifest()
                            .checkpointId());
        }
    }

    // ---------------------------------------------------------------- claim check

    @Test
    void claimCheckedPayloadVerifies(@TempDir Path dir) throws Exception {
        String storeUri = dir.toUri().toString();
        assertTrue(storeUri.startsWith("file:///"), storeUri);
        byte[] payload = payload(1);
        String uri = PayloadStore.forUri(storeUri).put("r1", "ck-file", payload);
        assertArrayEquals(payload, Files.readAllBytes(Path.of(java.net.URI.create(uri))));

        CheckpointManifest m = manifest(
                "ck-file",
                infos(parameters(1)),
                new CheckpointManifest.Payload(sha256(payload), payload.length, "file", uri, 0));
        Checkpoint c = new CheckpointAssembler(PayloadSources.none().with(storeUri))
                .accept(consumed(CheckpointCodec.manifestRecord(TOPIC, m)));
        assertNotNull(c);
        assertParameters(parameters(1), c);

        CheckpointRejectedException unconfigured = assertThrows(
                CheckpointRejectedException.class,
                () -> new CheckpointAssembler(PayloadSources.none())
                        .accept(consumed(CheckpointCodec.manifestRecord(TOPIC, m))));
        assertTrue(
                unconfigured.getMessage().contains(PayloadSources.ENV),
                "says how to name the store: " + unconfigured.getMessage());
    }

    @Test
    void claimCheckedPayloadThatIsGoneIsRejected(@TempDir Path dir) throws Exception {
        byte[] payload = payload(1);
        String uri = PayloadStore.forUri(dir.toUri().toString()).put("r1", "ck-gone", payload);
        Files.delete(Path.of(java.net.URI.create(uri)));
        CheckpointManifest m = manifest(
                "ck-gone",
                infos(parameters(1)),
                new CheckpointManifest.Payload(sha256(payload), payload.length, "file", uri, 0));
        CheckpointRejectedException e = assertThrows(
                CheckpointRejectedException.class,
                () -> new CheckpointAssembler(
                                PayloadSources.none().with(dir.toUri().toString()))
                        .accept(consumed(CheckpointCodec.manifestRecord(TOPIC, m))));
        assertEquals("ck-gone", e.checkpointId());
        assertTrue(
                e.getMessage().contains("is not read: it does not exist")
                        && e.getMessage().contains(uri),
                e.getMessage());
    }

    @Test
    void claimCheckedPayloadThatWasTamperedWithIsRejected(@TempDir Path dir) throws Exception {
        byte[] payload = payload(1);
        String uri = PayloadStore.forUri(dir.toUri().toString()).put("r1", "ck-t", payload);
        CheckpointManifest m = manifest(
                "ck-t",
                infos(parameters(1)),
                new CheckpointManifest.Payload(sha256(payload), payload.length, "file", uri, 0));
        byte[] other = payload.clone();
        other[other.length - 1] ^= 0x40;
        Files.write(Path.of(java.net.URI.create(uri)), other);
        CheckpointRejectedException e = assertThrows(
                CheckpointRejectedException.class,
                () -> new CheckpointAssembler(
                                PayloadSources.none().with(dir.toUri().toString()))
                        .accept(consumed(CheckpointCodec.manifestRecord(TOPIC, m))));
        assertTrue(e.getMessage().contains("SHA-256"), e.getMessage());
    }

    @Test
    void aManifestNamingAnotherRunIsRejectedOnThisRunsTopic() throws Exception {
        byte[] payload = payload(1);
        CheckpointManifest m = kafkaManifest("ck-x", payload, 700);
        ProducerRecord<byte[], byte[]> manifest = CheckpointCodec.manifestRecord(TOPIC, m);
        ConsumerRecord<byte[], byte[]> onOtherTopic = consumed(new ProducerRecord<byte[], byte[]>(
                "streamtrain.r2.checkpoints", (Integer) null, (byte[]) null, manifest.value(), manifest.headers()));
        CheckpointAssembler a = new CheckpointAssembler(PayloadSources.none());
        for (ConsumerRecord<byte[], byte[]> c :
                consumed(CheckpointCodec.chunkRecords("streamtrain.r2.checkpoints", "ck-x", payload, 700))) {
            assertNull(a.accept(c));
        }
        CheckpointRejectedException e = assertThrows(CheckpointRejectedException.class, () -> a.accept(onOtherTopic));
        assertTrue(e.getMessage().contains("names run r1, but it is on run r2's topic"), e.getMessage());
        assertEquals(java.util.OptionalLong.empty(), a.firstPendingOffset(), "its chunks are dropped with it");
    }

    /** A forged manifest (anyone who may write the checkpoint topic) names a file the reader must not read. */
    @Test
    void aClaimCheckOutsideTheStoresOrNotARegularFileOfTheDeclaredSizeIsNotRead(@TempDir Path dir) throws Exception {
        Path store = Files.createDirectories(dir.resolve("store"));
        Path elsewhere = Files.write(dir.resolve("secret.txt"), "password=hunter2".getBytes(StandardCharsets.UTF_8));
        Path link = Files.createSymbolicLink(store.resolve("link.safetensors"), elsewhere);
        PayloadSources sources = PayloadSources.none().with(store.toUri().toString());
        Map<String, String> cases = new java.util.LinkedHashMap<>();
        cases.put("file:///proc/self/environ", "outside the stores");
        cases.put("file:///dev/zero", "outside the stores");
        cases.put(elsewhere.toUri().toString(), "outside the stores");
        cases.put(store.toUri() + "../secret.txt", "outside the stores");
        cases.put(link.toUri().toString(), "outside the stores");
        cases.put(
                Files.createDirectories(store.resolve("r1").resolve("d"))
                        .toUri()
                        .toString(),
                "not a regular file");
        cases.put("http://example.com/x", "only file:///");
        cases.put("file://host/x", "only file:///");
        for (Map.Entry<String, String> c : cases.entrySet()) {
            java.io.IOException e =
                    assertThrows(java.io.IOException.class, () -> sources.read("r1", c.getKey(), 16), c.getKey());
            assertTrue(e.getMessage().contains(c.getValue()), c.getKey() + ": " + e.getMessage());
        }
        byte[] payload = payload(1);
        String uri = PayloadStore.forUri(store.toUri().toString()).put("r1", "ck-ok", payload);
        assertArrayEquals(payload, sources.read("r1", uri, payload.length));
        assertTrue(assertThrows(java.io.IOException.class, () -> sources.read("r1", uri, payload.length + 1))
                .getMessage()
                .contains("its manifest says"));
        assertTrue(assertThrows(
                        java.io.IOException.class,
                        () -> new PayloadSources(sources.roots(), 10).read("r1", uri, payload.length))
                .getMessage()
                .contains("more than the 10 bytes"));
    }

    /**
     * Run A's manifest (anyone who may write A's checkpoint topic writes it) names run B's payload
     * in the same store: A's readers would score, export or resume from B's weights, and the
     * manifest's checks (a SHA-256 it copies from B's) would all pass.
     */
    @Test
    void aClaimCheckInAnotherRunsDirectoryIsNotRead(@TempDir Path dir) throws Exception {
        String storeUri = dir.toUri().toString();
        byte[] payload = payload(1);
        String theirs = PayloadStore.forUri(storeUri).put("r2", "r2-e0001-abcd", payload);
        PayloadSources sources = PayloadSources.none().with(storeUri);
        assertArrayEquals(payload, sources.read("r2", theirs, payload.length), "run r2 reads its own");
        java.io.IOException refused =
                assertThrows(java.io.IOException.class, () -> sources.read("r1", theirs, payload.length));
        assertTrue(refused.getMessage().contains("not in run r1's own directory"), refused.getMessage());

        // the same through the assembler, as a manifest on r1's topic naming it
        CheckpointManifest m = manifest(
                "ck-theirs",
                infos(parameters(1)),
                new CheckpointManifest.Payload(sha256(payload), payload.length, "file", theirs, 0));
        CheckpointRejectedException e = assertThrows(
                CheckpointRejectedException.class,
                () -> new CheckpointAssembler(sources).accept(consumed(CheckpointCodec.manifestRecord(TOPIC, m))));
        assertTrue(e.getMessage().contains("not in run r1's own directory"), e.getMessage());
    }

    /**
     * A payload is read whole into the heap: its declared size may not pass a quarter of it (the
     * chunks' budget too), whatever the largest payload allowed, or one forged manifest declaring
     * the size of a large file in the run's directory would take the reader out of memory.
     */
    @Test
    void aClaimCheckLargerThanAQuarterOfTheHeapIsNotRead(@TempDir Path dir) throws Exception {
        byte[] payload = payload(1);
        String uri = PayloadStore.forUri(dir.toUri().toString()).put("r1", "ck-big", payload);
        long quarter = Runtime.getRuntime().maxMemory() / 4;
        java.io.IOException e = assertThrows(
                java.io.IOException.class,
                () -> new PayloadSources(List.of(dir), Long.MAX_VALUE).read("r1", uri, quarter + 1));
        assertTrue(e.getMessage().contains("a quarter of its heap"), e.getMessage());
    }

    @Test
    void theStoresComeFromTheEnvironmentAndABadOneNamesTheVariable() {
        assertEquals(
                List.of(Path.of("/a"), Path.of("/b/c")),
                PayloadSources.fromEnvironment(Map.of(PayloadSources.ENV, "file:///a, file:///b/c/,"))
                        .roots());
        assertEquals(List.of(), PayloadSources.fromEnvironment(Map.of()).roots());
        IllegalArgumentException e = assertThrows(
                IllegalArgumentException.class,
                () -> PayloadSources.fromEnvironment(Map.of(PayloadSources.ENV, "s3://bucket")));
        assertTrue(e.getMessage().startsWith(PayloadSources.ENV), e.getMessage());
    }

    @Test
    void payloadStoreRefusesOtherSchemes() {
        assertThrows(IllegalArgumentException.class, () -> PayloadStore.forUri("s3://bucket/x"));
    }
}
