package io.streamtrain.trainer.feed;

import io.streamtrain.core.checkpoint.CheckpointManifest.OffsetRange;
import io.streamtrain.core.checkpoint.RecordsChecksum;
import io.streamtrain.core.codec.Batch;
import io.streamtrain.core.codec.BatchCodec;
import io.streamtrain.core.codec.FeatureBuffers;
import io.streamtrain.core.codec.RejectedRecordException;
import io.streamtrain.core.spec.RunSpec;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.utils.Utils;

/**
 * What the feed thread makes of the records it takes, in order: each is decoded and its
 * samples re-batched to {@code batchSize}; one the codec refuses becomes a {@link
 * FeedItem.Rejected} carrying its bytes (the trainer decides whether it is a dead letter);
 * and a round's end carries the round's record counts and checksum, after its partial batch.
 * Items wait in an outbox until the prefetch queue has room for them.
 *
 * <p>Apart from the thread's loop so that the round's accounting (what a contribution reports
 * it read) sits beside the decoding that counts it. Used by the feed thread only.
 */
final class RoundItems {
    private final BatchCodec codec;
    private final Rebatcher rebatcher;
    private final PrefetchQueue<FeedItem> queue;
    private final ArrayDeque<FeedItem> outbox = new ArrayDeque<>();
    private long roundRecords;
    private long roundRejected;
    private long roundChecksum;
    private int roundBatches;

    RoundItems(RunSpec spec, FeatureBuffers featureBuffers, PrefetchQueue<FeedItem> queue) {
        this.codec = new BatchCodec(spec.model(), featureBuffers);
        this.rebatcher = new Rebatcher(
                spec.batchSize(),
                spec.model().inputs(),
                spec.model().classification(),
                spec.model().yWidth(),
                featureBuffers);
        this.queue = queue;
    }

    /** @param replayed whether {@code r} is a replayed record of a continuous run's window */
    void decode(ConsumerRecord<byte[], ByteBuffer> r, long generation, int epoch, boolean replayed) {
        roundRecords++;
        try {
            Batch b = codec.decode(r.value());
            roundChecksum += RecordsChecksum.of(r.value());
            for (Batch full : rebatcher.add(b)) {
                outbox.add(new FeedItem.Samples(generation, epoch, full));
                roundBatches++;
            }
        } catch (RejectedRecordException e) {
            roundRejected++;
            outbox.add(new FeedItem.Rejected(generation, epoch, withBytes(r), e.reason(), e.getMessage(), replayed));
        }
    }

    /** Full batches made in this round so far. */
    int batches() {
        return roundBatches;
    }

    void beginRound() {
        roundRecords = 0;
        roundRejected = 0;
        roundChecksum = 0;
        roundBatches = 0;
        rebatcher.reset();
    }

    /** Closes this node's share of a round: the partial batch goes out, then the round's ranges. */
    void endRound(
            long generation,
            int epoch,
            List<OffsetRange> ranges,
            List<Integer> ended,
            boolean last,
            ConsumerGroupMetadata group) {
        Batch rest = rebatcher.flush();
        if (rest != null) {
            outbox.add(new FeedItem.Samples(generation, epoch, rest));
        }
        outbox.add(new FeedItem.RoundEnd(
                generation, epoch, ranges, ended, last, group, roundRecords, roundRejected, roundChecksum));
    }

    /** Drops whatever is not queued yet: the partitions it came from are no longer ours. */
    void drop() {
        outbox.clear();
        rebatcher.reset();
    }

    /** Whether items wait for room in the queue. */
    boolean pending() {
        return !outbox.isEmpty();
    }

    /** Offers pending items to the queue; false while the queue is full. */
    boolean flush() throws InterruptedException {
        while (!outbox.isEmpty()) {
            FeedItem item = outbox.peekFirst();
            if (!queue.offer(item, bytesOf(item), 20, TimeUnit.MILLISECONDS)) {
                return false;
            }
            outbox.removeFirst();
        }
        return true;
    }

    private static long bytesOf(FeedItem item) {
        if (item instanceof FeedItem.Samples s) {
            return s.batch().bytes();
        }
        if (item instanceof FeedItem.Rejected r) {
            return (r.record().value() == null ? 0 : r.record().value().length) + 64L;
        }
        return 256;
    }

    /** A rejected record as its dead letter is written: the value in an array of its own (the fetch's buffer is not kept). */
    private static ConsumerRecord<byte[], byte[]> withBytes(ConsumerRecord<byte[], ByteBuffer> r) {
        byte[] value = r.value() == null ? null : Utils.toArray(r.value());
        return new ConsumerRecord<>(
                r.topic(),
                r.partition(),
                r.offset(),
                r.timestamp(),
                r.timestampType(),
                r.serializedKeySize(),
                r.serializedValueSize(),
                r.key(),
                value,
                r.headers(),
                r.leaderEpoch());
    }
}
