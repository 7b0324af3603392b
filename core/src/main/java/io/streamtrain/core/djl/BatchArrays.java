package io.streamtrain.core.djl;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.streamtrain.core.codec.Batch;

/** A batch's inputs and labels as arrays of the engine, made in a given manager. */
public final class BatchArrays {
    private BatchArrays() {}

    /**
     * The features, float32 {@code [samples, features]}: PyTorch reads the batch's direct
     * buffer in place (no copy), so the buffer must outlive the array, which the batch does.
     */
    public static NDArray x(NDManager manager, Batch b) {
        return manager.create(b.x(), new Shape(b.samples(), b.features()), DataType.FLOAT32);
    }

    /** Class labels (int64 {@code [samples * outputs]}) or regression targets (float32 {@code [samples, outputs]}). */
    public static NDArray y(NDManager manager, Batch b) {
        return b.classLabels() != null
                ? manager.create(b.classLabels())
                : manager.create(b.targets(), new Shape(b.samples(), b.outputs()));
    }
}
