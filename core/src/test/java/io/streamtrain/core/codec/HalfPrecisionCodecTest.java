package io.streamtrain.core.codec;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.core.spec.ModelSpec;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Batches whose {@code x} (or regression {@code y}) is float16 ("F16") or bfloat16 ("BF16"):
 * decoded to the exact float32 values, with the float32 rules for NaN and infinity. The
 * documents are written by hand here (header JSON and little-endian 16-bit patterns), so
 * nothing depends on streamtrain's own writer or converter.
 */
class HalfPrecisionCodecTest {
    private static final BatchCodec CLASSIFIER =
            new BatchCodec(new ModelSpec("mlp", 3, List.of(4), "relu", 10, 1, 0.0));
    private static final BatchCodec REGRESSION = new BatchCodec(new ModelSpec("mlp", 3, List.of(), "relu", 0, 1, 0.0));

    // ---------------------------------------------------------------- hand-built documents

    /** One tensor for {@link #document}: its dtype name, shape and raw data bytes. */
    private record Raw(String name, String dtype, long[] shape, byte[] data) {}

    private static Raw raw(String name, String dtype, long[] shape, byte[] data) {
        return new Raw(name, dtype, shape, data);
    }

    /** 16-bit patterns, little-endian, as a safetensors writer stores F16 and BF16 elements. */
    private static byte[] bits16(int... patterns) {
        byte[] b = new byte[2 * patterns.length];
        for (int i = 0; i < patterns.length; i++) {
            b[2 * i] = (byte) patterns[i];
            b[2 * i + 1] = (byte) (patterns[i] >>> 8);
        }
        return b;
    }

    private static byte[] int64s(long... v) {
        ByteBuffer b = ByteBuffer.allocate(8 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        for (long x : v) {
            b.putLong(x);
        }
        return b.array();
    }

    /** A safetensors document: u64 LE header length, the header JSON, then the tensors' bytes in order. */
    private static byte[] document(Raw... tensors) {
        StringBuilder header = new StringBuilder("{");
        int offset = 0;
        int size = 0;
        for (Raw t : tensors) {
            if (header.length() > 1) {
                header.append(',');
            }
            StringBuilder shape = new StringBuilder();
            for (long d : t.shape()) {
                shape.append(shape.length() == 0 ? "" : ",").append(d);
            }
            header.append('"')
                    .append(t.name())
                    .append("\":{\"dtype\":\"")
                    .append(t.dtype())
                    .append("\",\"shape\":[")
                    .append(shape)
                    .append("],\"data_offsets\":[")
                    .append(offset)
                    .append(',')
                    .append(offset + t.data().length)
                    .append("]}");
            offset += t.data().length;
            size += t.data().length;
        }
        byte[] h = header.append('}').toString().getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + size).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        for (Raw t : tensors) {
            b.put(t.data());
        }
        return b.array();
    }

    /** Classification labels 1, 2 for a batch of two samples. */
    private static Raw labels() {
        return raw("y", "I64", new long[] {2}, int64s(1, 2));
    }

    private static RejectedRecordException rejects(BatchCodec codec, byte[] value, RejectReason reason) {
        return BatchCodecTest.rejects(codec, value, reason);
    }

    // ---------------------------------------------------------------- exact conversion

    @Test
    void f16FeaturesDecodeToTheExactFloat32Values() throws Exception {
        byte[] x = bits16(
                0x3800, // 0.5
                0xC000, // -2.0
                0x6400, // 1024
                0x0400, // 2^-14, the smallest normal
                0x0001, // 2^-24, the smallest subnormal
                0x7BFF); // 65504, the largest finite
        Batch b = CLASSIFIER.decode(document(raw("x", "F16", new long[] {2, 3}, x), labels()));
        assertEquals(2, b.samples());
        assertEquals(3, b.features());
        assertArrayEquals(new float[] {0.5f, -2.0f, 1024f, 6.1035156e-5f, 5.9604645e-8f, 65504f}, b.xValues());
        assertArrayEquals(new long[] {1, 2}, b.classLabels());
    }

    @Test
    @SuppressWarnings("FloatingPointLiteralPrecision") // the literals are the float values float16 widens to
    void f16SignedZeroesSubnormalsAndRoundedFractionsAreExact() throws Exception {
        byte[] x = bits16(
                0x8000, // -0.0
                0x03FF, // 1023 * 2^-24, the largest subnormal
                0x83FF, // its negative
                0x3555, // 1/3 rounded to half: 0.333251953125
                0x3C01, // 1 + 2^-10, the next half after 1
                0x0000); // +0.0
        Batch b = CLASSIFIER.decode(document(raw("x", "F16", new long[] {2, 3}, x), labels()));
        // assertArrayEquals on floats compares bit patterns: -0.0 is not 0.0
        assertArrayEquals(
                new float[] {-0.0f, 6.097555e-5f, -6.097555e-5f, 0.333251953125f, 1.0009765625f, 0.0f}, b.xValues());
    }

