package io.streamtrain.evaluator.policy;

import java.util.Objects;

/**
 * What the policy needs to know about one evaluated checkpoint.
 *
 * @param epoch the 1-based epoch the checkpoint ends
 * @param checkpointId the checkpoint's id, reported back when it is the best
 * @param monitored the value of the spec's {@code monitor} metric; may be NaN or infinite
 * @param trainLoss the epoch's training loss from the checkpoint's manifest, used by the
 *     {@code pq} criterion; NaN when the manifest has none
 */
public record Evaluation(int epoch, String checkpointId, double monitored, double trainLoss) {

    public Evaluation {
        if (epoch < 1) {
            throw new IllegalArgumentException("epoch must be >= 1, got " + epoch);
        }
        Objects.requireNonNull(checkpointId, "checkpointId");
    }
}
