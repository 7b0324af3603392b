package io.streamtrain.testkit;

import java.util.Optional;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.record.TimestampType;

/** What a reader gets back for a record a producer sent: for fake topics made of Kafka's mock clients. */
public final class ReadBack {
    private ReadBack() {}

    /** {@code sent} as read from partition 0 of its topic at {@code offset}, stamped {@code timestamp}. */
    public static ConsumerRecord<byte[], byte[]> of(ProducerRecord<byte[], byte[]> sent, long offset, long timestamp) {
        return new ConsumerRecord<>(
                sent.topic(),
                0,
                offset,
                timestamp,
                TimestampType.CREATE_TIME,
                -1,
                -1,
                sent.key(),
                sent.value(),
                sent.headers(),
                Optional.empty());
    }
}
