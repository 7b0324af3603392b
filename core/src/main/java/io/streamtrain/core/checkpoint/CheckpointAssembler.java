package io.streamtrain.core.checkpoint;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.HashMap;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * Turns the records of a checkpoint topic, in offset order, back into checkpoints. Feed it
 * every record; it answers for each manifest with a verified {@link Checkpoint}, or throws
 * {@link CheckpointRejectedException} for one that cannot be trusted. Checkpoints being
 * written at the same time (several nodes, interleaved chunks) assemble independently;
 * a reader of committed records never sees an aborted writer's chunks, and partial
 * payloads beyond {@link #MAX_IN_FLIGHT} are dropped oldest first, so memory stays bounded.
 */
public final class CheckpointAssembler {
    /** Checkpoints assembled at once; more would mean a writer that never finishes. */
    public static final int MAX_IN_FLIGHT = 16;

    private final Map<String, Partial> partials = new java.util.LinkedHashMap<>();

    private static final class Partial {
        final byte[][] chunks;
        final long firstOffset;
        int received;

        Partial(int count, long firstOffset) {
            chunks = new byte[count][];
            this.firstOffset = firstOffset;
        }
    }

    /**
     * The offset of the first chunk of a payload still being assembled, if any: a consumer
     * that commits its position must not commit past it, or a restart would lose those chunks.
     */
    public java.util.OptionalLong firstPendingOffset() {
        return partials.values().stream().mapToLong(p -> p.firstOffset).min();
    }

    /** @return the verified checkpoint when {@code record} is a manifest, otherwise null */
    public Checkpoint accept(ConsumerRecord<byte[], byte[]> record) throws CheckpointRejectedException {
        String type = CheckpointCodec.typeOf(record);
        if (CheckpointCodec.CHUNK.equals(type)) {
            acceptChunk(record);
            return null;
        }
        if (!CheckpointCodec.MANIFEST.equals(type)) {
            return null;
        }
        CheckpointManifest m;
        try {
            m = CheckpointCodec.manifestFromJson(record.value());
        } catch (IOException e) {
            String id = CheckpointCodec.header(record.headers(), CheckpointCodec.ID_HEADER);
            if (id != null) {
                partials.remove(id); // its chunks will never make a checkpoint
            }
            throw new CheckpointRejectedException(String.valueOf(id),
                    "manifest at offset " + record.offset() + " is not valid JSON: " + e.getMessage());
        }
        Partial p = partials.remove(m.checkpointId());
        if (m.payload() == null) {
            throw new CheckpointRejectedException(m.checkpointId(), "manifest has no payload section");
        }
        byte[] payload;
        if ("kafka".equals(m.payload().store())) {
            payload = join(m, p);
        } else {
            try {
                payload = PayloadStore.get(m.payload().uri());
            } catch (IOException | IllegalArgumentException e) {
                throw new CheckpointRejectedException(m.checkpointId(), "claim-checked payload " + m.payload().uri() + " cannot be read: " + e.getMessage());
            }
        }
        return CheckpointCodec.verify(m, payload);
    }

    private void acceptChunk(ConsumerRecord<byte[], byte[]> r) {
        String id = CheckpointCodec.header(r.headers(), CheckpointCodec.ID_HEADER);
        int index;
        int count;
        try {
            index = Integer.parseInt(CheckpointCodec.header(r.headers(), CheckpointCodec.CHUNK_HEADER));
            count = Integer.parseInt(CheckpointCodec.header(r.headers(), CheckpointCodec.CHUNKS_HEADER));
        } catch (NumberFormatException e) {
            return; // a malformed chunk leaves its checkpoint incomplete; the manifest check reports it
        }
        if (id == null || count <= 0 || index < 0 || index >= count) {
            return;
        }
        Partial p = partials.computeIfAbsent(id, k -> new Partial(count, r.offset()));
        if (partials.size() > MAX_IN_FLIGHT) {
            String oldest = partials.keySet().iterator().next();
            partials.remove(oldest);
        }
        if (p.chunks.length == count && p.chunks[index] == null) {
            p.chunks[index] = r.value();
            p.received++;
        }
    }

    private static byte[] join(CheckpointManifest m, Partial p) throws CheckpointRejectedException {
        int expected = m.payload().chunks();
        if (p == null || p.chunks.length != expected || p.received != expected) {
            throw new CheckpointRejectedException(m.checkpointId(), "payload incomplete: " + (p == null ? 0 : p.received)
                    + " of " + expected + " chunks on the topic");
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream((int) Math.min(Integer.MAX_VALUE - 8, m.payload().size()));
        for (byte[] c : p.chunks) {
            out.writeBytes(c == null ? new byte[0] : c);
        }
        return out.toByteArray();
    }
}
