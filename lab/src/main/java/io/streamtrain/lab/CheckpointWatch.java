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
 * A run's epoch (window) checkpoints as they are committed, snapshots aside, read from its checkpoint topic as any reader of
 * it would: how the lab follows a run's epochs (their figures are in the manifests), instead of
 * reading the nodes' log lines. Only checkpoints committed after the watch began count (a
 * resumed run's earlier epochs are not news). One thread polls it (a Kafka consumer is
 * single-threaded). Signatures are not checked: this is a view for the person running the lab,
 * not a reader that acts on what it sees.
 */
final class CheckpointWatch implements AutoCloseable {
    private final KafkaConsumer<byte[], byte[]> consumer;
    private final TopicPartition partition;
    private boolean assigned;

    CheckpointWatch(KafkaSettings kafka, String run) {
        this.consumer = new KafkaConsumer<>(kafka.checkpointFollower());
        this.partition = new TopicPartition(Topics.checkpoints(run), 0);
        if (topicExists()) { // a run trained before: what it holds already is history
            consumer.assign(List.of(partition));
            consumer.seekToEnd(List.of(partition));
            consumer.position(partition);
            assigned = true;
        }
    }

    /** The manifests committed since the last call (none before the run's first trainer made its topic); never blocks long. */
    List<CheckpointManifest> poll() {
        if (!assigned) {
            if (!topicExists()) {
                return List.of();
            }
            consumer.assign(List.of(partition)); // made after the watch began: every checkpoint on it is new
            consumer.seekToBeginning(List.of(partition));
            assigned = true;
        }
        // what has arrived, not one fetch of it: a checkpoint's payload chunks come before its manifest
        List<CheckpointManifest> committed = new ArrayList<>();
        long deadline = System.nanoTime() + Duration.ofSeconds(1).toNanos();
        long before;
        do {
            before = consumer.position(partition);
            committed.addAll(manifests(Duration.ofMillis(10)));
        } while (consumer.position(partition) > before && System.nanoTime() < deadline);
        return committed;
    }

    /**
     * The manifests committed since the last call, up to the topic's end now: for when the run's
     * nodes are gone (their last checkpoint is on the topic, and {@link #poll} may not have reached it).
     */
    List<CheckpointManifest> rest(Duration timeout) {
        List<CheckpointManifest> rest = new ArrayList<>(poll());
        if (!assigned) {
            return rest;
        }
        long end = consumer.endOffsets(List.of(partition), timeout).get(partition);
        long deadline = System.nanoTime() + timeout.toNanos();
        while (consumer.position(partition) < end && System.nanoTime() < deadline) {
            rest.addAll(manifests(Duration.ofMillis(100)));
        }
        return rest;
    }

    private List<CheckpointManifest> manifests(Duration wait) {
        List<CheckpointManifest> committed = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> r : consumer.poll(wait)) {
            if (CheckpointCodec.MANIFEST.equals(CheckpointCodec.typeOf(r))) {
                try {
                    CheckpointManifest m = CheckpointCodec.manifestFromJson(r.value());
                    if (!m.snapshot()) { // a CHECKPOINT command's: no epoch ended
                        committed.add(m);
                    }
                } catch (IOException e) {
                    // the run's readers skip it too (the evaluator rejects it): nothing to follow
                }
            }
        }
        return committed;
    }

    private boolean topicExists() {
        try {
            return !consumer.partitionsFor(partition.topic(), Duration.ofMillis(200))
                    .isEmpty();
        } catch (TimeoutException noTopicYet) { // what the consumer says of a topic that does not exist
            return false;
        }
    }

    @Override
    public void close() {
        consumer.close(CloseOptions.timeout(Duration.ofSeconds(5)));
    }
}
