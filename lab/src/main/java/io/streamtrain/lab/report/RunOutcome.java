package io.streamtrain.lab.report;

import io.streamtrain.core.evaluation.BestCheckpoint;
import java.time.Duration;
import java.util.Objects;

/**
 * How a run ended, or where it stands when the report is written mid-run.
 *
 * @param stopReason the STOP's reason code ({@code patience-exhausted}, {@code max-epochs},
 *     ...); null when no STOP was sent (the run trained all its epochs without one, or has not
 *     stopped yet). A STOP can come at the last epoch too: {@link #stoppedEarly} tells.
 * @param stopExplanation the STOP's human sentence; may be null
 * @param epochsLeft how many of maxEpochs were still untrained when the run stopped (0 when
 *     the STOP came at or after the last epoch, or there was none)
 * @param best the run's result, the best checkpoint; null when nothing was evaluated
 * @param wallTime from the start of the run to its end (or to now)
 */
public record RunOutcome(
        String stopReason, String stopExplanation, int epochsLeft, BestCheckpoint best, Duration wallTime) {
    public RunOutcome {
        Objects.requireNonNull(wallTime, "wallTime");
    }

    public boolean stopped() {
        return stopReason != null;
    }

    /**
     * Whether the run was stopped before its last epoch. A STOP at the last epoch ends the
     * run where it would have ended anyway, whatever its reason (patience can run out at the
     * last epoch too).
     */
    public boolean stoppedEarly() {
        return stopped() && epochsLeft > 0;
    }
}
