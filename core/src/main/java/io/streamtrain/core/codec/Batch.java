package io.streamtrain.core.codec;

/**
 * Decoded samples of one record, flattened: sample {@code i} has features
 * {@code x[i*features .. (i+1)*features)} and labels
 * {@code classLabels[i*outputs .. (i+1)*outputs)} (classification: one class id, or a causal
 * language model's next token at each of its {@code features} positions) or targets
 * {@code targets[i*outputs .. (i+1)*outputs)} (regression); the other is null. A causal
 * language model's token ids are in {@code x} as floats (exact: they are below 2^24).
 *
 * @param outputs values of {@code y} per sample ({@link io.streamtrain.core.spec.ModelSpec#yWidth()})
 */
public record Batch(int samples, int features, float[] x, long[] classLabels, float[] targets, int outputs) {

    /** Heap bytes held, for prefetch accounting. */
    public long bytes() {
        return 4L * x.length + (classLabels != null ? 8L * classLabels.length : 4L * targets.length) + 64;
    }
}
