package io.streamtrain.core.evaluation;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import java.util.Map;

/**
 * One evaluated (or rejected) checkpoint, on {@code streamtrain.<run>.evaluations}. The
 * evaluator rebuilds its early-stopping state from these records when it restarts.
 *
 * @param type always {@code evaluation}
 * @param status {@code evaluated}; {@code rejected} (the checkpoint could not be loaded;
 *     {@code reason} says why, and it does not count in the early-stopping history); or
 *     {@code snapshot} (a mid-epoch snapshot: scored, not part of early stopping)
 * @param epoch the checkpoint's epoch
 * @param checkpointId the checkpoint evaluated
 * @param metrics validation metrics: {@code val_loss} (data loss only, evaluation mode),
 *     {@code val_accuracy} for classifiers
 * @param trainLoss the epoch's training data loss, from the checkpoint's manifest
 * @param best the best checkpoint so far, this one included
 * @param waitCount evaluations since the last improvement that count towards patience
 * @param patienceLeft evaluations without improvement still allowed
 * @param decision {@code continue} or {@code stop}
 * @param reason stop reason code, or the rejection reason; null when continuing
 * @param explanation one human sentence
 * @param evaluationSeconds time spent computing the validation metrics
 * @param validation the validation data scored on, the run's {@link ValidationPlan}; null
 *     when nothing was scored, and in records of evaluators that did not write it (a run
 *     with none is planned anew: up to the validation topic's end offsets then)
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record EvaluationRecord(
        String type,
        String run,
        String id,
        String time,
        String status,
        int epoch,
        String checkpointId,
        Map<String, Double> metrics,
        Double trainLoss,
        BestCheckpoint best,
        int waitCount,
        int patienceLeft,
        String decision,
        String reason,
        String explanation,
        double evaluationSeconds,
        ValidationPlan validation) {

    public static final String TYPE = "evaluation";
    public static final String EVALUATED = "evaluated";
    public static final String REJECTED = "rejected";
    public static final String SNAPSHOT = "snapshot";
    public static final String CONTINUE = "continue";
    public static final String STOP = "stop";

    public boolean evaluated() {
        return EVALUATED.equals(status);
    }
}
