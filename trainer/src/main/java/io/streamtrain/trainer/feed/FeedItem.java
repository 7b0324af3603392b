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

    /** A training batch of exactly batchSize samples (fewer only as an epoch's last). */
    record Samples(long generation, int epoch, Batch batch) implements FeedItem {}

    /** A record that cannot be trained on; it belongs in the dead-letter topic. */
    record Rejected(long generation, int epoch, ConsumerRecord<byte[], byte[]> record, RejectReason reason, String detail)
            implements FeedItem {}

    /**
     * Every assigned partition has been read to the end of the epoch.
     *
     * @param ranges the offset ranges this epoch covered
     * @param group the consumer's group metadata, for committing offsets in a transaction
     * @param records records read in the epoch
     * @param rejected records refused in the epoch
     */
    record EpochEnd(long generation, int epoch, List<OffsetRange> ranges, ConsumerGroupMetadata group, long records, long rejected)
            implements FeedItem {}
}
