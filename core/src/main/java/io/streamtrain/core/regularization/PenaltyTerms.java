package io.streamtrain.core.regularization;

import ai.djl.ndarray.NDArray;

/**
 * The regularization terms of one step, each already multiplied by its coefficient and a
 * scalar on the autograd graph; a term that is off is null.
 */
public record PenaltyTerms(NDArray l1, NDArray l2, NDArray l2sp) {

    /** {@code loss} plus every term that is on. */
    public NDArray addTo(NDArray loss) {
        NDArray total = loss;
        for (NDArray term : new NDArray[] {l1, l2, l2sp}) {
            if (term != null) {
                total = total.add(term);
            }
        }
        return total;
    }

    public double l1Value() {
        return value(l1);
    }

    public double l2Value() {
        return value(l2);
    }

    public double l2spValue() {
        return value(l2sp);
    }

    private static double value(NDArray term) {
        return term == null
                ? 0.0
                : term.toType(ai.djl.ndarray.types.DataType.FLOAT64, false).getDouble();
    }
}
