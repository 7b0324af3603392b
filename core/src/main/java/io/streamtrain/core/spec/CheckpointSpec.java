package io.streamtrain.core.spec;

/**
 * Where checkpoint payloads go.
 *
 * @param store {@code kafka} (payload in chunks on the checkpoint topic) or a
 *     {@code file:///dir} claim-check store (payload in the directory, manifest on Kafka)
 * @param chunkBytes the largest chunk put in one Kafka record
 */
public record CheckpointSpec(String store, int chunkBytes) {
    public boolean onKafka() {
        return "kafka".equals(store);
    }
}
