package io.streamtrain.cli.it;

import io.streamtrain.cli.broker.EmbeddedKafka;
import io.streamtrain.core.kafka.KafkaSettings;
import io.streamtrain.core.kafka.TopicReader;
import java.time.Duration;
import java.util.List;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;

/** A real broker for one test class, with the plain-client helpers the tests share. */
final class KafkaFixture implements AutoCloseable {
    final EmbeddedKafka broker;
    final KafkaSettings settings;

    KafkaFixture() throws Exception {
        broker = EmbeddedKafka.start();
        settings = KafkaSettings.of(broker.bootstrapServers());
    }

    void createTopic(String name, int partitions) throws Exception {
        broker.createTopic(name, partitions);
    }

    /** Produces values round-robin over partitions with a plain producer, as a user's producer would. */
    void produce(String topic, int partitions, List<byte[]> values) {
        broker.produceRoundRobin(topic, partitions, values);
    }

    /** Every committed record of a topic, from the beginning to its current end. */
    List<ConsumerRecord<byte[], byte[]>> readAll(String topic) {
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(settings.consumer(null))) {
            return TopicReader.readAll(c, topic, Duration.ofSeconds(30));
        }
    }

    @Override
    public void close() {
        broker.close();
    }
}
