package io.streamtrain.evaluator.policy;

import java.util.function.IntToDoubleFunction;

/**
 * The quantities of Prechelt's stopping criteria (L. Prechelt, "Early Stopping — But When?",
 * 1998), adapted to one evaluation per epoch. An undefined quantity is NaN, which compares
 * false with everything, so an undefined criterion never stops a run.
 */
final class Prechelt {

    private Prechelt() {}

    /** GL(t) = 100·(E_va(t)/E_opt(t) − 1), in percent; NaN unless E_opt > 0 and E_va is finite. */
    static double generalizationLoss(double value, double optimum) {
        if (!(optimum > 0) || !Double.isFinite(optimum) || !Double.isFinite(value)) {
            return Double.NaN;
        }
        return 100 * (value / optimum - 1);
    }

    /**
     * P_k(t) = 1000·(Σ E_tr / (k·min E_tr) − 1) over the train losses of epochs t−k+1..t, in
     * per mille; NaN when one is missing (NaN), not finite, or the smallest is not positive.
     */
    static double progress(IntToDoubleFunction trainLossAt, int t, int k) {
        double sum = 0;
        double min = Double.POSITIVE_INFINITY;
        for (int epoch = t - k + 1; epoch <= t; epoch++) {
            double e = trainLossAt.applyAsDouble(epoch);
            if (!Double.isFinite(e)) {
                return Double.NaN;
            }
            sum += e;
            min = Math.min(min, e);
        }
        if (!(min > 0)) {
            return Double.NaN;
        }
        return 1000 * (sum / (k * min) - 1);
    }

    /**
     * UP_s at epoch t with strips of k epochs: t is a strip end (a multiple of k) and
     * E_va(t − j·k) &gt; E_va(t − (j+1)·k) for j = 0..s−1, every one of those values finite.
     */
    static boolean successiveIncreases(IntToDoubleFunction valueAt, int t, int k, int s) {
        if (t % k != 0 || t - s * (long) k < 1) {
            return false;
        }
        for (int j = 0; j < s; j++) {
            double later = valueAt.applyAsDouble(t - j * k);
            double earlier = valueAt.applyAsDouble(t - (j + 1) * k);
            if (!Double.isFinite(later) || !Double.isFinite(earlier) || !(later > earlier)) {
                return false;
            }
        }
        return true;
    }
}
