package io.streamtrain.core.evaluation;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import java.util.Map;

/**
 * A continuous run's promoted model, on {@code streamtrain.<run>.models} (compacted, keyed by
 * run: the latest record is the model to serve). The evaluator writes one, in the transaction
 * of the window's evaluation, when a window's checkpoint beats every earlier one by the run's
 * early-stopping policy ({@code monitor}, {@code mode}, {@code minDelta}, ...).
 *
 * @param type always {@value #TYPE}
 * @param epoch the window whose checkpoint is promoted
 * @param checkpointId that checkpoint (on {@code streamtrain.<run>.checkpoints})
 * @param metric the monitored metric, and {@code value} its value on the validation data
 * @param metrics every validation metric of the checkpoint
 * @param previous the model promoted before, or null for the run's first
 * @param explanation one human sentence: why it was promoted
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record PromotedModel(
        String type,
        String run,
        String id,
        String time,
        int epoch,
        String checkpointId,
        String metric,
        double value,
        Map<String, Double> metrics,
        BestCheckpoint previous,
        String explanation) {
    public static final String TYPE = "promoted";

    public PromotedModel {
        metrics = metrics == null ? Map.of() : Map.copyOf(metrics);
    }

    /** This model as the run's best checkpoint names it. */
    public BestCheckpoint asBest() {
        return new BestCheckpoint(epoch, checkpointId, metric, value);
    }
}
