package io.streamtrain.cli.ingest;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** One sample of a {@link Samples} as plain arrays, the way a record would carry it. */
final class SampleValues {
    private SampleValues() {}

    static float[] xFloats(Samples s, int i) {
        ByteBuffer b = buffer(s.layout().xElements() * 4);
        s.putX(i, b);
        float[] out = new float[(int) s.layout().xElements()];
        b.flip().asFloatBuffer().get(out);
        return out;
    }

    static long[] xLongs(Samples s, int i) {
        ByteBuffer b = buffer(s.layout().xElements() * 8);
        s.putX(i, b);
        long[] out = new long[(int) s.layout().xElements()];
        b.flip().asLongBuffer().get(out);
        return out;
    }

    static long[] yLongs(Samples s, int i) {
        ByteBuffer b = buffer(s.layout().yElements() * 8);
        s.putY(i, b);
        long[] out = new long[(int) s.layout().yElements()];
        b.flip().asLongBuffer().get(out);
        return out;
    }

    static float[] yFloats(Samples s, int i) {
        ByteBuffer b = buffer(s.layout().yElements() * 4);
        s.putY(i, b);
        float[] out = new float[(int) s.layout().yElements()];
        b.flip().asFloatBuffer().get(out);
        return out;
    }

    private static ByteBuffer buffer(long bytes) {
        ByteBuffer b = ByteBuffer.allocate((int) bytes).order(ByteOrder.LITTLE_ENDIAN);
        return b;
    }

    /** A sink for bad-line reports that keeps them. */
    static BadLines badLines(java.util.List<String> sink) {
        return new BadLines(sink::add, 100);
    }
}
