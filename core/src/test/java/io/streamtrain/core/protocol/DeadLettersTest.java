package io.streamtrain.core.protocol;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.nio.charset.StandardCharsets;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.Test;

/** A dead letter stays small enough for its topic whatever the record it copies: a transaction that carries it must not fail for its size. */
class DeadLettersTest {
    private static String header(ProducerRecord<byte[], byte[]> r, String name) {
        org.apache.kafka.common.header.Header h = r.headers().lastHeader(name);
        return h == null ? null : new String(h.value(), StandardCharsets.UTF_8);
    }

    @Test
    void aKeyLargerThanAnyStreamtrainWritesIsLeftOutAndItsSizeSaid() {
        byte[] key = new byte[DeadLetters.MAX_KEY_BYTES + 1];
        ProducerRecord<byte[], byte[]> d = DeadLetters.record(
                "streamtrain.r.dlq",
                new ConsumerRecord<>("streamtrain.r.sync", 0, 7, key, new byte[3]),
                "signature",
                "refused",
                "n");
        assertNull(d.key());
        assertEquals(Integer.toString(key.length), header(d, DeadLetters.KEY_OMITTED));
        assertEquals("7", header(d, DeadLetters.SOURCE_OFFSET));
        assertEquals(3, d.value().length);
    }

    @Test
    void anIdAsKeyAndASmallValueAreKept() {
        byte[] key = "c0ffee-id".getBytes(StandardCharsets.UTF_8);
        ProducerRecord<byte[], byte[]> d = DeadLetters.record(
                "streamtrain.r.dlq",
                new ConsumerRecord<>("streamtrain.r.sync", 0, 1, key, new byte[10]),
                "signature",
                "refused",
                "n",
                10);
        assertArrayEquals(key, d.key());
        assertNull(header(d, DeadLetters.KEY_OMITTED));
        assertNull(header(d, DeadLetters.VALUE_OMITTED));

        ProducerRecord<byte[], byte[]> big = DeadLetters.record(
                "streamtrain.r.dlq",
                new ConsumerRecord<>("streamtrain.r.sync", 0, 1, key, new byte[11]),
                "signature",
                "refused",
                "n",
                10);
        assertNull(big.value());
        assertEquals("11", header(big, DeadLetters.VALUE_OMITTED));
    }
}
