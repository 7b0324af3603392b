package io.streamtrain.trainer.sync;

import io.streamtrain.core.checkpoint.ChunkBuffer;
import io.streamtrain.core.codec.SafeTensors;
import io.streamtrain.core.codec.SafeTensorsException;
import io.streamtrain.core.kafka.KafkaSettings;
import io.streamtrain.core.logging.Logs;
import io.streamtrain.core.protocol.CheckpointCodec;
import io.streamtrain.core.protocol.SyncCodec;
import io.streamtrain.core.protocol.SyncMessage;
import io.streamtrain.core.signing.Right;
import io.streamtrain.core.signing.Signing;
import io.streamtrain.core.signing.Verdict;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A node's connection to the run's sync topic: it writes joins and contributions (payloads
 * in chunks, like checkpoints) and reads the log in order into a {@link SyncLog}.
 *
 * <p>Writes are idempotent but not transactional: an open transaction of a node that died
 * would hold every other node's read_committed reads back until it timed out, and a
 * contribution needs no atomicity with anything else — a half-written one (chunks without
 * their record) is never counted.
 */
public final class SyncChannel implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(SyncChannel.class);

    /** The log no longer has the rounds after the checkpoint this node started from. */
    public static final class TruncatedException extends RuntimeException {
        TruncatedException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /** A record read and applied to the log. */
    public record Read(long offset, SyncMessage message) {}

    /**
     * A join or contribution refused for its signature, with why: the checkpoint of its epoch
     * dead-letters it. Kept small: a key or value larger than a genuine record's is left out
     * (the refusal says how large it was) and the source's headers are not kept.
     */
    public record Refused(ConsumerRecord<byte[], byte[]> record, String refusal) {}

    private final String topic;
    private final TopicPartition partition;
    private final int chunkBytes;
    private final SyncLog syncLog;
    private final Producer<byte[], byte[]> producer;
    private final Consumer<byte[], byte[]> consumer;
    /** Partial payloads held at once: one per node writing at the same moment, with room for many nodes. */
    private static final int MAX_IN_FLIGHT = 256;

    /**
     * No byte budget below the heap: a node holds every contribution of a round to combine them
     * anyway, and a budget would only turn a heap too small for the model into a round that never
     * closes. (Chunk counts are still capped and never allocated up front.)
     */
    private final ChunkBuffer chunks = new ChunkBuffer(MAX_IN_FLIGHT, Long.MAX_VALUE);

    private final Duration sendTimeout;
    private final Signing signing;
    /** Sync records refused for their signature so far. */
    private volatile long refused;

    /** The records refused for their signature, until their epoch's checkpoint dead-letters them. */
    private final RefusedRecords refusedRecords;

    /** The records of the contribution being written, until the broker acknowledged them all. */
    private List<Future<RecordMetadata>> unacknowledged;

    /**
     * This node's last contribution that carried a payload, until the log is read past it: the
     * reader does not bring back bytes this node holds ({@link #skipOwnChunks}).
     */
    private OwnPayload own;

    /**
     * @param sent the futures of its chunks, then of its record
     * @param skipped whether the reader was moved past its chunks, to read its record next
     */
    private record OwnPayload(String id, byte[] bytes, List<Future<RecordMetadata>> sent, boolean skipped) {
        OwnPayload skip() {
            return new OwnPayload(id, bytes, sent, true);
        }
    }

    private long unacknowledgedSince;

    /**
     * @param from the offset to read from (a checkpoint's sync point), or -1 for a run without
     *     checkpoints: offset 0, the run's first record. Never the log's current beginning: a
     *     node that found no checkpoint may start after another published some and deleted the
     *     rounds before them, and must then fail ({@link TruncatedException}) and resume from
     *     those checkpoints, not replay a truncated log from round 0.
     */
    public SyncChannel(
            KafkaSettings kafka, String topic, int chunkBytes, SyncLog syncLog, long from, Duration sendTimeout) {
        this(
                new KafkaProducer<>(kafka.syncProducer(chunkBytes)),
                new KafkaConsumer<>(kafka.syncReader(chunkBytes)),
                topic,
                chunkBytes,
                syncLog,
                from,
                sendTimeout,
                kafka.signing());
    }

    /** Over the given clients (owned, and closed, by this channel): tests pass Kafka's mock clients. */
    public SyncChannel(
            Producer<byte[], byte[]> producer,
            Consumer<byte[], byte[]> consumer,
            String topic,
            int chunkBytes,
            SyncLog syncLog,
            long from,
            Duration sendTimeout) {
        this(producer, consumer, topic, chunkBytes, syncLog, from, sendTimeout, Signing.off());
    }

    /**
     * @param signing signs the joins and contributions this node writes and, when it checks
     *     signatures, ignores those no key trusted with {@code sync} signed (a round then waits
     *     for the genuine one)
     */
    public SyncChannel(
            Producer<byte[], byte[]> producer,
            Consumer<byte[], byte[]> consumer,
            String topic,
            int chunkBytes,
            SyncLog syncLog,
            long from,
            Duration sendTimeout,
            Signing signing) {
        this.signing = signing;
        this.topic = topic;
        this.partition = new TopicPartition(topic, 0);
        this.chunkBytes = chunkBytes;
        this.syncLog = syncLog;
        this.sendTimeout = sendTimeout;
        this.producer = producer;
        this.consumer = consumer;
        long readFrom = Math.max(0, from);
        this.refusedRecords = new RefusedRecords(readFrom);
        consumer.assign(List.of(partition));
        consumer.seek(partition, readFrom);
    }

    /** Writes a join; returns once the broker has it. */
    public void join(SyncMessage.Join join) {
        await(send(List.of(signing.sign(SyncCodec.record(topic, join)))));
    }

    /**
     * Hands a contribution and its payload to the producer and returns without waiting for
     * the broker: the node waits for the round to close anyway, and the round cannot close
     * before the log has this contribution, so the write and the wait overlap. {@link #poll}
     * throws if the write failed or was not acknowledged within the send timeout.
     *
     * @param payload the node's state, or null when it trained nothing this round
     * @return the bytes written
     */
    public long contribute(SyncMessage.Contribution c, byte[] payload) {
        List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
        SyncMessage.PayloadRef ref = null;
        if (payload != null) {
            records.addAll(CheckpointCodec.chunkRecords(topic, c.id(), payload, chunkBytes));
            ref = new SyncMessage.PayloadRef(
                    SyncCodec.crc32c(payload),
                    payload.length,
                    records.size(),
                    signing.key() == null ? null : CheckpointCodec.sha256(payload));
        }
        // the record counts itself approximately: its own JSON is small next to a payload
        long bytes = (payload == null ? 0 : payload.length) + 512;
        SyncMessage.Contribution withRef = new SyncMessage.Contribution(
                c.id(),
                c.generation(),
                c.node(),
                c.round(),
                c.epoch(),
                c.steps(),
                c.ranges(),
                c.sums().withSync(bytes, c.sums().syncWaitSeconds()),
                ref,
                c.ended());
        records.add(signing.sign(SyncCodec.record(topic, withRef)));
        // the previous contribution's write (done by now in all but an abandoned round): its failure must not go unsaid
        awaitPending();
        unacknowledged = send(records);
        unacknowledgedSince = System.nanoTime();
        own = payload == null ? null : new OwnPayload(c.id(), payload, unacknowledged, false);
        return bytes;
    }

    /**
     * One future per record. Each must be checked: a retriable error keeps the records in order
     * (idempotent producer), but a refused record (one larger than the topic takes) fails alone
     * while the records after it are written.
     */
    private List<Future<RecordMetadata>> send(List<ProducerRecord<byte[], byte[]>> records) {
        List<Future<RecordMetadata>> sent = new ArrayList<>(records.size());
        for (ProducerRecord<byte[], byte[]> r : records) {
            sent.add(producer.send(r));
        }
        return sent;
    }

    /** Throws if the contribution being written failed, or is still unacknowledged after the send timeout. */
    private void checkSent() {
        if (unacknowledged == null) {
            return;
        }
        if (unacknowledged.stream().allMatch(Future::isDone)) {
            awaitPending();
        } else if (System.nanoTime() - unacknowledgedSince > sendTimeout.toNanos()) {
            throw new KafkaException("could not write to " + topic + " within " + sendTimeout.toSeconds()
                    + " s: the broker has not" + " acknowledged this node's contribution");
        }
    }

    /** Waits (up to the send timeout) for the contribution being written, if any; throws if it failed. */
    private void awaitPending() {
        List<Future<RecordMetadata>> pending = unacknowledged;
        unacknowledged = null;
        if (pending != null) {
            await(pending);
        }
    }

    private void await(List<Future<RecordMetadata>> sent) {
        long deadline = System.nanoTime() + sendTimeout.toNanos();
        try {
            for (Future<RecordMetadata> f : sent) {
                f.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new KafkaException("interrupted while writing to " + topic, e);
        } catch (ExecutionException e) {
            throw new KafkaException(
                    "could not write to " + topic + ": " + e.getCause().getMessage(), e.getCause());
        } catch (TimeoutException e) {
            throw new KafkaException("could not write to " + topic + " within " + sendTimeout.toSeconds() + " s", e);
        }
    }

    /**
     * Reads what the log has (waiting up to {@code timeout} for something) and applies it in
     * order.
     *
     * @throws KafkaException when this node's last contribution could not be written
     */
    public List<Read> poll(Duration timeout) {
        checkSent();
        List<Read> out = new ArrayList<>();
        long deadline = System.nanoTime() + timeout.toNanos();
        if (own != null && !own.skipped()) {
            if (!acknowledged(own.sent(), deadline)) {
                // the round this node waits for cannot close before the log has its contribution: read on once the
                // broker has it all, so that the reader can be moved past the chunks rather than bring them back
                return out;
            }
            OwnPayload written = own;
            own = null;
            checkSent(); // a record the broker refused fails the node here
            skipOwnChunks(written);
        }
        org.apache.kafka.clients.consumer.ConsumerRecords<byte[], byte[]> records;
        try {
            records = consumer.poll(Duration.ofNanos(Math.max(0, deadline - System.nanoTime())));
        } catch (org.apache.kafka.clients.consumer.OffsetOutOfRangeException e) {
            throw new TruncatedException(
                    "the rounds this node needs from " + topic + " were deleted (a newer checkpoint made"
                            + " them redundant while this node started)",
                    e);
        }
        for (ConsumerRecord<byte[], byte[]> r : records) {
            String type = CheckpointCodec.typeOf(r);
            try {
                if (CheckpointCodec.CHUNK.equals(type)) {
                    chunks.accept(r);
                } else if ((SyncCodec.JOIN.equals(type) || SyncCodec.CONTRIBUTION.equals(type)) && !trusted(r)) {
                    // refused: counted and logged by trusted()
                } else if (SyncCodec.JOIN.equals(type)) {
                    SyncMessage.Join j = SyncCodec.join(r);
                    syncLog.accept(r.offset(), r.timestamp(), j, null);
                    out.add(new Read(r.offset(), j));
                } else if (SyncCodec.CONTRIBUTION.equals(type)) {
                    SyncMessage.Contribution c = SyncCodec.contribution(r);
                    SafeTensors.Document state = c.payload() == null ? null : payload(c);
                    syncLog.accept(r.offset(), r.timestamp(), c, state);
                    out.add(new Read(r.offset(), c));
                    refusedRecords.noteEpochEnd(syncLog.lastClosed());
                } else {
                    log.warn("ignoring a record of unknown type {} at {}@{}", Logs.escape(type), topic, r.offset());
                }
            } catch (IOException | SafeTensorsException | IllegalArgumentException e) {
                log.error(
                        "ignoring an unreadable sync record at {}@{} ({}): {}",
                        topic,
                        r.offset(),
                        Logs.escape(type),
                        Logs.escape(e.toString()));
            }
        }
        return out;
    }

    private SafeTensors.Document payload(SyncMessage.Contribution c) throws SafeTensorsException {
        byte[] bytes;
        if (own != null && own.skipped() && own.id().equals(c.id())) {
            // this node's own, whose chunks the reader skipped: the bytes it wrote (checked all the same)
            bytes = own.bytes();
            own = null;
        } else {
            ChunkBuffer.Joined joined = chunks.take(c.id(), c.payload().chunks());
            if (joined.bytes() == null) {
                throw new IllegalArgumentException(
                        "the payload of contribution " + c.id() + " from " + c.node() + " is incomplete: "
                                + joined.received() + " of " + c.payload().chunks() + " chunks");
            }
            bytes = joined.bytes();
        }
        SyncCodec.verify(c, bytes, signing.checking());
        return SafeTensors.read(bytes);
    }

    /**
     * Moves the reader past this node's own chunks, which the broker has acknowledged: a lone
     * node's round is its whole state, which the log would only bring back (allocated, copied
     * out of every record, joined again) for the node to find the bytes it holds. Only where
     * nothing can be missed: the reader has read everything before the first chunk, and the
     * chunks and the contribution's record are consecutive offsets (one producer's, with nothing
     * written between them). Otherwise the log is read as it is.
     */
    private void skipOwnChunks(OwnPayload written) {
        List<Future<RecordMetadata>> sent = written.sent();
        RecordMetadata first = acknowledgement(sent.get(0));
        RecordMetadata record = acknowledgement(sent.get(sent.size() - 1));
        if (first.hasOffset()
                && record.hasOffset()
                && record.offset() - first.offset() == sent.size() - 1
                && consumer.position(partition) == first.offset()) {
            consumer.seek(partition, record.offset());
            own = written.skip();
        }
    }

    /** Whether the broker answered for every record, waiting until {@code deadline} for it (a refusal is {@link #checkSent}'s). */
    private static boolean acknowledged(List<Future<RecordMetadata>> sent, long deadline) {
        for (Future<RecordMetadata> f : sent) {
            try {
                f.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            } catch (TimeoutException e) {
                return false;
            } catch (ExecutionException e) {
                // answered, with a refusal: the records after it are answered too before checkSent reports it
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }
        return true;
    }

    private static RecordMetadata acknowledgement(Future<RecordMetadata> f) {
        try {
            return f.get(0, TimeUnit.NANOSECONDS);
        } catch (InterruptedException | ExecutionException | TimeoutException e) {
            throw new IllegalStateException("an acknowledged record has no acknowledgement", e);
        }
    }

    /** Whether a join or contribution may be believed; one that may not is logged and counted, and its payload's chunks dropped. */
    @SuppressWarnings(
            "NonAtomicVolatileUpdate") // the reading thread is refused's only writer; volatile for the metrics' reads
    private boolean trusted(ConsumerRecord<byte[], byte[]> r) {
        Verdict v = signing.verify(r, Right.SYNC);
        if (!v.accepted()) {
            refused++;
            String id = keyOf(r);
            if (id != null) {
                chunks.discard(id);
            }
            log.warn("ignoring sync record {}@{}: {}", topic, r.offset(), v.refusal());
            if (!refusedRecords.keep(r, v.refusal())) {
                log.warn(
                        "sync record {}@{} is not kept for the dead-letter topic: {} refused records are waiting"
                                + " for their epoch's checkpoint already",
                        topic,
                        r.offset(),
                        RefusedRecords.MAX_KEPT);
            }
        }
        return v.accepted();
    }

    /**
     * The refused records of the epoch {@code ended} ended: those after the round that ended the
     * epoch before it (or after where this node began reading) and before the round that ended it.
     */
    public List<Refused> refusedInEpoch(RoundState ended) {
        return refusedRecords.inEpoch(ended);
    }

    private static String keyOf(ConsumerRecord<byte[], byte[]> r) {
        return r.key() == null ? null : new String(r.key(), StandardCharsets.UTF_8);
    }

    /** Joins and contributions ignored so far because no trusted key signed them. */
    public long refused() {
        return refused;
    }

    @Override
    public void close() {
        try {
            producer.close(Duration.ofSeconds(5));
        } finally {
            consumer.close(CloseOptions.timeout(Duration.ofSeconds(5)));
        }
    }
}
