package io.streamtrain.core.checkpoint;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.HashMap;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * Turns the records of a checkpoint topic, in offset order, back into checkpoints. Feed it
 * every record; it answers for each manifest with a verified {@link Checkpoint}, or throws
 * {@link CheckpointRejectedException} for one that cannot be trusted. Chunks of a
 * checkpoint whose manifest never comes (an aborted writer) are dropped when the next
 * manifest is seen, so memory holds at most the checkpoints in flight.
 */
public final class CheckpointAssembler {
    private final Map<String, Partial> partials = new HashMap<>();

    private static final class Partial {
        final byte[][] chunks;
        int received;

        Partial(int count) {
            chunks = new byte[count][];
        }
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
            throw new CheckpointRejectedException(String.valueOf(CheckpointCodec.header(record.headers(), CheckpointCodec.ID_HEADER)),
                    "manifest at offset " + record.offset() + " is not valid JSON: " + e.getMessage());
        }
        Partial p = partials.remove(m.checkpointId());
        // chunks of any other checkpoint were written before this manifest by an aborted writer
        partials.clear();
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
        Partial p = partials.computeIfAbsent(id, k -> new Partial(count));
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