    @Test
    void bf16FeaturesDecodeToTheExactFloat32Values() throws Exception {
        byte[] x = bits16(
                0x3F80, // 1.0
                0xC060, // -3.5
                0x7E96, // 1e38 rounded to bfloat16: 0x1.2cp126
                0x0001, // 2^-133, the smallest subnormal
                0x7F7F, // 3.3895314e38, the largest finite
                0x8000); // -0.0
        Batch b = CLASSIFIER.decode(document(raw("x", "BF16", new long[] {2, 3}, x), labels()));
        assertEquals(2, b.samples());
        assertEquals(3, b.features());
        assertArrayEquals(new float[] {1.0f, -3.5f, 9.96921e37f, 0x1p-133f, 3.3895314e38f, -0.0f}, b.xValues());
    }

    @Test
    void halfPrecisionRegressionTargetsAreAccepted() throws Exception {
        byte[] x = bits16(0x3C00, 0x4000, 0x4200, 0xBC00, 0xC000, 0xC200); // 1, 2, 3, -1, -2, -3
        Batch f16 = REGRESSION.decode(document(
                raw("x", "F16", new long[] {2, 3}, x),
                raw("y", "F16", new long[] {2}, bits16(0x3E00, 0xB400)))); // 1.5, -0.25
        assertArrayEquals(new float[] {1, 2, 3, -1, -2, -3}, f16.xValues());
        assertArrayEquals(new float[] {1.5f, -0.25f}, f16.targets());
        assertNull(f16.classLabels());

        Batch bf16 = REGRESSION.decode(document(
                raw("x", "BF16", new long[] {2, 3}, bits16(0x3F80, 0x4000, 0x4040, 0xBF80, 0xC000, 0xC040)),
                raw("y", "BF16", new long[] {2, 1}, bits16(0x3FC0, 0xBE80)))); // 1.5, -0.25
        assertArrayEquals(new float[] {1, 2, 3, -1, -2, -3}, bf16.xValues());
        assertArrayEquals(new float[] {1.5f, -0.25f}, bf16.targets());
    }

    // ---------------------------------------------------------------- non-finite

    @Test
    void f16InfinityAndNanAreNonFiniteLikeFloat32() {
        int[][] cases = {
            {0x7C00, 'I'}, // +infinity
            {0xFC00, 'I'}, // -infinity
            {0x7E00, 'N'}, // quiet NaN
            {0x7C01, 'N'}, // signalling NaN (smallest payload)
        };
        for (int[] c : cases) {
            byte[] x = bits16(0x3C00, 0x3C00, 0x3C00, 0x3C00, c[0], 0x3C00);
            RejectedRecordException e = rejects(
                    CLASSIFIER, document(raw("x", "F16", new long[] {2, 3}, x), labels()), RejectReason.NON_FINITE);
            assertTrue(
                    e.getMessage().startsWith("x")
                            && e.getMessage().contains("index 4")
                            && e.getMessage().contains(c[1] == 'I' ? "Infinity" : "NaN"),
                    e.getMessage());
        }
    }

    @Test
    void bf16InfinityAndNanAreNonFiniteLikeFloat32() {
        int[][] cases = {
            {0x7F80, 'I'}, // +infinity
            {0xFF80, 'I'}, // -infinity
            {0x7FC0, 'N'}, // quiet NaN
            {0xFF81, 'N'}, // negative NaN with a payload
        };
        for (int[] c : cases) {
            byte[] x = bits16(c[0], 0x3F80, 0x3F80, 0x3F80, 0x3F80, 0x3F80);
            RejectedRecordException e = rejects(
                    CLASSIFIER, document(raw("x", "BF16", new long[] {2, 3}, x), labels()), RejectReason.NON_FINITE);
            assertTrue(
                    e.getMessage().startsWith("x")
                            && e.getMessage().contains("index 0")
                            && e.getMessage().contains(c[1] == 'I' ? "Infinity" : "NaN"),
                    e.getMessage());
        }
    }

