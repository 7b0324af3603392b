package io.streamtrain.evaluator.policy;

import java.util.Arrays;
import java.util.Optional;

/** Why a run stopped. {@link #code()} is what travels in evaluation and STOP records. */
public enum StopReason {
    /** {@code patience} evaluations in a row did not improve. */
    PATIENCE_EXHAUSTED("patience-exhausted"),
    /** The value reached {@code stoppingThreshold}: the goal is met. */
    THRESHOLD_REACHED("threshold-reached"),
    /** The value got worse than {@code divergenceThreshold}. */
    DIVERGENCE("divergence"),
    /** The value was NaN or infinite and {@code checkFinite} is on. */
    NON_FINITE("non-finite"),
    /** The evaluated epoch is the run's {@code maxEpochs}. */
    MAX_EPOCHS("max-epochs"),
    /** Prechelt's GL_alpha: generalization loss above alpha. */
    GENERALIZATION_LOSS("generalization-loss"),
    /** Prechelt's PQ_alpha: generalization loss over training progress above alpha. */
    PROGRESS_QUOTIENT("progress-quotient"),
    /** Prechelt's UP_s: the value rose at s successive strip ends. */
    SUCCESSIVE_INCREASES("successive-increases"),
    /** An operator sent STOP; never decided by {@link EarlyStopPolicy}. */
    OPERATOR("operator");

    private final String code;

    StopReason(String code) {
        this.code = code;
    }

    /** The stable lowercase-hyphen name, e.g. {@code patience-exhausted}. */
    public String code() {
        return code;
    }

    /** The reason with this code; empty for a code this version does not know. */
    public static Optional<StopReason> fromCode(String code) {
        return Arrays.stream(values()).filter(r -> r.code.equals(code)).findFirst();
    }
}
