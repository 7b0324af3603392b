package io.streamtrain.core.protocol;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.streamtrain.core.checkpoint.Checkpoint;
import io.streamtrain.core.checkpoint.CheckpointManifest;
import io.streamtrain.core.checkpoint.CheckpointRejectedException;
import io.streamtrain.core.logging.Logs;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Stream;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;

/**
 * How checkpoints travel on {@code streamtrain.<run>.checkpoints}. A checkpoint is its
 * payload chunks (when stored on Kafka) followed by its manifest, all keyed by the
 * checkpoint id and written in one transaction, so a {@code read_committed} reader sees
 * all of it or none. Record type and chunk position are headers; values are raw bytes.
 */
public final class CheckpointCodec {
    public static final String TYPE_HEADER = "streamtrain.type";
    public static final String ID_HEADER = "streamtrain.checkpoint";
    public static final String CHUNK_HEADER = "streamtrain.chunk";
    public static final String CHUNKS_HEADER = "streamtrain.chunks";
    public static final String CHUNK = "chunk";
    public static final String MANIFEST = "manifest";

    static final ObjectMapper JSON = new ObjectMapper().disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    private CheckpointCodec() {}

    public static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is required of every JVM", e);
        }
    }

    public static int chunkCount(long size, int chunkBytes) {
        return (int) Math.max(1, (size + chunkBytes - 1) / chunkBytes);
    }

    /** The chunk records of a payload stored on Kafka; the manifest record follows them. */
    public static List<ProducerRecord<byte[], byte[]>> chunkRecords(
            String topic, String checkpointId, byte[] payload, int chunkBytes) {
        int count = chunkCount(payload.length, chunkBytes);
        List<ProducerRecord<byte[], byte[]>> out = new ArrayList<>(count);
        byte[] key = checkpointId.getBytes(StandardCharsets.UTF_8);
        for (int i = 0; i < count; i++) {
            int from = i * chunkBytes;
            byte[] chunk = Arrays.copyOfRange(payload, from, Math.min(payload.length, from + chunkBytes));
            Headers h = new RecordHeaders()
                    .add(TYPE_HEADER, bytes(CHUNK))
                    .add(ID_HEADER, key)
                    .add(CHUNK_HEADER, bytes(Integer.toString(i)))
                    .add(CHUNKS_HEADER, bytes(Integer.toString(count)));
            out.add(new ProducerRecord<>(topic, 0, key, chunk, h));
        }
        return out;
    }

    public static ProducerRecord<byte[], byte[]> manifestRecord(String topic, CheckpointManifest manifest) {
        byte[] key = manifest.checkpointId().getBytes(StandardCharsets.UTF_8);
        Headers h = new RecordHeaders().add(TYPE_HEADER, bytes(MANIFEST)).add(ID_HEADER, key);
        return new ProducerRecord<>(topic, 0, key, toJson(manifest), h);
    }

    public static byte[] toJson(CheckpointManifest manifest) {
        try {
            return JSON.writeValueAsBytes(manifest);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static CheckpointManifest manifestFromJson(byte[] json) throws IOException {
        JsonNode tree = JSON.readTree(json);
        if (tree == null || !tree.isObject()) {
            throw new IOException("a manifest is a JSON object");
        }
        String refusal = FormatVersion.refusal("the manifest", tree, "version", CheckpointManifest.VERSION);
        if (refusal != null) {
            throw new IOException(refusal);
        }
        CheckpointManifest m = JSON.treeToValue(tree, CheckpointManifest.class);
        String lacks = lacks(m);
        if (lacks != null) {
            throw new IOException("the manifest has " + lacks);
        }
        return m;
    }

    /**
     * What a manifest lacks that its readers use, or null. Jackson leaves a missing field null
     * (or 0), and anyone who may write the checkpoint topic writes manifests: one with
     * {@code "payload": {}} or {@code "parameters": null} is refused here, where it is read, not
     * met as a NullPointerException in a trainer's resume (which would end every start of the run).
     */
    private static String lacks(CheckpointManifest m) {
        if (m.run() == null || m.checkpointId() == null || m.checkpointId().isEmpty()) {
            return "no run or no checkpointId";
        }
        if (m.spec() == null || !m.spec().isObject()) {
            return "no spec object";
        }
        if (m.parameters() == null
                || m.parameters().stream()
                        .anyMatch(p -> p == null || p.name() == null || p.dtype() == null || p.shape() == null)) {
            return "no parameters, or a parameter without its name, dtype or shape";
        }
        CheckpointManifest.Payload p = m.payload();
        if (p == null) {
            return "no payload section";
        }
        if (p.sha256() == null || p.size() < 0 || p.store() == null) {
            return "a payload without its sha256, size or store";
        }
        if ("kafka".equals(p.store()) ? p.chunks() < 1 : p.uri() == null) {
            return "a payload on store " + Logs.escape(p.store()) + " without its "
                    + ("kafka".equals(p.store()) ? "chunks" : "uri");
        }
        if (m.offsets() == null
                || Stream.concat(m.offsets().stream(), m.replayed().stream())
                        .anyMatch(r -> r == null || r.topic() == null)) {
            return "no offsets, or an offset range without its topic";
        }
        try {
            Instant.parse(m.time());
        } catch (RuntimeException e) {
            return "no time, or one that is not an ISO-8601 instant";
        }
        return null;
    }

    /**
     * Checks a payload against its manifest: size, SHA-256, and that it is safetensors with
     * exactly the parameters the manifest lists. Nothing half-verified is returned.
     */
    public static Checkpoint verify(CheckpointManifest m, byte[] payload) throws CheckpointRejectedException {
        String id = m.checkpointId();
        if (payload.length != m.payload().size()) {
            throw new CheckpointRejectedException(
                    id,
                    "payload has " + payload.length + " bytes, manifest says "
                            + m.payload().size());
        }
        String hash = sha256(payload);
        if (!hash.equals(m.payload().sha256())) {
            throw new CheckpointRejectedException(
                    id,
                    "SHA-256 mismatch: payload " + hash + ", manifest "
                            + Logs.escape(m.payload().sha256()));
        }
        var doc = Checkpoint.decode(id, payload);
        requirePayloadHoldsTheModel(m, payload.length);
        for (CheckpointManifest.ParameterInfo p : m.parameters()) {
            var t = doc.tensor(p.name());
            if (t == null
                    || !Arrays.equals(t.shape(), p.shape())
                    || !t.dtype().name().equals(p.dtype())) {
                throw new CheckpointRejectedException(
                        id, "parameter " + Logs.escape(p.name()) + " in the payload does not match the manifest");
            }
        }
        return new Checkpoint(m, doc);
    }

    /**
     * Refuses a manifest whose spec names a model larger than its payload can hold (two bytes a
     * value at the least: bfloat16), before anyone builds that model: the payload is bounded by
     * what was really read, the spec is a few bytes anyone who may write the topic can forge.
     * A spec that does not parse is left to the caller, which says so.
     */
    static void requirePayloadHoldsTheModel(CheckpointManifest m, long payloadBytes)
            throws CheckpointRejectedException {
        io.streamtrain.core.spec.ModelSpec model;
        try {
            model = m.runSpec().model();
        } catch (RuntimeException e) {
            return;
        }
        long least = model.parametersAtLeastSaturated();
        if (least > payloadBytes / 2) {
            throw new CheckpointRejectedException(
                    m.checkpointId(),
                    "its spec's model has at least " + least + " parameters, more than its " + payloadBytes
                            + "-byte payload can hold: a forged or corrupt manifest (the model is not built)");
        }
    }

    public static String header(Headers headers, String name) {
        Header h = headers.lastHeader(name);
        return h == null ? null : new String(h.value(), StandardCharsets.UTF_8);
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    /** Type of a record on the checkpoint topic: {@link #CHUNK}, {@link #MANIFEST} or null. */
    public static String typeOf(ConsumerRecord<byte[], byte[]> r) {
        return header(r.headers(), TYPE_HEADER);
    }
}
