package io.streamtrain.testkit;

import io.streamtrain.core.checkpoint.Checkpoint;
import io.streamtrain.core.checkpoint.CheckpointAssembler;
import io.streamtrain.core.checkpoint.CheckpointRejectedException;
import io.streamtrain.core.checkpoint.PayloadSources;
import io.streamtrain.core.kafka.KafkaSettings;
import io.streamtrain.core.kafka.TopicReader;
import io.streamtrain.core.topics.Topics;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * A real broker for one test class, with the plain-client helpers the tests share. As a
 * JUnit extension ({@code @RegisterExtension static final KafkaFixture kafka = new
 * KafkaFixture();}) it starts before the class's {@code @BeforeAll} methods and stops after
 * its {@code @AfterAll} ones; {@link #started()} gives one to close by hand.
 */
public final class KafkaFixture implements AutoCloseable, BeforeAllCallback, AfterAllCallback {
    public EmbeddedKafka broker;
    public KafkaSettings settings;

    /** A broker for a test's own scope (try-with-resources). */
    public static KafkaFixture started() throws Exception {
        KafkaFixture f = new KafkaFixture();
        f.start();
        return f;
    }

    private void start() throws Exception {
        broker = EmbeddedKafka.start();
        settings = KafkaSettings.of(broker.bootstrapServers());
    }

    @Override
    public void beforeAll(ExtensionContext context) throws Exception {
        start();
    }

    @Override
    public void afterAll(ExtensionContext context) {
        close();
    }

    public void createTopic(String name, int partitions) throws Exception {
        broker.createTopic(name, partitions);
    }

    /** Produces values round-robin over partitions with a plain producer, as a user's producer would. */
    public void produce(String topic, int partitions, List<byte[]> values) {
        broker.produceRoundRobin(topic, partitions, values);
    }

    /** Every committed record of a topic, from the beginning to its current end. */
    public List<ConsumerRecord<byte[], byte[]>> readAll(String topic) {
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(settings.consumer(null))) {
            return TopicReader.readAll(c, topic, Duration.ofSeconds(30));
        }
    }

    /** Every checkpoint of a run on its checkpoint topic, in topic order. */
    public List<Checkpoint> checkpoints(String run) throws CheckpointRejectedException {
        return checkpoints(run, PayloadSources.none());
    }

    /** @param sources where claim-checked payloads may be read from */
    public List<Checkpoint> checkpoints(String run, PayloadSources sources) throws CheckpointRejectedException {
        CheckpointAssembler assembler = new CheckpointAssembler(sources);
        List<Checkpoint> out = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> r : readAll(Topics.checkpoints(run))) {
            Checkpoint c = assembler.accept(r);
            if (c != null) {
                out.add(c);
            }
        }
        return out;
    }

    @Override
    public void close() {
        if (broker != null) {
            broker.close();
            broker = null;
        }
    }
}
