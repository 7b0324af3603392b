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

    private static RoundState epochEnd(int epoch, long nextOffset) {
        return new RoundState(
                epoch, epoch, 10L * epoch, java.util.Map.of(), null, null, null, 1, nextOffset, true, null);
    }

    @Test
    void theEpochBeforeTheLastKeepsItsRefusedRecordsForALateCheckpoint() {
        // a new owner of partition 0 may publish epoch 2's checkpoint after epoch 3 ended (a rebalance)
        RefusedRecords refused = new RefusedRecords(0);
        for (long offset : new long[] {5, 15, 25, 35}) {
            refused.keep(
                    new ConsumerRecord<>("streamtrain.r.sync", 0, offset, null, "{}".getBytes(StandardCharsets.UTF_8)),
                    "not signed");
        }
        refused.noteEpochEnd(epochEnd(1, 10));
        refused.noteEpochEnd(epochEnd(2, 20));
        refused.noteEpochEnd(epochEnd(3, 30));
        assertEquals(
                java.util.List.of(15L),
                refused.inEpoch(epochEnd(2, 20)).stream()
                        .map(r -> r.record().offset())
                        .toList(),
                "epoch 2's refused record, for its late checkpoint");
        assertEquals(
                java.util.List.of(25L),
                refused.inEpoch(epochEnd(3, 30)).stream()
                        .map(r -> r.record().offset())
                        .toList());
        refused.noteEpochEnd(epochEnd(4, 40));
        assertEquals(
                java.util.List.of(),
                refused.inEpoch(epochEnd(2, 20)),
                "three epochs on, epoch 2's are no node's to dead-letter");
    }
}
