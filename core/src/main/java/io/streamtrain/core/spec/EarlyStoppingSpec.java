package io.streamtrain.core.spec;

import java.util.Objects;

/**
 * When the evaluator stops a run. The trainer only carries it; the evaluator decides, one
 * evaluation per epoch checkpoint, with {@code io.streamtrain.evaluator.policy.EarlyStopPolicy}.
 * {@link RunSpecParser} fills every default and checks every value; the canonical
 * constructor only checks what the policy cannot do without.
 *
 * <p>"Better" follows {@code mode}: lower for {@code min}, higher for {@code max}. A value
 * <em>improves</em> when it beats the reference by more than {@code minDelta}: for min
 * {@code value < reference - minDelta}, for max {@code value > reference + minDelta}; an
 * improvement of exactly {@code minDelta} does not count. The reference is the value of the
 * last improvement, so it is compared with the best so far, never with the previous epoch;
 * it starts at {@code baseline} when one is given (the first finite value otherwise
 * improves). The run's result, the best checkpoint, is the finite value that is best
 * outright (ties: the earliest), which can be a little better than the reference when an
 * improvement was smaller than {@code minDelta}.
 *
 * <p>When several rules apply to one evaluation, the first in this list gives the reason:
 * non-finite, divergence, threshold reached, the {@code criterion}, max epochs.
 *
 * @param monitor the metric watched: {@code val_loss}, {@code val_accuracy} or {@code val_perplexity}
 * @param mode {@code min} or {@code max}: which direction is better. The parser defaults it
 *     to {@code max} for {@code val_accuracy} and to {@code min} for the others
 * @param patience with criterion {@code patience}: the run stops when this many counted
 *     evaluations in a row did not improve. 0 stops at the first one that does not improve,
 *     exactly like 1 (as in Keras and Lightning)
 * @param minDelta the least change over the reference that counts as an improvement, >= 0
 * @param enabled false: evaluate and report, never stop
 * @param startFromEpoch warm-up: evaluations of earlier epochs can set the best and the
 *     reference but never count against patience, and the criterion is not applied to them
 *     (non-finite, divergence, threshold and max epochs still are); 1 means no warm-up
 * @param baseline optional: a value the monitored metric must beat (by more than minDelta);
 *     until it does, every counted evaluation counts against patience
 * @param stoppingThreshold optional: stop with reason threshold-reached as soon as a value is
 *     at least as good as this (min: {@code <=}, max: {@code >=})
 * @param divergenceThreshold optional: stop with reason divergence as soon as a value is
 *     worse than this (min: {@code >}, max: {@code <})
 * @param checkFinite true: a NaN or infinite value stops the run at once (reason
 *     non-finite). False: such a value only counts as not improving
 * @param criterion {@code patience}, or one of Prechelt's (1998, "Early Stopping — But
 *     When?") {@code gl}, {@code pq}, {@code up}, which need mode {@code min}
 * @param alpha GL/PQ threshold, > 0; null unless criterion is {@code gl} (default 5) or
 *     {@code pq} (default 0.5)
 * @param strip k, the strip length in epochs; null unless criterion is {@code pq} (default
 *     5, at least 2) or {@code up} (default 5)
 * @param successive s of UP_s; null unless criterion is {@code up} (default 3)
 */
public record EarlyStoppingSpec(
        String monitor,
        String mode,
        int patience,
        double minDelta,
        boolean enabled,
        int startFromEpoch,
        Double baseline,
        Double stoppingThreshold,
        Double divergenceThreshold,
        boolean checkFinite,
        String criterion,
        Double alpha,
        Integer strip,
        Integer successive) {

    public EarlyStoppingSpec {
        Objects.requireNonNull(monitor, "monitor");
        Objects.requireNonNull(mode, "mode");
        Objects.requireNonNull(criterion, "criterion");
        if ((criterion.equals("gl") || criterion.equals("pq")) && alpha == null) {
            throw new IllegalArgumentException("criterion " + criterion + " needs alpha");
        }
        if ((criterion.equals("pq") || criterion.equals("up")) && strip == null) {
            throw new IllegalArgumentException("criterion " + criterion + " needs strip");
        }
        if (criterion.equals("up") && successive == null) {
            throw new IllegalArgumentException("criterion up needs successive");
        }
    }

    /** Patience-based stopping with every other key at its default, as the parser fills it. */
    public static EarlyStoppingSpec of(String monitor, String mode, int patience, double minDelta) {
        return new EarlyStoppingSpec(
                monitor, mode, patience, minDelta, true, 1, null, null, null, true, "patience", null, null, null);
    }
}
