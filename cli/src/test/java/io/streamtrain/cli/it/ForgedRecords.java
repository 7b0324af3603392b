package io.streamtrain.cli.it;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.streamtrain.core.protocol.CheckpointCodec;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeaders;

/** What the tests of untrusted topics write as a forger would: genuine checkpoints copied and changed, raw records. */
final class ForgedRecords {
    private static final ObjectMapper JSON = new ObjectMapper();

    private ForgedRecords() {}

    /** The records (chunks and manifest) of the checkpoint of {@code epoch} among {@code records}. */
    static List<ConsumerRecord<byte[], byte[]>> ofEpoch(List<ConsumerRecord<byte[], byte[]>> records, int epoch) {
        String marker = String.format("-e%04d-", epoch);
        return records.stream()
                .filter(r -> header(r, CheckpointCodec.ID_HEADER).contains(marker))
                .toList();
    }

    /** The source checkpoint's records on {@code topic}, its manifest naming {@code run} and changed by {@code forge}. */
    static void copy(
            KafkaProducer<byte[], byte[]> p,
            List<ConsumerRecord<byte[], byte[]>> source,
            String topic,
            String run,
            Consumer<ObjectNode> forge)
            throws Exception {
        copy(p, source, topic, run, null, forge);
    }

    /**
     * The source checkpoint's records on {@code topic} as checkpoint {@code id} (its own id when
     * null), its manifest naming {@code run} and changed by {@code forge}.
     */
    static void copy(
            KafkaProducer<byte[], byte[]> p,
            List<ConsumerRecord<byte[], byte[]>> source,
            String topic,
            String run,
            String id,
            Consumer<ObjectNode> forge)
            throws Exception {
        for (ConsumerRecord<byte[], byte[]> r : source) {
            byte[] key = id == null ? r.key() : bytes(id);
            byte[] value = r.value();
            RecordHeaders headers = new RecordHeaders(r.headers().toArray());
            if (id != null) {
                headers.remove(CheckpointCodec.ID_HEADER);
                headers.add(CheckpointCodec.ID_HEADER, key);
            }
            if (CheckpointCodec.MANIFEST.equals(header(r, CheckpointCodec.TYPE_HEADER))) {
                ObjectNode m = (ObjectNode) JSON.readTree(value);
                m.put("run", run);
                if (id != null) {
                    m.put("checkpointId", id);
                }
                ((ObjectNode) m.get("spec")).put("run", run);
                forge.accept(m);
                value = JSON.writeValueAsBytes(m);
            }
            send(p, new ProducerRecord<>(topic, 0, key, value, headers));
        }
    }

    /** Writes {@code value} to partition 0 of {@code topic}, without key or headers, and waits for the broker to have it. */
    static void send(KafkaProducer<byte[], byte[]> p, String topic, byte[] value) throws Exception {
        send(p, new ProducerRecord<>(topic, value));
    }

    /** Writes {@code r} and waits for the broker to have it. */
    static void send(KafkaProducer<byte[], byte[]> p, ProducerRecord<byte[], byte[]> r) throws Exception {
        p.send(r).get(10, TimeUnit.SECONDS);
    }

    static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    /** The last value of header {@code key}, or null. */
    static String header(ConsumerRecord<byte[], byte[]> r, String key) {
        Header h = r.headers().lastHeader(key);
        return h == null ? null : new String(h.value(), StandardCharsets.UTF_8);
    }
}
