package io.streamtrain.cli.ingest;

import io.streamtrain.core.codec.SafeTensors;
import io.streamtrain.core.codec.Tensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.Map;

/**
 * Encodes samples as batch records (the format trainers read): a safetensors document with
 * {@code x [B, ...]} and {@code y [B]} or {@code [B, ...]}, no metadata, as
 * {@code safetensors.numpy.save({"x": x, "y": y})} would write it.
 */
final class RecordEncoder {
    private RecordEncoder() {}

    /** The record of samples {@code order[from .. to)}. */
    static byte[] encode(Samples samples, int[] order, int from, int to) {
        SampleLayout l = samples.layout();
        int n = to - from;
        ByteBuffer x = ByteBuffer.allocate(
                        Math.toIntExact(n * l.xElements() * l.xType().bytes()))
                .order(ByteOrder.LITTLE_ENDIAN);
        ByteBuffer y = ByteBuffer.allocate(
                        Math.toIntExact(n * l.yElements() * l.yType().bytes()))
                .order(ByteOrder.LITTLE_ENDIAN);
        for (int i = from; i < to; i++) {
            samples.putX(order[i], x);
            samples.putY(order[i], y);
        }
        return SafeTensors.write(
                List.of(
                        new Tensor("x", l.xType(), SampleLayout.batchShape(n, l.xShape()), x.flip()),
                        new Tensor("y", l.yType(), SampleLayout.batchShape(n, l.yShape()), y.flip())),
                Map.of());
    }

    /** How many records {@code samples} samples make at {@code perRecord} a record (the last may be short). */
    static int records(int samples, int perRecord) {
        return (int) ((samples + (long) perRecord - 1) / perRecord);
    }
}
