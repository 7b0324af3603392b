package io.streamtrain.trainer;

import io.streamtrain.core.topics.Topics;
import io.streamtrain.trainer.checkpoint.DeadLetters;
import io.streamtrain.trainer.feed.FeedItem;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.producer.Producer;

/** Writes the train records a node could not train on to the run's dead-letter topic. */
final class DeadLetterWriter implements AutoCloseable {

    private final Producer<byte[], byte[]> producer;
    private final String topic;
    private final String node;
    private final Duration brokerWait;

    /** Over the given producer, owned (and closed) by this writer. */
    DeadLetterWriter(Producer<byte[], byte[]> producer, String run, String node, Duration brokerWait) {
        this.producer = producer;
        this.topic = Topics.deadLetters(run);
        this.node = node;
        this.brokerWait = brokerWait;
    }

    String topic() {
        return topic;
    }

    /**
     * Writes them and returns once the broker has them all: the contribution that says a
     * round covered these records must not be written before they are.
     */
    void write(List<FeedItem.Rejected> rejected) {
        if (rejected.isEmpty()) {
            return;
        }
        Future<?> last = null;
        for (FeedItem.Rejected r : rejected) {
            last = producer.send(DeadLetters.record(topic, r, node));
        }
        try {
            last.get(brokerWait.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException e) {
            throw new IllegalStateException(
                    "could not write " + rejected.size() + " dead letters to " + topic + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        producer.close(NodePorts.CLOSE_TIMEOUT);
    }
}
