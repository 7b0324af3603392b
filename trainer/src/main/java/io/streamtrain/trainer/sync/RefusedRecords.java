package io.streamtrain.trainer.sync;

import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Optional;
import java.util.TreeMap;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;

/**
 * The sync records a {@link SyncChannel} refused for their signature, held until the
 * checkpoint of their epoch dead-letters them. Only the last three epochs' are held (the one in
 * progress, the one that just ended, and the one before it, whose checkpoint a new owner of
 * partition 0 may still publish after a rebalance: see {@code EpochCheckpoints.takeOver}): an
 * epoch's checkpoint dead-letters those between the round that ended the epoch before and the
 * one that ended it ({@link #inEpoch}), so each is dead-lettered once, in the checkpoint's
 * transaction, by whichever node publishes that checkpoint (it read every record before it).
 *
 * <p>Bounded, because whoever can write to the sync topic decides how many there are and how
 * large: at most {@link #MAX_KEPT} at once, each without its headers and without a key or value
 * larger than a genuine record's. These bounds are the heap's, and tighter than {@link
 * io.streamtrain.core.protocol.DeadLetters}' key bound, which is the dead-letter topic's.
 */
final class RefusedRecords {
    /** Refused records kept for their dead letters at once; a flood beyond this is logged and counted, not kept. */
    static final int MAX_KEPT = 256;

    /** A genuine join or contribution record is a few KB, its key an id: larger ones are kept without them. */
    static final int VALUE_BYTES = 64 * 1024;

    static final int KEY_BYTES = 256;

    /** The refused records of the last three epochs this node read, by offset. */
    private final NavigableMap<Long, SyncChannel.Refused> byOffset = new TreeMap<>();

    /** Per epoch whose end this node read, the sync-log offset right after the round that ended it. */
    private final NavigableMap<Integer, Long> epochEnds = new TreeMap<>();

    /** Where this node began reading: the sync point of the checkpoint it started from (0 for none). */
    private final long readFrom;

    RefusedRecords(long readFrom) {
        this.readFrom = readFrom;
    }

    /**
     * Keeps {@code r} (as {@link #kept} makes it) for its epoch's checkpoint.
     *
     * @return false when {@link #MAX_KEPT} records are waiting already, and {@code r} is not kept
     */
    boolean keep(ConsumerRecord<byte[], byte[]> r, String refusal) {
        if (byOffset.size() >= MAX_KEPT) {
            return false;
        }
        byOffset.put(r.offset(), kept(r, refusal));
        return true;
    }

    /** {@code r} as it is kept for its dead letter: without its headers, and without a key or value too large to be genuine. */
    static SyncChannel.Refused kept(ConsumerRecord<byte[], byte[]> r, String refusal) {
        byte[] key = r.key();
        byte[] value = r.value();
        StringBuilder why = new StringBuilder(refusal);
        if (key != null && key.length > KEY_BYTES) {
            why.append("; its key of ").append(key.length).append(" bytes is left out");
            key = null;
        }
        if (value != null && value.length > VALUE_BYTES) {
            why.append("; its value of ").append(value.length).append(" bytes is left out");
            value = null;
        }
        return new SyncChannel.Refused(
                new ConsumerRecord<>(
                        r.topic(),
                        r.partition(),
                        r.offset(),
                        r.timestamp(),
                        r.timestampType(),
                        -1,
                        -1,
                        key,
                        value,
                        new RecordHeaders(),
                        Optional.empty()),
                why.toString());
    }

    /** A round that ended an epoch: refused records before the epoch ended before it are no node's to dead-letter any more. */
    void noteEpochEnd(RoundState closed) {
        if (!closed.epochEnd() || epochEnds.containsKey(closed.epoch())) {
            return;
        }
        epochEnds.put(closed.epoch(), closed.nextOffset());
        while (epochEnds.size() > 3) {
            epochEnds.pollFirstEntry();
        }
        if (epochEnds.size() == 3) {
            // kept: the records of the two epochs whose checkpoints may still be to come, and after
            byOffset.headMap(epochEnds.firstEntry().getValue()).clear();
        }
    }

    /**
     * The refused records of the epoch {@code ended} ended: those after the round that ended the
     * epoch before it (or after where this node began reading) and before the round that ended it.
     */
    List<SyncChannel.Refused> inEpoch(RoundState ended) {
        Map.Entry<Integer, Long> before = epochEnds.lowerEntry(ended.epoch());
        long from = before == null ? readFrom : before.getValue();
        return from >= ended.nextOffset()
                ? List.of()
                : List.copyOf(
                        byOffset.subMap(from, true, ended.nextOffset(), false).values());
    }
}
