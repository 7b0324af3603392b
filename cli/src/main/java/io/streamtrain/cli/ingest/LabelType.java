package io.streamtrain.cli.ingest;

/**
 * The element type of {@code y} for tabular inputs (CSV, JSONL): class ids are int64,
 * regression targets float32. {@link #AUTO} takes int64 when every label in the input is
 * written as an integer ({@code 3}, not {@code 3.0} or {@code 3e0}) and float32 otherwise;
 * the summary says which it took. Forced int64 accepts whole values written as decimals.
 */
enum LabelType {
    AUTO,
    INT64,
    FLOAT32;

    static boolean isWhole(double v) {
        return v == Math.rint(v) && Math.abs(v) <= (1L << 53);
    }
}
