package io.streamtrain.cli.ingest;

import io.streamtrain.core.codec.DType;
import java.util.Arrays;
import java.util.stream.Collectors;
import java.util.stream.LongStream;

/**
 * The shape of one sample: {@code x} and {@code y} element types and their per-sample
 * shapes. A record of B samples has {@code x [B, xShape...]} and {@code y [B, yShape...]}
 * ({@code y [B]} when {@code yShape} is empty: one class id or target per sample).
 */
record SampleLayout(DType xType, long[] xShape, DType yType, long[] yShape) {
    SampleLayout {
        xShape = xShape.clone();
        yShape = yShape.clone();
    }

    @Override
    public long[] xShape() {
        return xShape.clone();
    }

    @Override
    public long[] yShape() {
        return yShape.clone();
    }

    long xElements() {
        return LongStream.of(xShape).reduce(1, Math::multiplyExact);
    }

    long yElements() {
        return LongStream.of(yShape).reduce(1, Math::multiplyExact);
    }

    /** The shape of a tensor of {@code samples} samples: {@code [samples, perSample...]}. */
    static long[] batchShape(long samples, long[] perSample) {
        long[] s = new long[perSample.length + 1];
        s[0] = samples;
        System.arraycopy(perSample, 0, s, 1, perSample.length);
        return s;
    }

    /** "x F32 [B, 784], y I64 [B]", as the summary prints it. */
    String describe() {
        return "x " + xType + " " + shape(xShape) + ", y " + yType + " " + shape(yShape);
    }

    private static String shape(long[] perSample) {
        return LongStream.of(perSample)
                .mapToObj(Long::toString)
                .collect(Collectors.joining(", ", "[B" + (perSample.length > 0 ? ", " : ""), "]"));
    }

    boolean sameAs(SampleLayout o) {
        return xType == o.xType
                && yType == o.yType
                && Arrays.equals(xShape, o.xShape)
                && Arrays.equals(yShape, o.yShape);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof SampleLayout l && sameAs(l);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(xShape) * 31 + Arrays.hashCode(yShape);
    }

    @Override
    public String toString() {
        return describe();
    }
}
