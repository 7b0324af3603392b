package io.streamtrain.core.protocol;

import java.nio.charset.StandardCharsets;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;

/**
 * The dead-letter record for a refused input, written by trainers and the evaluator alike:
 * the original key and value untouched, and headers that say why and where it came from,
 * so an operator can fix and replay it.
 */
public final class DeadLetters {
    public static final String REASON = "streamtrain.dlq.reason";
    public static final String DETAIL = "streamtrain.dlq.detail";
    public static final String SOURCE_TOPIC = "streamtrain.source.topic";
    public static final String SOURCE_PARTITION = "streamtrain.source.partition";
    public static final String SOURCE_OFFSET = "streamtrain.source.offset";
    public static final String NODE = "streamtrain.node";
    /** Set when the original value was too large for the dead-letter topic and left out: its size in bytes. */
    public static final String VALUE_OMITTED = "streamtrain.dlq.value.omitted";
    /** Set when the original key was larger than any streamtrain writes and left out: its size in bytes. */
    public static final String KEY_OMITTED = "streamtrain.dlq.key.omitted";

    /**
     * Keys up to this size are kept: streamtrain's are ids (a few dozen bytes); a forged one
     * near the topic's record limit would make the dead letter itself too large, and its
     * transaction fail for good.
     */
    public static final int MAX_KEY_BYTES = 1024;

    /**
     * The reason of a record on a run's own topics refused for its signature (missing, unknown
     * key, a key without the right): dead-lettered, never acted on.
     */
    public static final String SIGNATURE = "signature";

    private DeadLetters() {}

    /**
     * @param reason a stable code ({@code decode}, {@code shape}, ..., {@code checkpoint-rejected})
     * @param detail one human sentence
     * @param node the process that refused it
     */
    public static ProducerRecord<byte[], byte[]> record(
            String dlqTopic, ConsumerRecord<byte[], byte[]> source, String reason, String detail, String node) {
        return record(dlqTopic, source, reason, detail, node, Integer.MAX_VALUE);
    }

    /**
     * @param maxValueBytes a value larger than this is left out (the headers say where it is
     *     and how large it was), so one oversized record cannot block the dead-letter topic
     */
    public static ProducerRecord<byte[], byte[]> record(
            String dlqTopic,
            ConsumerRecord<byte[], byte[]> source,
            String reason,
            String detail,
            String node,
            int maxValueBytes) {
        RecordHeaders h = new RecordHeaders();
        h.add(REASON, utf8(reason));
        h.add(DETAIL, utf8(detail));
        h.add(SOURCE_TOPIC, utf8(source.topic()));
        h.add(SOURCE_PARTITION, utf8(Integer.toString(source.partition())));
        h.add(SOURCE_OFFSET, utf8(Long.toString(source.offset())));
        h.add(NODE, utf8(node));
        byte[] value = source.value();
        if (value != null && value.length > maxValueBytes) {
            h.add(VALUE_OMITTED, utf8(Integer.toString(value.length)));
            value = null;
        }
        byte[] key = source.key();
        if (key != null && key.length > MAX_KEY_BYTES) {
            h.add(KEY_OMITTED, utf8(Integer.toString(key.length)));
            key = null;
        }
        return new ProducerRecord<>(dlqTopic, null, key, value, h);
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
