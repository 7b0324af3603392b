package io.streamtrain.core.protocol;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.streamtrain.core.kafka.StartupException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Optional;
import java.util.zip.CRC32C;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;

/**
 * The sync topic's wire format, apart from the I/O (the trainer's {@code SyncChannel}): a join or a
 * contribution is a JSON document (stamped with {@link FormatVersion#SYNC}) keyed by its id,
 * its kind in header {@code streamtrain.type}; a contribution's payload travels before it in
 * chunk records (as checkpoints' do) and is checked by size and CRC32C.
 */
public final class SyncCodec {
    public static final String JOIN = "join";
    public static final String CONTRIBUTION = "contribution";
    private static final ObjectMapper JSON =
            new ObjectMapper().configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);

    private SyncCodec() {}

    public static ProducerRecord<byte[], byte[]> record(String topic, SyncMessage.Join join) {
        return record(topic, JOIN, join.id(), join);
    }

    public static ProducerRecord<byte[], byte[]> record(String topic, SyncMessage.Contribution contribution) {
        return record(topic, CONTRIBUTION, contribution.id(), contribution);
    }

    private static ProducerRecord<byte[], byte[]> record(String topic, String type, String id, Object message) {
        byte[] value;
        try {
            value = JSON.writeValueAsBytes(FormatVersion.stamp(JSON.valueToTree(message), FormatVersion.SYNC));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        RecordHeaders h = new RecordHeaders();
        h.add(CheckpointCodec.TYPE_HEADER, type.getBytes(StandardCharsets.UTF_8));
        return new ProducerRecord<>(topic, 0, id.getBytes(StandardCharsets.UTF_8), value, h);
    }

    public static SyncMessage.Join join(ConsumerRecord<byte[], byte[]> r) throws IOException {
        return JSON.treeToValue(readable(r), SyncMessage.Join.class);
    }

    public static SyncMessage.Contribution contribution(ConsumerRecord<byte[], byte[]> r) throws IOException {
        return JSON.treeToValue(readable(r), SyncMessage.Contribution.class);
    }

    /**
     * The contribution a sync-topic record holds, for readers outside the protocol (a bench
     * counting a round's bytes); empty for any other record, or one this version cannot read.
     */
    public static Optional<SyncMessage.Contribution> contributionOf(ConsumerRecord<byte[], byte[]> r) {
        if (!CONTRIBUTION.equals(CheckpointCodec.typeOf(r))) {
            return Optional.empty();
        }
        try {
            return Optional.of(contribution(r));
        } catch (IOException | StartupException e) {
            return Optional.empty();
        }
    }

    /**
     * A sync message's document, if this version reads its format. A newer one means a node of a
     * newer streamtrain joined the run: skipping it would leave every round open, so the node stops,
     * saying why (exit 2: the versions must be made the same).
     */
    private static JsonNode readable(ConsumerRecord<byte[], byte[]> r) throws IOException {
        JsonNode doc = JSON.readTree(r.value());
        if (doc == null || !doc.isObject()) {
            throw new IOException("not a JSON object");
        }
        String refusal = FormatVersion.refusal(
                "sync message " + r.offset() + " of " + r.topic(), doc, FormatVersion.FIELD, FormatVersion.SYNC);
        if (refusal != null) {
            throw new StartupException(StartupException.BAD_CONFIGURATION, refusal);
        }
        return doc;
    }

    /**
     * @param signed whether the contribution's signature was checked: its payload must then be
     *     the one its SHA-256 names, not only its CRC32C
     * @throws IllegalArgumentException when {@code bytes} are not the payload {@code c} names
     */
    public static void verify(SyncMessage.Contribution c, byte[] bytes, boolean signed) {
        verify(c, bytes);
        if (signed && (c.payload().sha256() == null || !c.payload().sha256().equals(CheckpointCodec.sha256(bytes)))) {
            throw new IllegalArgumentException("the payload of contribution " + c.id() + " from " + c.node()
                    + " is not the one its" + " signed SHA-256 names");
        }
    }

    /** @throws IllegalArgumentException when {@code bytes} are not the payload {@code c} names */
    public static void verify(SyncMessage.Contribution c, byte[] bytes) {
        if (c.payload().crc32c() == null) {
            throw new IllegalArgumentException(
                    "contribution " + c.id() + " from " + c.node() + " carries no CRC32C: it was written by"
                            + " an older streamtrain (with a SHA-256); every node of a run must run the same version");
        }
        if (bytes.length != c.payload().size()
                || !crc32c(bytes).equals(c.payload().crc32c())) {
            throw new IllegalArgumentException("the payload of contribution " + c.id() + " from " + c.node()
                    + " does not match its" + " size and CRC32C");
        }
    }

    /** The CRC32C of {@code bytes} as contributions carry it: 8 lower-case hex digits. */
    public static String crc32c(byte[] bytes) {
        CRC32C crc = new CRC32C();
        crc.update(bytes);
        return String.format("%08x", crc.getValue());
    }
}
