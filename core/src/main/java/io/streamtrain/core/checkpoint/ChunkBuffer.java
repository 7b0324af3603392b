package io.streamtrain.core.checkpoint;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.OptionalLong;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * Holds the chunk records of payloads until the record that describes each payload comes
 * (a checkpoint manifest, a sync contribution) and hands the payload back joined. Payloads
 * being written at the same time (several writers, interleaved chunks) assemble
 * independently; beyond {@code maxInFlight} partial payloads the oldest is dropped (its
 * writer died), so memory stays bounded. Chunks are the records {@link CheckpointCodec#chunkRecords}
 * writes.
 */
public final class ChunkBuffer {
    /** A payload as far as it came: {@code bytes} when every chunk is there, else null. */
    public record Joined(byte[] bytes, int received) {}

    private final int maxInFlight;
    private final Map<String, Partial> partials = new LinkedHashMap<>();

    private static final class Partial {
        final byte[][] chunks;
        final long firstOffset;
        int received;

        Partial(int count, long firstOffset) {
            chunks = new byte[count][];
            this.firstOffset = firstOffset;
        }
    }

    public ChunkBuffer(int maxInFlight) {
        this.maxInFlight = maxInFlight;
    }

    /** Keeps a chunk record; a malformed one is ignored (its payload stays incomplete, which its reader reports). */
    public void accept(ConsumerRecord<byte[], byte[]> r) {
        String id = CheckpointCodec.header(r.headers(), CheckpointCodec.ID_HEADER);
        int index;
        int count;
        try {
            index = Integer.parseInt(CheckpointCodec.header(r.headers(), CheckpointCodec.CHUNK_HEADER));
            count = Integer.parseInt(CheckpointCodec.header(r.headers(), CheckpointCodec.CHUNKS_HEADER));
        } catch (NumberFormatException e) {
            return;
        }
        if (id == null || count <= 0 || index < 0 || index >= count) {
            return;
        }
        Partial p = partials.computeIfAbsent(id, k -> new Partial(count, r.offset()));
        if (partials.size() > maxInFlight) {
            partials.remove(partials.keySet().iterator().next());
        }
        if (p.chunks.length == count && p.chunks[index] == null) {
            p.chunks[index] = r.value();
            p.received++;
        }
    }

    /**
     * Removes payload {@code id} and joins it, if all {@code expectedChunks} of it came.
     *
     * @throws IllegalArgumentException when its chunks add up to more than one array holds
     */
    public Joined take(String id, int expectedChunks) {
        Partial p = partials.remove(id);
        if (p == null || p.chunks.length != expectedChunks || p.received != expectedChunks) {
            return new Joined(null, p == null ? 0 : p.received);
        }
        if (p.chunks.length == 1) {
            return new Joined(p.chunks[0], 1);
        }
        // one copy into an array of the exact size: payloads are megabytes, and a sync round joins one per node
        long size = 0;
        for (byte[] c : p.chunks) {
            size += c.length;
        }
        if (size > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("payload " + id + " is " + size + " bytes, more than a Java array holds: payloads this"
                    + " large need the claim-check store (checkpoints.store: file:///dir)");
        }
        byte[] out = new byte[(int) size];
        int at = 0;
        for (byte[] c : p.chunks) {
            System.arraycopy(c, 0, out, at, c.length);
            at += c.length;
        }
        return new Joined(out, p.received);
    }

    /** Forgets payload {@code id} (its describing record was unreadable). */
    public void discard(String id) {
        partials.remove(id);
    }

    /**
     * The offset of the first chunk of a payload still being assembled, if any: a consumer
     * that commits its position must not commit past it, or a restart would lose those chunks.
     */
    public OptionalLong firstPendingOffset() {
        return partials.values().stream().mapToLong(p -> p.firstOffset).min();
    }
}
