package io.streamtrain.evaluator;

import io.streamtrain.core.codec.Batch;
import io.streamtrain.core.codec.BatchCodec;
import io.streamtrain.core.codec.RejectedRecordException;
import io.streamtrain.core.kafka.TopicReader;
import io.streamtrain.core.spec.ModelSpec;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * A run's validation data: every record of the validation topic up to the end offsets seen
 * when it is loaded (bounded, like a training epoch), decoded for the run's model and held
 * in memory. Records that do not decode are kept aside for the dead-letter topic.
 *
 * @param batches the decoded records, in partition then offset order
 * @param rejected records refused, with the reason
 * @param samples total samples
 */
record ValidationSet(String topic, List<Batch> batches, List<Rejected> rejected, long samples) {

    record Rejected(ConsumerRecord<byte[], byte[]> record, RejectedRecordException reason) {}

    /** Reads {@code topic} from its beginning to its current end with an unsubscribed consumer. */
    static ValidationSet load(Consumer<byte[], byte[]> consumer, String topic, ModelSpec model, Duration timeout) {
        if (consumer.partitionsFor(topic, timeout).isEmpty()) {
            throw new IllegalArgumentException("validation topic " + topic + " does not exist");
        }
        BatchCodec codec = new BatchCodec(model);
        List<Batch> batches = new ArrayList<>();
        List<Rejected> rejected = new ArrayList<>();
        long samples = 0;
        for (ConsumerRecord<byte[], byte[]> r : TopicReader.readAll(consumer, topic, timeout)) {
            try {
                Batch b = codec.decode(r.value());
                batches.add(b);
                samples += b.samples();
            } catch (RejectedRecordException e) {
                rejected.add(new Rejected(r, e));
            }
        }
        return new ValidationSet(topic, List.copyOf(batches), List.copyOf(rejected), samples);
    }
}
