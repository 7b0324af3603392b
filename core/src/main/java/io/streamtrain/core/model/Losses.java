package io.streamtrain.core.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import io.streamtrain.core.spec.ModelSpec;

/**
 * The data loss (the loss before any regularization term), shared by training and
 * evaluation so both report the same quantity.
 */
public final class Losses {
    private Losses() {}

    /**
     * Mean softmax cross-entropy of the scores against int64 labels for a classifier — per
     * sample ({@code [B, C]} against {@code [B]}), or per token for a causal-lm
     * ({@code [B, T, 256]} against the {@code B·T} next tokens); mean squared error of
     * {@code [B, outputs]} predictions otherwise.
     */
    public static NDArray dataLoss(ModelSpec spec, NDArray output, NDArray labels) {
        if (spec.classification()) {
            // each prediction's log-probability of its label, picked out (labels are checked to lie in
            // [0, classes) when a batch is decoded): three operations on the autograd graph where a one-hot
            // product took six, the same values and gradients
            NDArray logProbabilities = perPrediction(output).logSoftmax(1);
            return logProbabilities.gather(labels.reshape(-1, 1), 1).mean().neg();
        }
        return output.sub(labels.reshape(output.getShape())).square().mean();
    }

    /** Number of predictions (samples; a causal-lm's tokens) whose highest score is the label. */
    public static long correct(NDArray output, NDArray labels) {
        return correctCount(output, labels).toType(DataType.INT64, false).getLong();
    }

    /** {@link #correct} as a scalar array, for a caller that reads several figures at once. */
    public static NDArray correctCount(NDArray output, NDArray labels) {
        return perPrediction(output).argMax(1).eq(labels.reshape(-1)).sum();
    }

    /** The scores as {@code [predictions, classes]}: a causal-lm's positions become rows. */
    private static NDArray perPrediction(NDArray output) {
        long classes = output.getShape().get(output.getShape().dimension() - 1);
        return output.getShape().dimension() == 2 ? output : output.reshape(-1, classes);
    }
}
