package io.streamtrain.lab;

import io.streamtrain.core.checkpoint.CheckpointManifest;
import io.streamtrain.core.kafka.KafkaSettings;
import io.streamtrain.core.protocol.CheckpointCodec;
import io.streamtrain.core.topics.Topics;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TimeoutException;

/**
 * A run's checkpoints as they are committed, read from its checkpoint topic as any reader of
 * it would: how the lab follows a run's epochs (their figures are in the manifests), instead of
 * reading the nodes' log lines. One thread polls it (a Kafka consumer is single-threaded).
 */
final class CheckpointWatch implements AutoCloseable {
    private final KafkaConsumer<byte[], byte[]> consumer;
    private final TopicPartition partition;
    private boolean assigned;

    CheckpointWatch(KafkaSettings kafka, String run) {
        this.consumer = new KafkaConsumer<>(kafka.consumer(null));
        this.partition = new TopicPartition(Topics.checkpoints(run), 0);
    }

    /** The manifests committed since the last call (none before the run's first trainer made its topic); never blocks long. */
    List<CheckpointManifest> poll() {
        if (!assigned) {
            try {
                if (consumer.partitionsFor(partition.topic(), Duration.ofMillis(200))
                        .isEmpty()) {
                    return List.of();
                }
            } catch (TimeoutException noTopicYet) { // what the consumer says of a topic that does not exist
                return List.of();
            }
            consumer.assign(List.of(partition));
            consumer.seekToBeginning(List.of(partition));
            assigned = true;
        }
        List<CheckpointManifest> committed = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(10))) {
            if (CheckpointCodec.MANIFEST.equals(CheckpointCodec.typeOf(r))) {
                try {
                    committed.add(CheckpointCodec.manifestFromJson(r.value()));
                } catch (IOException e) {
                    // the run's readers skip it too (the evaluator rejects it): nothing to follow
                }
            }
        }
        return committed;
    }

    @Override
    public void close() {
        consumer.close(CloseOptions.timeout(Duration.ofSeconds(5)));
    }
}
