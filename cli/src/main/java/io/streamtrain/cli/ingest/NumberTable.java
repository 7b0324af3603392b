package io.streamtrain.cli.ingest;

import io.streamtrain.core.codec.DType;
import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * Samples read from tabular text (CSV rows, JSONL objects): features as float32 (or int64
 * for token ids), labels stored as doubles until the whole input is read, then typed by
 * {@link LabelType}. Every row has the same shapes; parsers report rows that do not.
 */
final class NumberTable implements Samples {
    private final SampleLayout layout;
    private final float[] xf;
    private final long[] xl;
    private final double[] y;
    private final int rows;
    private final int xPerRow;
    private final int yPerRow;

    private NumberTable(SampleLayout layout, float[] xf, long[] xl, double[] y, int rows) {
        this.layout = layout;
        this.xf = xf;
        this.xl = xl;
        this.y = y;
        this.rows = rows;
        this.xPerRow = Math.toIntExact(layout.xElements());
        this.yPerRow = Math.toIntExact(layout.yElements());
    }

    @Override
    public int size() {
        return rows;
    }

    @Override
    public SampleLayout layout() {
        return layout;
    }

    @Override
    public void putX(int i, ByteBuffer out) {
        int from = i * xPerRow;
        if (xf != null) {
            for (int k = 0; k < xPerRow; k++) {
                out.putFloat(xf[from + k]);
            }
        } else {
            for (int k = 0; k < xPerRow; k++) {
                out.putLong(xl[from + k]);
            }
        }
    }

    @Override
    public void putY(int i, ByteBuffer out) {
        int from = i * yPerRow;
        for (int k = 0; k < yPerRow; k++) {
            if (layout.yType() == DType.I64) {
                out.putLong((long) y[from + k]);
            } else {
                out.putFloat((float) y[from + k]);
            }
        }
    }

    /** Collects rows of fixed shapes; {@link #build} types the labels. */
    static final class Builder {
        private final DType xType;
        private final long[] xShape;
        private final long[] yShape;
        private final int xPerRow;
        private final int yPerRow;
        private float[] xf;
        private long[] xl;
        private double[] y;
        private int rows;
        private boolean allIntegers = true;

        /**
         * @param xType {@link DType#F32} or {@link DType#I64}
         * @param xShape per-sample shape of x
         * @param yShape per-sample shape of y ({@code []} for one label per sample)
         */
        Builder(DType xType, long[] xShape, long[] yShape) {
            if (xType != DType.F32 && xType != DType.I64) {
                throw new IllegalArgumentException("features are F32 or I64, not " + xType);
            }
            this.xType = xType;
            this.xShape = xShape.clone();
            this.yShape = yShape.clone();
            this.xPerRow = Math.toIntExact(Arrays.stream(xShape).reduce(1, Math::multiplyExact));
            this.yPerRow = Math.toIntExact(Arrays.stream(yShape).reduce(1, Math::multiplyExact));
            if (xType == DType.F32) {
                xf = new float[Math.max(16, xPerRow * 64)];
            } else {
                xl = new long[Math.max(16, xPerRow * 64)];
            }
            y = new double[Math.max(16, yPerRow * 64)];
        }

        long[] xShape() {
            return xShape.clone();
        }

        long[] yShape() {
            return yShape.clone();
        }

        /**
         * Adds a row of float features (an F32 builder).
         *
         * @param integerLabels whether the labels were written as integers (no decimal point or
         *     exponent): {@link LabelType#AUTO} takes int64 only when every row's were
         */
        void add(float[] x, double[] labels, boolean integerLabels) {
            int need = (rows + 1) * xPerRow;
            if (need > xf.length) {
                xf = Arrays.copyOf(xf, grow(xf.length, need));
            }
            System.arraycopy(x, 0, xf, rows * xPerRow, xPerRow);
            addLabels(labels, integerLabels);
        }

        /** Adds a row of integer features (an I64 builder); see {@link #add(float[], double[], boolean)}. */
        void add(long[] x, double[] labels, boolean integerLabels) {
            int need = (rows + 1) * xPerRow;
            if (need > xl.length) {
                xl = Arrays.copyOf(xl, grow(xl.length, need));
            }
            System.arraycopy(x, 0, xl, rows * xPerRow, xPerRow);
            addLabels(labels, integerLabels);
        }

        private void addLabels(double[] labels, boolean integerLabels) {
            int need = (rows + 1) * yPerRow;
            if (need > y.length) {
                y = Arrays.copyOf(y, grow(y.length, need));
            }
            System.arraycopy(labels, 0, y, rows * yPerRow, yPerRow);
            allIntegers &= integerLabels;
            rows++;
        }

        private static int grow(int length, int need) {
            long n = Math.max((long) length * 2, need);
            if (n > Integer.MAX_VALUE - 8) {
                throw new OutOfMemoryError("more than 2^31 values in one table; split the input");
            }
            return (int) n;
        }

        NumberTable build(LabelType labels) {
            DType yType = switch (labels) {
                case INT64 -> DType.I64;
                case FLOAT32 -> DType.F32;
                case AUTO -> allIntegers ? DType.I64 : DType.F32;
            };
            // the arrays may be longer than the rows: only the first rows are ever read
            return new NumberTable(new SampleLayout(xType, xShape, yType, yShape), xf, xl, y, rows);
        }
    }
}
