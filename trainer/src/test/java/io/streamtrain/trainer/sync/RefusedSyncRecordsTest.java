package io.streamtrain.trainer.sync;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;

/** What a node keeps of a sync record refused for its signature until its epoch's checkpoint dead-letters it. */
class RefusedSyncRecordsTest {
    @Test
    void aRecordOfAGenuineRecordsSizeIsKeptWithoutItsHeaders() {
        ConsumerRecord<byte[], byte[]> r = new ConsumerRecord<>(
                "streamtrain.r.sync",
                0,
                12,
                "id-1".getBytes(StandardCharsets.UTF_8),
                "{}".getBytes(StandardCharsets.UTF_8));
        r.headers().add("streamtrain.type", new byte[100]);
        SyncChannel.Refused kept = RefusedRecords.kept(r, "not signed");
        assertEquals("not signed", kept.refusal());
        assertEquals(12, kept.record().offset());
        assertArrayEquals(r.key(), kept.record().key());
        assertArrayEquals(r.value(), kept.record().value());
        assertEquals(0, kept.record().headers().toArray().length);
    }

    @Test
    void aKeyOrValueTooLargeToBeGenuineIsLeftOutAndTheRefusalSaysHowLarge() {
        // a flood of such records must not fill the heap, nor make dead letters too large for their topic
        ConsumerRecord<byte[], byte[]> r = new ConsumerRecord<>(
                "streamtrain.r.sync",
                0,
                3,
                new byte[RefusedRecords.KEY_BYTES + 1],
                new byte[RefusedRecords.VALUE_BYTES + 1]);
        SyncChannel.Refused kept = RefusedRecords.kept(r, "not signed");
        assertNull(kept.record().key());
        assertNull(kept.record().value());
        assertTrue(
                kept.refusal().startsWith("not signed")
                        && kept.refusal().contains("key of " + (RefusedRecords.KEY_BYTES + 1) + " bytes is left out")
                        && kept.refusal()
                                .contains("value of " + (RefusedRecords.VALUE_BYTES + 1) + " bytes is left out"),
                kept.refusal());
    }
}
