package io.streamtrain.trainer.checkpoint;

import io.streamtrain.trainer.feed.FeedItem;
import org.apache.kafka.clients.producer.ProducerRecord;

/** The trainer's dead letters: see {@link io.streamtrain.core.protocol.DeadLetters} for the headers. */
public final class DeadLetters {
    public static final String REASON = io.streamtrain.core.protocol.DeadLetters.REASON;
    public static final String DETAIL = io.streamtrain.core.protocol.DeadLetters.DETAIL;
    public static final String SOURCE_TOPIC = io.streamtrain.core.protocol.DeadLetters.SOURCE_TOPIC;
    public static final String SOURCE_PARTITION = io.streamtrain.core.protocol.DeadLetters.SOURCE_PARTITION;
    public static final String SOURCE_OFFSET = io.streamtrain.core.protocol.DeadLetters.SOURCE_OFFSET;
    public static final String NODE = io.streamtrain.core.protocol.DeadLetters.NODE;

    private DeadLetters() {}

    public static ProducerRecord<byte[], byte[]> record(String dlqTopic, FeedItem.Rejected rejected, String node) {
        return io.streamtrain.core.protocol.DeadLetters.record(
                dlqTopic, rejected.record(), rejected.reason().code(), rejected.detail(), node);
    }
}
