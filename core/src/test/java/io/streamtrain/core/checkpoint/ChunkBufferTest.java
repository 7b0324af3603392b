package io.streamtrain.core.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.core.protocol.CheckpointCodec;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.record.TimestampType;
import org.junit.jupiter.api.Test;

/** Chunk headers come from whoever may write the topic: they must not decide what a reader allocates. */
class ChunkBufferTest {
    private long offset;

    private ConsumerRecord<byte[], byte[]> chunk(String id, String index, String count, byte[] value) {
        RecordHeaders h = new RecordHeaders();
        h.add(CheckpointCodec.TYPE_HEADER, CheckpointCodec.CHUNK.getBytes(StandardCharsets.UTF_8));
        h.add(CheckpointCodec.ID_HEADER, id.getBytes(StandardCharsets.UTF_8));
        h.add(CheckpointCodec.CHUNK_HEADER, index.getBytes(StandardCharsets.UTF_8));
        h.add(CheckpointCodec.CHUNKS_HEADER, count.getBytes(StandardCharsets.UTF_8));
        return new ConsumerRecord<>(
                "t", 0, offset++, 0L, TimestampType.CREATE_TIME, -1, value.length, null, value, h, Optional.empty());
    }

    private ConsumerRecord<byte[], byte[]> consumed(ProducerRecord<byte[], byte[]> p) {
        return new ConsumerRecord<>(
                p.topic(),
                0,
                offset++,
                0L,
                TimestampType.CREATE_TIME,
                -1,
                p.value().length,
                p.key(),
                p.value(),
                p.headers(),
                Optional.empty());
    }

    @Test
    void aChunkClaimingBillionsOfChunksIsIgnoredAndHoldsNothing() {
        ChunkBuffer b = new ChunkBuffer(16);
        b.accept(chunk("forged", "0", Integer.toString(Integer.MAX_VALUE), new byte[] {1}));
        b.accept(chunk("forged2", "5", Integer.toString(ChunkBuffer.MAX_CHUNKS + 1), new byte[] {1}));
        b.accept(chunk("bad", "x", "2", new byte[] {1}));
        b.accept(chunk("bad", "2", "2", new byte[] {1}));
        assertEquals(OptionalLong.empty(), b.firstPendingOffset(), "nothing is held for them");
        assertNull(b.take("forged", Integer.MAX_VALUE).bytes());
    }

    @Test
    void aFloodOfChunksIsBoundedByTheByteBudgetOldestFirst() {
        ChunkBuffer b = new ChunkBuffer(1_000, 10_000);
        // 50 writers of 1 KB chunks that never finish: only the newest ~10 KB stay
        for (int w = 0; w < 50; w++) {
            b.accept(chunk("w" + w, "0", "2", new byte[1_000]));
        }
        assertEquals(0, b.take("w0", 2).received(), "the oldest was dropped");
        assertEquals(1, b.take("w49", 2).received(), "the newest is kept");
        assertTrue(
                b.firstPendingOffset().getAsLong() >= 40,
                "only recent writers hold the commit back: " + b.firstPendingOffset());
    }

    @Test
    void interleavedPayloadsStillJoinAndADuplicateChunkCountsOnce() {
        ChunkBuffer b = new ChunkBuffer(4, 1 << 20);
        byte[] one = "first payload, in three chunks".getBytes(StandardCharsets.UTF_8);
        byte[] two = "second".getBytes(StandardCharsets.UTF_8);
        List<ProducerRecord<byte[], byte[]>> a = CheckpointCodec.chunkRecords("t", "a", one, 11);
        List<ProducerRecord<byte[], byte[]>> c = CheckpointCodec.chunkRecords("t", "c", two, 4);
        b.accept(consumed(a.get(0)));
        b.accept(consumed(c.get(1)));
        b.accept(consumed(a.get(0)));
        b.accept(consumed(a.get(2)));
        b.accept(consumed(c.get(0)));
        b.accept(consumed(a.get(1)));
        assertArrayEquals(two, b.take("c", 2).bytes());
        assertArrayEquals(one, b.take("a", 3).bytes());
        assertEquals(OptionalLong.empty(), b.firstPendingOffset());
    }
}
