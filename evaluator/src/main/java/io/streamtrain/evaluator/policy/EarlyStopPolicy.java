package io.streamtrain.evaluator.policy;

import io.streamtrain.core.spec.EarlyStoppingSpec;
import java.util.List;
import java.util.Objects;

/**
 * When to stop a run, as a pure function of its evaluation history: the same spec,
 * maxEpochs and history always give the same decision, so an evaluator rebuilt from the
 * evaluations topic decides exactly as one that never stopped.
 *
 * <p>The history is replayed in epoch order; an epoch seen twice keeps its first
 * evaluation, so a checkpoint evaluated twice is counted once. The first evaluation at which
 * a rule fires decides, and evaluations after it do not change that decision. Rules, in
 * this order of precedence when several fire at once (key semantics:
 * {@link EarlyStoppingSpec}):
 * <ol>
 *   <li><b>non-finite</b>: the value is NaN or infinite and {@code checkFinite} is on;</li>
 *   <li><b>divergence</b>: the value is worse than {@code divergenceThreshold};</li>
 *   <li><b>threshold-reached</b>: the value is at least as good as {@code stoppingThreshold};</li>
 *   <li>the <b>criterion</b>, only from {@code startFromEpoch} on:
 *     <ul>
 *       <li>{@code patience}: {@code max(patience, 1)} counted evaluations in a row did not
 *           improve on the reference by more than {@code minDelta};</li>
 *       <li>{@code gl} (Prechelt's GL_alpha): {@code GL(t) = 100·(E_va(t)/E_opt(t) − 1) > alpha},
 *           where E_opt(t) is the best value up to epoch t (undefined when E_opt ≤ 0);</li>
 *       <li>{@code pq} (PQ_alpha): {@code GL(t)/P_k(t) > alpha}, checked at every epoch over
 *           the sliding strip of epochs t−k+1..t, with
 *           {@code P_k(t) = 1000·(Σ E_tr / (k·min E_tr) − 1)} over the train losses of those
 *           k epochs. Undefined (no stop) unless all k epochs were evaluated with a finite,
 *           positive train loss. A strip with no progress (P_k = 0) stops as soon as GL > 0;</li>
 *       <li>{@code up} (UP_s): strips are the epochs (jk−k, jk]; at a strip end t (t a
 *           multiple of k) it stops when E_va(t) &gt; E_va(t−k) &gt; … &gt; E_va(t−s·k),
 *           i.e. the value rose, strictly, from each of s strip ends to the next. All those
 *           s+1 epochs must have been evaluated with finite values, so the first possible
 *           stop is at epoch (s+1)·k;</li>
 *     </ul></li>
 *   <li><b>max-epochs</b>: the evaluated epoch is {@code maxEpochs} (or later).</li>
 * </ol>
 * With {@code enabled: false} nothing stops the run, but best, wait and explanation are
 * still reported. A non-finite value never becomes the best and never improves; with
 * {@code checkFinite: false} it only counts as not improving.
 */
public final class EarlyStopPolicy {

    private EarlyStopPolicy() {}

    /**
     * Decides after the evaluations in {@code history}.
     *
     * @param spec the run's early-stopping section
     * @param maxEpochs the run's {@code maxEpochs}, >= 1
     * @param history the evaluations so far, in epoch order (duplicates are tolerated)
     */
    public static Decision decide(EarlyStoppingSpec spec, int maxEpochs, List<Evaluation> history) {
        Objects.requireNonNull(spec, "spec");
        Objects.requireNonNull(history, "history");
        if (maxEpochs < 1) {
            throw new IllegalArgumentException("maxEpochs must be >= 1, got " + maxEpochs);
        }
        return new Replay(spec, maxEpochs).run(history);
    }

    /**
     * The same rules over a continuous run's windows, which they promote models of instead of
     * stopping: the rules are applied at every window, and a rule that fires at one does not
     * end the run. The decision's {@code best} is the promoted model: the last window that
     * improved on the promoted model before it by more than {@code minDelta} (and beat the
     * baseline); a STOP verdict means the last window is <i>degrading</i> (for its reason).
     * Patience counts differently here: not the windows that did not beat the promoted model,
     * but the counted windows in a row that are worse than it by more than {@code minDelta}
     * (or not finite); a window within {@code minDelta} of it ends the stretch. So a run whose
     * quality levels off is not degrading; one below its promoted model for {@code patience}
     * windows in a row is, until a window is promoted or comes level again. The other rules
     * are as for a bounded run.
     */
    public static Decision decideWindows(EarlyStoppingSpec spec, int maxEpochs, List<Evaluation> history) {
        Objects.requireNonNull(spec, "spec");
        Objects.requireNonNull(history, "history");
        return new Replay(spec, Math.max(1, maxEpochs), true).run(history);
    }
}
