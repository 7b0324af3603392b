package io.streamtrain.cli.it;

import io.streamtrain.cli.broker.EmbeddedKafka;
import io.streamtrain.core.kafka.KafkaSettings;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;

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
        List<ConsumerRecord<byte[], byte[]>> out = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(settings.consumer(null))) {
            List<TopicPartition> tps = c.partitionsFor(topic, Duration.ofSeconds(10)).stream()
                    .map(i -> new TopicPartition(topic, i.partition())).toList();
            c.assign(tps);
            c.seekToBeginning(tps);
            Map<TopicPartition, Long> end = c.endOffsets(tps);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (tps.stream().anyMatch(tp -> c.position(tp) < end.get(tp)) && System.nanoTime() < deadline) {
                c.poll(Duration.ofMillis(200)).forEach(out::add);
            }
        }
        return out;
    }

    @Override
    public void close() {
        broker.close();
    }
}
