package io.streamtrain.core.model;

import ai.djl.ndarray.NDArray;
import io.streamtrain.core.spec.ModelSpec;

/**
 * The data loss (the loss before any regularization term), shared by training and
 * evaluation so both report the same quantity.
 */
public final class Losses {
    private Losses() {}

    /**
     * Mean softmax cross-entropy of {@code [B, C]} scores against {@code [B]} int64 labels
     * for a classifier; mean squared error of {@code [B, outputs]} predictions otherwise.
     */
    public static NDArray dataLoss(ModelSpec spec, NDArray output, NDArray labels) {
        if (spec.classification()) {
            NDArray logProbabilities = output.logSoftmax(1);
            NDArray oneHot = labels.oneHot(spec.classes());
            return logProbabilities.mul(oneHot).sum(new int[] {1}).neg().mean();
        }
        return output.sub(labels.reshape(output.getShape())).square().mean();
    }

    /** Number of rows whose highest score is the label. */
    public static long correct(NDArray output, NDArray labels) {
        return output.argMax(1).eq(labels).sum().toType(ai.djl.ndarray.types.DataType.INT64, false).getLong();
    }
}
