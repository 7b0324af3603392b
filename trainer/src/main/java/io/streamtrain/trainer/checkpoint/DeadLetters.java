package io.streamtrain.trainer.checkpoint;

import io.streamtrain.trainer.feed.FeedItem;
import java.nio.charset.StandardCharsets;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;

/**
 * The dead-letter record for a refused input: the original key and value untouched, and
 * headers that say why and where it came from, so an operator can fix and replay it.
 */
public final class DeadLetters {
    public static final String REASON = "streamtrain.dlq.reason";
    public static final String DETAIL = "streamtrain.dlq.detail";
    public static final String SOURCE_TOPIC = "streamtrain.source.topic";
    public static final String SOURCE_PARTITION = "streamtrain.source.partition";
    public static final String SOURCE_OFFSET = "streamtrain.source.offset";
    public static final String NODE = "streamtrain.node";

    private DeadLetters() {}

    public static ProducerRecord<byte[], byte[]> record(String dlqTopic, FeedItem.Rejected rejected, String node) {
        var source = rejected.record();
        RecordHeaders h = new RecordHeaders();
        h.add(REASON, utf8(rejected.reason().code()));
        h.add(DETAIL, utf8(rejected.detail()));
        h.add(SOURCE_TOPIC, utf8(source.topic()));
        h.add(SOURCE_PARTITION, utf8(Integer.toString(source.partition())));
        h.add(SOURCE_OFFSET, utf8(Long.toString(source.offset())));
        h.add(NODE, utf8(node));
        return new ProducerRecord<>(dlqTopic, null, source.key(), source.value(), h);
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
