package io.streamtrain.trainer.feed;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.function.BiFunction;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.MockConsumer;
import org.apache.kafka.common.TopicPartition;

/**
 * A mock consumer over a fixed log of {@code logEnd} records a partition: each poll serves every
 * assigned, unpaused partition a few records from its position, as a broker would.
 */
final class FixedLog extends MockConsumer<byte[], ByteBuffer> {
    private final long logEnd;
    private final BiFunction<Integer, Long, ConsumerRecord<byte[], ByteBuffer>> records;

    /** @param records the record at (partition, offset) */
    FixedLog(long logEnd, BiFunction<Integer, Long, ConsumerRecord<byte[], ByteBuffer>> records) {
        super("earliest");
        this.logEnd = logEnd;
        this.records = records;
    }

    @Override
    public synchronized ConsumerRecords<byte[], ByteBuffer> poll(Duration timeout) {
        if (assignment().isEmpty() && subscription().isEmpty()) {
            // as Kafka's client does (its mock does not)
            throw new IllegalStateException("Consumer is not subscribed to any topics or assigned any partitions");
        }
        for (TopicPartition tp : assignment()) {
            if (paused().contains(tp)) {
                continue;
            }
            long from = position(tp);
            for (long o = from; o < Math.min(logEnd, from + 3); o++) { // a few records a fetch
                addRecord(records.apply(tp.partition(), o));
            }
        }
        return super.poll(timeout);
    }
}
