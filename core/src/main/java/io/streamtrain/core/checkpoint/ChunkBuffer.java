package io.streamtrain.core.checkpoint;

import io.streamtrain.core.logging.Logs;
import io.streamtrain.core.protocol.CheckpointCodec;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.OptionalLong;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Holds the chunk records of payloads until the record that describes each payload comes
 * (a checkpoint manifest, a sync contribution) and hands the payload back joined. Payloads
 * being written at the same time (several writers, interleaved chunks) assemble
 * independently; beyond {@code maxInFlight} partial payloads the oldest is dropped (its
 * writer died), so memory stays bounded. Chunks are the records {@link CheckpointCodec#chunkRecords}
 * writes.
 */
public final class ChunkBuffer {
    private static final Logger log = LoggerFactory.getLogger(ChunkBuffer.class);
    /** A payload as far as it came: {@code bytes} when every chunk is there, else null. */
    public record Joined(byte[] bytes, int received) {}

    /**
     * The most chunks one payload may claim. Chunk headers are untrusted: a count is never
     * allocated up front, and one above this (2 GiB in the smallest chunks the spec allows)
     * is refused.
     */
    public static final int MAX_CHUNKS = 1 << 21;

    private final int maxInFlight;
    private final long maxBytes;
    private final Map<String, Partial> partials = new LinkedHashMap<>();
    private long heldBytes;

    private static final class Partial {
        final int count;
        final Map<Integer, byte[]> chunks = new HashMap<>();
        final long firstOffset;
        long bytes;

        Partial(int count, long firstOffset) {
            this.count = count;
            this.firstOffset = firstOffset;
        }
    }

    /** At most {@code maxInFlight} partial payloads, holding at most a quarter of the heap between them. */
    public ChunkBuffer(int maxInFlight) {
        this(maxInFlight, Runtime.getRuntime().maxMemory() / 4);
    }

    /**
     * @param maxBytes the most chunk bytes held at once; beyond it the oldest partial payloads
     *     are dropped (their readers report them incomplete), so a flood of chunks costs at most
     *     this much memory
     */
    public ChunkBuffer(int maxInFlight, long maxBytes) {
        this.maxInFlight = maxInFlight;
        this.maxBytes = maxBytes;
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
        if (id == null || r.value() == null || count <= 0 || count > MAX_CHUNKS || index < 0 || index >= count) {
            return;
        }
        Partial p = partials.computeIfAbsent(id, k -> new Partial(count, r.offset()));
        if (p.count != count || p.chunks.containsKey(index)) {
            return;
        }
        p.chunks.put(index, r.value());
        p.bytes += r.value().length;
        heldBytes += r.value().length;
        while (!partials.isEmpty() && (partials.size() > maxInFlight || heldBytes > maxBytes)) {
            String oldest = partials.keySet().iterator().next();
            Partial dropped = drop(oldest);
            if (heldBytes + dropped.bytes > maxBytes) {
                log.warn(
                        "dropped the partial payload {} ({} bytes in {} of {} chunks): the chunks held passed {} bytes, a quarter of"
                                + " the heap; a payload this large needs a larger heap (-Xmx) or the claim-check store",
                        Logs.escape(oldest),
                        dropped.bytes,
                        dropped.chunks.size(),
                        dropped.count,
                        maxBytes);
            }
        }
    }

    /**
     * Removes payload {@code id} and joins it, if all {@code expectedChunks} of it came.
     *
     * @throws IllegalArgumentException when its chunks add up to more than one array holds
     */
    public Joined take(String id, int expectedChunks) {
        Partial p = drop(id);
        if (p == null || p.count != expectedChunks || p.chunks.size() != expectedChunks) {
            return new Joined(null, p == null ? 0 : p.chunks.size());
        }
        if (p.count == 1) {
            return new Joined(p.chunks.get(0), 1);
        }
        // one copy into an array of the exact size: payloads are megabytes, and a sync round joins one per node
        if (p.bytes > PayloadSources.MAX_PAYLOAD_BYTES) {
            throw new IllegalArgumentException(
                    "payload " + id + " is " + p.bytes + " bytes, more than a Java array holds: payloads this"
                            + " large need the claim-check store (checkpoints.store: file:///dir)");
        }
        byte[] out = new byte[(int) p.bytes];
        int at = 0;
        for (int i = 0; i < p.count; i++) {
            byte[] c = p.chunks.get(i);
            System.arraycopy(c, 0, out, at, c.length);
            at += c.length;
        }
        return new Joined(out, p.count);
    }

    /** Forgets payload {@code id} (its describing record was unreadable). */
    public void discard(String id) {
        drop(id);
    }

    private Partial drop(String id) {
        Partial p = partials.remove(id);
        if (p != null) {
            heldBytes -= p.bytes;
        }
        return p;
    }

    /**
     * The offset of the first chunk of a payload still being assembled, if any: a consumer
     * that commits its position must not commit past it, or a restart would lose those chunks.
     */
    public OptionalLong firstPendingOffset() {
        return partials.values().stream().mapToLong(p -> p.firstOffset).min();
    }
}