    @Test
    void halfPrecisionNonFiniteTargetIsNonFinite() {
        byte[] x = bits16(0x3C00, 0x3C00, 0x3C00, 0x3C00, 0x3C00, 0x3C00);
        RejectedRecordException f16 = rejects(
                REGRESSION,
                document(
                        raw("x", "F16", new long[] {2, 3}, x), raw("y", "F16", new long[] {2}, bits16(0x3C00, 0x7E00))),
                RejectReason.NON_FINITE);
        assertTrue(f16.getMessage().startsWith("y") && f16.getMessage().contains("NaN"), f16.getMessage());
        RejectedRecordException bf16 = rejects(
                REGRESSION,
                document(
                        raw("x", "F16", new long[] {2, 3}, x),
                        raw("y", "BF16", new long[] {2}, bits16(0xFF80, 0x3F80))),
                RejectReason.NON_FINITE);
        assertTrue(bf16.getMessage().startsWith("y") && bf16.getMessage().contains("-Infinity"), bf16.getMessage());
    }

    // ---------------------------------------------------------------- size and shape

    /**
     * Two bytes per element: the size check must hold F16 to shape × 2, neither taking 4-byte
     * data as valid nor refusing the right length (the well-formed twin decodes).
     */
    @Test
    void f16WhoseByteLengthDoesNotMatchItsShapeIsMalformed() throws Exception {
        byte[] six = bits16(0x3C00, 0x4000, 0x4200, 0x4400, 0x4500, 0x4600); // 1..6
        assertArrayEquals(
                new float[] {1, 2, 3, 4, 5, 6},
                CLASSIFIER
                        .decode(document(raw("x", "F16", new long[] {2, 3}, six), labels()))
                        .xValues());

        RejectedRecordException asF32 = rejects(
                CLASSIFIER, document(raw("x", "F16", new long[] {2, 3}, new byte[24]), labels()), RejectReason.DECODE);
        assertTrue(asF32.getMessage().contains("24") && asF32.getMessage().contains("12"), asF32.getMessage());
        RejectedRecordException oneShort = rejects(
                CLASSIFIER, document(raw("x", "F16", new long[] {2, 3}, new byte[10]), labels()), RejectReason.DECODE);
        assertTrue(oneShort.getMessage().contains("10") && oneShort.getMessage().contains("12"), oneShort.getMessage());
        rejects(CLASSIFIER, document(raw("x", "BF16", new long[] {2, 3}, new byte[11]), labels()), RejectReason.DECODE);
    }

    @Test
    void bf16WithTheWrongFeatureCountIsAShapeError() throws Exception {
        byte[] eight = bits16(0x3F80, 0x3F80, 0x3F80, 0x3F80, 0x3F80, 0x3F80, 0x3F80, 0x3F80);
        assertEquals(
                4,
                new BatchCodec(new ModelSpec("mlp", 4, List.of(), "relu", 10, 1, 0.0))
                        .decode(document(raw("x", "BF16", new long[] {2, 4}, eight), labels()))
                        .features());
        RejectedRecordException e =
                rejects(CLASSIFIER, document(raw("x", "BF16", new long[] {2, 4}, eight), labels()), RejectReason.SHAPE);
        assertTrue(e.getMessage().contains("4") && e.getMessage().contains("3"), e.getMessage());
    }

    // ---------------------------------------------------------------- still refused

    /** Half-precision floats are features and targets, never class labels or tokens. */
    @Test
    void halfPrecisionLabelsAndTokensAreStillRefused() {
        byte[] x = bits16(0x3C00, 0x3C00, 0x3C00, 0x3C00, 0x3C00, 0x3C00);
        RejectedRecordException y = rejects(
                CLASSIFIER,
                document(
                        raw("x", "F16", new long[] {2, 3}, x), raw("y", "F16", new long[] {2}, bits16(0x3C00, 0x4000))),
                RejectReason.DTYPE);
        assertTrue(y.getMessage().contains("F16") && y.getMessage().contains("I64"), y.getMessage());

        BatchCodec lm = new BatchCodec(new ModelSpec(
                "causal-lm",
                4,
                List.of(),
                "gelu",
                256,
                1,
                0.0,
                null,
                new ModelSpec.Transformer(4, 1, 1, 8, 16, 0.0, true)));
        rejects(
                lm,
                document(
                        raw("x", "BF16", new long[] {1, 4}, bits16(0x3F80, 0x4000, 0x4040, 0x4080)),
                        raw("y", "I64", new long[] {1, 4}, int64s(2, 3, 4, 5))),
                RejectReason.DTYPE);
    }
}
