package io.streamtrain.core.checkpoint;

import io.streamtrain.core.logging.Logs;
import io.streamtrain.core.protocol.CheckpointCodec;
import io.streamtrain.core.signing.Right;
import io.streamtrain.core.signing.Signing;
import io.streamtrain.core.signing.Verdict;
import io.streamtrain.core.topics.Topics;
import java.io.IOException;
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

    private final ChunkBuffer chunks = new ChunkBuffer(MAX_IN_FLIGHT);
    private final PayloadSources sources;
    private final Signing signing;

    /** Reads claim-checked payloads from the stores {@value PayloadSources#ENV} names; checks no signature. */
    public CheckpointAssembler() {
        this(PayloadSources.fromEnvironment());
    }

    /** @param sources where claim-checked payloads may be read from */
    public CheckpointAssembler(PayloadSources sources) {
        this(sources, Signing.off());
    }

    /**
     * @param sources where claim-checked payloads may be read from
     * @param signing whose manifests are believed: when it checks signatures, a manifest not
     *     signed by a key trusted with {@link Right#MANIFEST} is rejected before anything it
     *     names is read
     */
    public CheckpointAssembler(PayloadSources sources, Signing signing) {
        this.sources = sources;
        this.signing = signing;
    }

    /**
     * The offset of the first chunk of a payload still being assembled, if any: a consumer
     * that commits its position must not commit past it, or a restart would lose those chunks.
     */
    public java.util.OptionalLong firstPendingOffset() {
        return chunks.firstPendingOffset();
    }

    /**
     * @return the verified checkpoint when {@code record} is a manifest, otherwise null
     * @throws CheckpointRejectedException for a manifest that cannot be trusted, and for any
     *     record whose assembly or verification failed in a way nothing here foresaw: the record
     *     is what is wrong, and every reader (a trainer's resume, the evaluator, export) skips it
     */
    public Checkpoint accept(ConsumerRecord<byte[], byte[]> record) throws CheckpointRejectedException {
        try {
            return assemble(record);
        } catch (RuntimeException e) {
            String id = CheckpointCodec.header(record.headers(), CheckpointCodec.ID_HEADER);
            if (id != null) {
                chunks.discard(id);
            }
            throw new CheckpointRejectedException(
                    String.valueOf(id),
                    "record at offset " + record.offset() + " could not be assembled: " + Logs.escape(e.toString()));
        }
    }

    private Checkpoint assemble(ConsumerRecord<byte[], byte[]> record) throws CheckpointRejectedException {
        String type = CheckpointCodec.typeOf(record);
        if (CheckpointCodec.CHUNK.equals(type)) {
            chunks.accept(record);
            return null;
        }
        if (!CheckpointCodec.MANIFEST.equals(type)) {
            return null;
        }
        Verdict verdict = signing.verify(record, Right.MANIFEST);
        if (!verdict.accepted()) {
            String id = CheckpointCodec.header(record.headers(), CheckpointCodec.ID_HEADER);
            if (id != null) {
                chunks.discard(id);
            }
            throw CheckpointRejectedException.untrusted(
                    id, "manifest at offset " + record.offset() + " is refused: " + verdict.refusal());
        }
        CheckpointManifest m;
        try {
            m = CheckpointCodec.manifestFromJson(record.value());
        } catch (IOException e) {
            String id = CheckpointCodec.header(record.headers(), CheckpointCodec.ID_HEADER);
            if (id != null) {
                chunks.discard(id); // its chunks will never make a checkpoint
            }
            throw new CheckpointRejectedException(
                    String.valueOf(id),
                    "manifest at offset " + record.offset()
                            + (e instanceof com.fasterxml.jackson.core.JsonProcessingException
                                    ? " is not valid JSON: "
                                    : " cannot be read: ")
                            + Logs.escape(e.getMessage()));
        }
        String topicRun = Topics.runOfCheckpoints(record.topic());
        if (topicRun != null && !topicRun.equals(m.run())) {
            // whoever may write this run's topic does not speak for another run
            chunks.discard(m.checkpointId());
            throw new CheckpointRejectedException(
                    m.checkpointId(),
                    "manifest at offset " + record.offset() + " names run " + Logs.escape(m.run())
                            + ", but it is on run " + topicRun + "'s topic");
        }
        byte[] payload;
        if ("kafka".equals(m.payload().store())) {
            payload = join(m, chunks.take(m.checkpointId(), m.payload().chunks()));
        } else {
            chunks.discard(m.checkpointId());
            try {
                payload = sources.read(m.run(), m.payload().uri(), m.payload().size());
            } catch (IOException e) {
                throw new CheckpointRejectedException(
                        m.checkpointId(),
                        "claim-checked payload " + Logs.escape(m.payload().uri()) + " is not read: "
                                + Logs.escape(e.getMessage()),
                        true);
            }
        }
        return CheckpointCodec.verify(m, payload);
    }

    private static byte[] join(CheckpointManifest m, ChunkBuffer.Joined joined) throws CheckpointRejectedException {
        if (joined.bytes() == null) {
            throw new CheckpointRejectedException(
                    m,
                    "payload incomplete: " + joined.received() + " of "
                            + m.payload().chunks() + " chunks on the topic");
        }
        return joined.bytes();
    }
}
