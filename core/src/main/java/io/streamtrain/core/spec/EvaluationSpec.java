package io.streamtrain.core.spec;

/**
 * How the trainers keep pace with the evaluator, and what the evaluator does of its verdicts.
 *
 * @param maxLag 0 (off, the default for bounded runs, which end by themselves after
 *     {@code maxEpochs}): trainers train on while the evaluator
 *     scores, as fast as they go. N ≥ 1: a trainer does not begin an epoch while more than N
 *     of the run's epoch checkpoints are not yet evaluated (or rejected) by the evaluator; it
 *     waits, and says so, until the evaluator catches up. Early stopping then stops the run
 *     at most N epochs past the epoch that decided it, and a dead evaluator holds the run
 *     instead of letting it train on blind.
 * @param onDegrade what the evaluator does when a continuous run's window is first judged
 *     degrading (getting worse: {@code patience} windows in a row below the promoted model by
 *     more than {@code minDelta}, or another rule of its early-stopping policy): {@value #NONE}
 *     (the default: keep the promoted model, say so in the evaluation and the metrics) or
 *     {@value #PAUSE} (also write a PAUSE on the run's control topic, so the trainers stop
 *     taking in data that makes the model worse until an operator resumes them) or
 *     {@value #ROLLBACK} (also write a ROLLBACK to the promoted model: the trainers go on from
 *     its weights)
 * @param slidingValidation 0 (the default): a run's checkpoints are all scored on the
 *     validation topic as it stood at the run's first evaluation (a fixed holdout). K ≥ 1 (a
 *     continuous run): each window is scored on the topic's latest K records as of the
 *     window's end, its checkpoint's time (recorded in its evaluation), and the promoted model is scored again on the same records,
 *     so a window is promoted when it beats the promoted model on today's data: a run whose
 *     validation topic is live follows a drift
 */
public record EvaluationSpec(int maxLag, String onDegrade, int slidingValidation) {
    public static final String NONE = "none";
    public static final String PAUSE = "pause";
    public static final String ROLLBACK = "rollback";
    public static final EvaluationSpec DEFAULT = new EvaluationSpec(0);

    public EvaluationSpec {
        onDegrade = onDegrade == null ? NONE : onDegrade;
    }

    public EvaluationSpec(int maxLag) {
        this(maxLag, NONE, 0);
    }

    public EvaluationSpec(int maxLag, String onDegrade) {
        this(maxLag, onDegrade, 0);
    }

    public boolean sliding() {
        return slidingValidation > 0;
    }

    public boolean pausesOnDegrade() {
        return PAUSE.equals(onDegrade);
    }

    public boolean rollsBackOnDegrade() {
        return ROLLBACK.equals(onDegrade);
    }
    /**
     * The default of a continuous run with a validation topic: such a run never ends by
     * itself, so a dead evaluator would otherwise let it train on unevaluated for ever.
     */
    public static final int CONTINUOUS_MAX_LAG = 2;

    public boolean holdsTrainers() {
        return maxLag > 0;
    }
}
