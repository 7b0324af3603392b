package io.streamtrain.evaluator.policy;

import java.util.Objects;

/**
 * The policy's answer after an evaluation history.
 *
 * @param verdict {@code STOP} or {@code CONTINUE}
 * @param reason why it stops; null when it continues
 * @param epoch the epoch the decision was taken at: the stopping epoch, or the last
 *     evaluated one; 0 for an empty history
 * @param best the best checkpoint so far; null when no value was finite
 * @param waitCount counted evaluations since the last improvement (named so because a
 *     record component cannot be called {@code wait}); for a continuous run's windows, the
 *     counted windows in a row worse than the promoted model by more than {@code minDelta}
 * @param patienceLeft counted evaluations without improvement still allowed before the
 *     {@code patience} criterion stops the run
 * @param explanation one sentence for humans
 */
public record Decision(
        Verdict verdict, StopReason reason, int epoch, Best best, int waitCount, int patienceLeft, String explanation) {

    public Decision {
        Objects.requireNonNull(verdict, "verdict");
        Objects.requireNonNull(explanation, "explanation");
        if ((verdict == Verdict.STOP) != (reason != null)) {
            throw new IllegalArgumentException(
                    "a reason is given exactly when the verdict is STOP; got " + verdict + " with reason " + reason);
        }
    }

    /** Whether the verdict is {@code STOP}. */
    public boolean stop() {
        return verdict == Verdict.STOP;
    }
}
