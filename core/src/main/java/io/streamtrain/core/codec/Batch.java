package io.streamtrain.core.codec;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Decoded samples of one record, flattened: sample {@code i} has features
 * {@code x[i*features .. (i+1)*features)} and labels
 * {@code classLabels[i*outputs .. (i+1)*outputs)} (classification: one class id, or a causal
 * language model's next token at each of its {@code features} positions) or targets
 * {@code targets[i*outputs .. (i+1)*outputs)} (regression); the other is null. A causal
 * language model's token ids are in {@code x} as floats (exact: they are below 2^24).
 *
 * @param x the features: {@code samples * features} float32 values in the platform's byte
 *     order, from position 0, in a direct buffer, so the engine reads them where they are
 *     instead of copying them at every step; nobody writes to it once the batch is made
 * @param outputs values of {@code y} per sample ({@link io.streamtrain.core.spec.ModelSpec#yWidth()})
 */
public record Batch(int samples, int features, ByteBuffer x, long[] classLabels, float[] targets, int outputs) {

    public Batch {
        if (!x.isDirect()
                || x.position() != 0
                || x.remaining() != 4L * samples * features
                || x.order() != ByteOrder.nativeOrder()) {
            throw new IllegalArgumentException("x must be a direct buffer in native order of " + samples + " x "
                    + features + " floats from position 0, got " + x);
        }
    }

    /** A batch of features given as an array (copied into a direct buffer). */
    public Batch(int samples, int features, float[] x, long[] classLabels, float[] targets, int outputs) {
        this(samples, features, filled(x), classLabels, targets, outputs);
    }

    /** A new direct buffer for {@code n} floats in the platform's byte order. */
    public static ByteBuffer nativeFloats(int n) {
        return ByteBuffer.allocateDirect(Math.multiplyExact(n, 4)).order(ByteOrder.nativeOrder());
    }

    private static ByteBuffer filled(float[] values) {
        ByteBuffer b = nativeFloats(values.length);
        b.asFloatBuffer().put(values);
        return b;
    }

    /** The features as a new array (for tests and tools; training reads {@link #x} in place). */
    public float[] xValues() {
        float[] out = new float[samples * features];
        x.duplicate().order(ByteOrder.nativeOrder()).asFloatBuffer().get(out);
        return out;
    }

    /** Bytes held, for prefetch accounting. */
    public long bytes() {
        return x.capacity() + (classLabels != null ? 8L * classLabels.length : 4L * targets.length) + 64;
    }
}
