package io.streamtrain.core.spec;

/**
 * How the trainers keep pace with the evaluator.
 *
 * @param maxLag 0 (off, the default for bounded runs): trainers train on while the evaluator
 *     scores, as fast as they go. N ≥ 1: a trainer does not begin an epoch while more than N
 *     of the run's epoch checkpoints are not yet evaluated (or rejected) by the evaluator; it
 *     waits, and says so, until the evaluator catches up. Early stopping then stops the run
 *     at most N epochs past the epoch that decided it, and a dead evaluator holds the run
 *     instead of letting it train on blind.
 */
public record EvaluationSpec(int maxLag) {
    public static final EvaluationSpec DEFAULT = new EvaluationSpec(0);

    public boolean holdsTrainers() {
        return maxLag > 0;
    }
}
