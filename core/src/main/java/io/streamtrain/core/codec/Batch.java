package io.streamtrain.core.codec;

/**
 * Decoded samples of one record, flattened: sample {@code i} has features
 * {@code x[i*features .. (i+1)*features)} and label {@code classLabels[i]} (classification)
 * or targets {@code targets[i*outputs .. (i+1)*outputs)} (regression); the other is null.
 */
public record Batch(int samples, int features, float[] x, long[] classLabels, float[] targets, int outputs) {

    /** Heap bytes held, for prefetch accounting. */
    public long bytes() {
        return 4L * x.length + (classLabels != null ? 8L * classLabels.length : 4L * targets.length) + 64;
    }
}
