package io.streamtrain.core.evaluation;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import java.time.Instant;
import java.util.Map;
import java.util.UUID;

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
 * @param waitCount evaluations since the last improvement that count towards patience; in a
 *     continuous run, the windows in a row worse than the promoted model by more than
 *     {@code minDelta}
 * @param patienceLeft evaluations without improvement still allowed (windows below the
 *     promoted model, in a continuous run)
 * @param decision {@code continue} or {@code stop}; in a continuous run (which the evaluator
 *     promotes models of instead of stopping) {@code promote} (this window's checkpoint is the
 *     new promoted model, see {@link PromotedModel}), {@code continue}, or {@code degrading}
 *     (the run is getting worse: {@code patience} windows in a row below the promoted model
 *     by more than {@code minDelta}, a divergence, a non-finite value or a Prechelt
 *     criterion; {@code reason} says which; the promoted model stays)
 * @param reason stop reason code, or the rejection reason; null when continuing
 * @param explanation one human sentence
 * @param evaluationSeconds time spent computing the validation metrics
 * @param validation the validation data scored on, the run's {@link ValidationPlan}; null
 *     when nothing was scored, and in records of evaluators that did not write it (a run
 *     with none is planned anew: up to the validation topic's end offsets then)
 * @param contract what the first checkpoint the evaluator accepted for the run fixed, by spec
 *     path: {@code data.validation}, {@code model}, {@code earlyStopping}, {@code maxEpochs}
 *     (as the spec's JSON has them), so an evaluator that restarts holds later manifests to
 *     them. Null in rejections and in older records
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
        ValidationPlan validation,
        com.fasterxml.jackson.databind.JsonNode contract) {

    public static final String TYPE = "evaluation";
    public static final String EVALUATED = "evaluated";
    public static final String REJECTED = "rejected";
    public static final String SNAPSHOT = "snapshot";
    public static final String CONTINUE = "continue";
    public static final String STOP = "stop";
    public static final String PROMOTE = "promote";
    public static final String DEGRADING = "degrading";

    public EvaluationRecord {
        // JSON's null reads back as a NullNode: one absent contract, however it was read
        contract = contract == null || contract.isNull() || contract.isMissingNode() ? null : contract;
    }

    /** A record without a contract (rejections, and records written before contracts were). */
    public EvaluationRecord(
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
        this(
                type,
                run,
                id,
                time,
                status,
                epoch,
                checkpointId,
                metrics,
                trainLoss,
                best,
                waitCount,
                patienceLeft,
                decision,
                reason,
                explanation,
                evaluationSeconds,
                validation,
                null);
    }

    /** This record, naming the run's contract. */
    public EvaluationRecord withContract(com.fasterxml.jackson.databind.JsonNode spec) {
        return new EvaluationRecord(
                type,
                run,
                id,
                time,
                status,
                epoch,
                checkpointId,
                metrics,
                trainLoss,
                best,
                waitCount,
                patienceLeft,
                decision,
                reason,
                explanation,
                evaluationSeconds,
                validation,
                spec);
    }

    /**
     * An epoch's checkpoint scored and decided on: {@code stop} when {@code stopReason} is
     * given, {@code continue} otherwise. The same record as a {@link #window}'s but for the
     * decision.
     */
    public static EvaluationRecord evaluated(
            String run,
            int epoch,
            String checkpointId,
            Map<String, Double> metrics,
            Double trainLoss,
            BestCheckpoint best,
            int waitCount,
            int patienceLeft,
            String stopReason,
            String explanation,
            double evaluationSeconds,
            ValidationPlan validation) {
        return window(
                run,
                epoch,
                checkpointId,
                metrics,
                trainLoss,
                best,
                waitCount,
                patienceLeft,
                stopReason == null ? CONTINUE : STOP,
                stopReason,
                explanation,
                evaluationSeconds,
                validation);
    }

    /** A continuous run's window scored: {@code decision} is {@link #PROMOTE}, {@link #CONTINUE} or {@link #DEGRADING}. */
    public static EvaluationRecord window(
            String run,
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
        return new EvaluationRecord(
                TYPE,
                run,
                newId(),
                now(),
                EVALUATED,
                epoch,
                checkpointId,
                metrics,
                trainLoss,
                best,
                waitCount,
                patienceLeft,
                decision,
                reason,
                explanation,
                evaluationSeconds,
                validation);
    }

    /** A mid-epoch snapshot scored: no best, wait or patience, since it takes no part in early stopping. */
    public static EvaluationRecord snapshot(
            String run,
            int epoch,
            String checkpointId,
            Map<String, Double> metrics,
            Double trainLoss,
            String explanation,
            double evaluationSeconds,
            ValidationPlan validation) {
        return new EvaluationRecord(
                TYPE,
                run,
                newId(),
                now(),
                SNAPSHOT,
                epoch,
                checkpointId,
                metrics,
                trainLoss,
                null,
                0,
                0,
                CONTINUE,
                null,
                explanation,
                evaluationSeconds,
                validation);
    }

    /**
     * A checkpoint that could not be scored: no metrics; {@code reason} is the rejection's code.
     *
     * @param epoch the checkpoint's epoch, -1 when its manifest could not be read
     */
    public static EvaluationRecord rejected(
            String run, int epoch, String checkpointId, String reason, String explanation, ValidationPlan validation) {
        return new EvaluationRecord(
                TYPE,
                run,
                newId(),
                now(),
                REJECTED,
                epoch,
                checkpointId,
                Map.of(),
                null,
                null,
                0,
                0,
                CONTINUE,
                reason,
                explanation,
                0,
                validation);
    }

    /**
     * Whether this record says the evaluator is done with epoch {@link #epoch()}'s checkpoint of
     * {@code forRun}: scored or rejected. A snapshot's record does not, nor another run's (a
     * topic's writers do not speak for another run).
     */
    public boolean settlesEpochOf(String forRun) {
        return forRun.equals(run) && !SNAPSHOT.equals(status);
    }

    public boolean evaluated() {
        return EVALUATED.equals(status);
    }

    // as Messages.newId() and now(), which this package cannot use without a cycle between the two
    private static String newId() {
        return UUID.randomUUID().toString();
    }

    private static String now() {
        return Instant.now().toString();
    }
}
