package io.streamtrain.lab;

import io.streamtrain.core.kafka.KafkaSettings;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.LongFunction;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Live data for the lab: writes records to a topic at a fixed rate, round-robin over its
 * partitions, each sent on its own (its timestamp is when it was made), until closed.
 */
final class LiveProducer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(LiveProducer.class);
    private final Thread thread;
    private volatile Exception failure;

    private LiveProducer(
            KafkaSettings kafka, String topic, int partitions, double perSecond, LongFunction<byte[]> record) {
        long intervalNanos = (long) (1e9 / perSecond);
        thread = new Thread(
                () -> {
                    try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(kafka.producer())) {
                        long next = System.nanoTime();
                        for (long i = 0; !Thread.currentThread().isInterrupted(); i++) {
                            Future<RecordMetadata> sent = p.send(new ProducerRecord<>(
                                    topic, (int) (i % partitions), System.currentTimeMillis(), null, record.apply(i)));
                            p.flush(); // each record leaves when it is made: batching in the producer is not
                            // what is shown
                            sent.get(); // and a record the broker refused stops the producer, saying why
                            next += intervalNanos;
                            long wait = next - System.nanoTime();
                            if (wait > 0) {
                                TimeUnit.NANOSECONDS.sleep(wait);
                            }
                        }
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    } catch (RuntimeException | ExecutionException e) {
                        failure = e;
                        log.error("the live producer stopped: {}", e.toString());
                    }
                },
                "live-producer-" + topic);
        thread.setDaemon(true);
    }

    /**
     * Starts writing {@code perSecond} records a second to {@code topic}.
     *
     * @param record the i-th record's value
     */
    static LiveProducer start(
            KafkaSettings kafka, String topic, int partitions, double perSecond, LongFunction<byte[]> record) {
        LiveProducer p = new LiveProducer(kafka, topic, partitions, perSecond, record);
        p.thread.start();
        return p;
    }

    /** What stopped the producer, or null while it writes. */
    Exception failure() {
        return failure;
    }

    @Override
    public void close() throws InterruptedException {
        thread.interrupt();
        thread.join(10_000);
    }
}
