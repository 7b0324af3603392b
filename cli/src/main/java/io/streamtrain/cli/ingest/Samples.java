package io.streamtrain.cli.ingest;

import java.nio.ByteBuffer;

/**
 * A parsed data set: {@link #size()} samples of one {@link SampleLayout}, each written on
 * demand into a record's tensors. Parsers keep the source compact (IDX pixels as bytes,
 * text as its bytes) and convert a sample only when a record is encoded.
 */
interface Samples {
    int size();

    SampleLayout layout();

    /** Writes sample {@code i}'s features, little-endian, in {@link SampleLayout#xType()}. */
    void putX(int i, ByteBuffer out);

    /** Writes sample {@code i}'s label or targets, little-endian, in {@link SampleLayout#yType()}. */
    void putY(int i, ByteBuffer out);
}
