package io.streamtrain.trainer.feed;

import io.streamtrain.core.checkpoint.CheckpointManifest.OffsetRange;
import io.streamtrain.core.codec.Batch;
import io.streamtrain.core.codec.RejectReason;
import java.util.List;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * What the feed hands the training step, in order. Items carry the feed's assignment
 * generation: after a rebalance, items of an older generation are stale and skipped.
 */
public sealed interface FeedItem {
    long generation();

    /** A training batch of exactly batchSize samples (fewer only as a round's last). */
    record Samples(long generation, int epoch, Batch batch) implements FeedItem {}

    /**
     * A record that cannot be trained on; it belongs in the dead-letter topic, unless it was
     * dead-lettered before.
     *
     * @param replayed read again by a continuous run's window replay ({@code data.window.replay}):
     *     its dead letter was due when its own window read it
     */
    record Rejected(
            long generation,
            int epoch,
            ConsumerRecord<byte[], byte[]> record,
            RejectReason reason,
            String detail,
            boolean replayed)
            implements FeedItem {}

    /**
     * The end of this node's share of a sync round: {@code everySteps} batches were handed
     * out, or every assigned partition reached the end of the epoch ({@code last}). A round
     * ends at a record boundary (a record's samples are never split across rounds) and the
     * next one starts its round-robin at the first assigned partition, so a round's batches
     * depend only on its start offsets.
     *
     * @param ranges the offsets read in this round, one range per assigned partition, in partition order
     * @param ended the partitions whose share of a window of time ends at their range's end (else empty)
     * @param last every assigned partition is at the end of the epoch
     * @param group the consumer's group metadata (generation), for committing offsets in a transaction
     * @param records records read in the round
     * @param rejected records refused in the round
     * @param recordsChecksum the {@link io.streamtrain.core.checkpoint.RecordsChecksum} sum of the round's records that were not refused
     */
    record RoundEnd(
            long generation,
            int epoch,
            List<OffsetRange> ranges,
            List<Integer> ended,
            boolean last,
            ConsumerGroupMetadata group,
            long records,
            long rejected,
            long recordsChecksum)
            implements FeedItem {}
}
