package io.streamtrain.core.codec;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.core.checkpoint.RecordsChecksum;
import io.streamtrain.core.spec.ModelSpec;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class BatchCodecTest {
    private static final int B = 3;
    private static final ModelSpec FASHION = new ModelSpec("mlp", 784, List.of(16), "relu", 10, 1, 0.0);
    private static final BatchCodec CLASSIFIER = new BatchCodec(FASHION);

    private static ModelSpec regression(int inputs, int outputs) {
        return new ModelSpec("mlp", inputs, List.of(), "relu", 0, outputs, 0.0);
    }

    // ---------------------------------------------------------------- tensor builders

    private static ByteBuffer le(int bytes) {
        return ByteBuffer.allocate(bytes).order(ByteOrder.LITTLE_ENDIAN);
    }

    private static Tensor f32(String name, long[] shape, float[] v) {
        return Tensor.ofFloats(name, shape, v);
    }

    private static Tensor i64(String name, long... v) {
        return Tensor.ofLongs(name, new long[] {v.length}, v);
    }

    private static Tensor i32(String name, int... v) {
        ByteBuffer b = le(4 * v.length);
        for (int x : v) {
            b.putInt(x);
        }
        return new Tensor(name, DType.I32, new long[] {v.length}, b.flip());
    }

    private static Tensor u8(String name, long[] shape, int... v) {
        ByteBuffer b = le(v.length);
        for (int x : v) {
            b.put((byte) x);
        }
        return new Tensor(name, DType.U8, shape, b.flip());
    }

    private static Tensor raw(String name, DType dtype, long[] shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return new Tensor(name, dtype, shape, le((int) n * dtype.bytes()));
    }

    private static byte[] doc(Tensor... tensors) {
        return SafeTensors.write(List.of(tensors), Map.of());
    }

    private static float[] features(int n, long seed) {
        Random r = new Random(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = r.nextFloat() * 2 - 1;
        }
        return x;
    }

    /** Decoding {@code value} is refused for {@code reason}, with a message that explains. */
    static RejectedRecordException rejects(BatchCodec codec, byte[] value, RejectReason reason) {
        RejectedRecordException e = assertThrows(RejectedRecordException.class, () -> codec.decode(value));
        assertEquals(reason, e.reason(), e.getMessage());
        assertTrue(e.getMessage() != null && e.getMessage().length() > 10, "message should explain: " + e.getMessage());
        return e;
    }

    // ---------------------------------------------------------------- classification

    @Test
    void aValueIsDecodedWhereTheConsumerHoldsIt() throws Exception {
        // Kafka hands the train feed a view of the fetched bytes: the record in the middle of a larger buffer
        float[] x = features(B * 784, 2);
        byte[] value = doc(f32("x", new long[] {B, 784}, x), i64("y", 1, 2, 3));
        byte[] fetched = new byte[value.length + 100];
        System.arraycopy(value, 0, fetched, 37, value.length);
        ByteBuffer view = ByteBuffer.wrap(fetched, 37, value.length).slice(); // as Kafka slices it
        ByteBuffer at = ByteBuffer.wrap(fetched, 37, value.length); // and at a position, to be safe
        for (ByteBuffer v : List.of(view, at)) {
            int position = v.position();
            Batch b = CLASSIFIER.decode(v);
            assertArrayEquals(x, b.xValues());
            assertArrayEquals(new long[] {1, 2, 3}, b.classLabels());
            assertEquals(position, v.position(), "the buffer is not moved");
            assertEquals(
                    RecordsChecksum.of(value),
                    RecordsChecksum.of(v),
                    "the records checksum of the view is the value's");
        }
        assertTrue(
                CLASSIFIER.decode(value).x().isDirect(),
                "features go straight to a direct buffer the engine reads in place");
    }

    @Test
    void flatF32FeaturesWithI64Labels() throws Exception {
        float[] x = features(B * 784, 1);
        Batch b = CLASSIFIER.decode(doc(f32("x", new long[] {B, 784}, x), i64("y", 3, 0, 9)));
        assertEquals(B, b.samples());
        assertEquals(784, b.features());
        assertArrayEquals(x, b.xValues());
        assertArrayEquals(new long[] {3, 0, 9}, b.classLabels());
        assertNull(b.targets());
        assertEquals(1, b.outputs());
    }

    @Test
    void encodeProducesWhatDecodeReads() throws Exception {
        float[] x = features(B * 784, 2);
        Batch b = CLASSIFIER.decode(BatchCodec.encode(x, new long[] {B, 784}, new long[] {1, 2, 3}));
        assertArrayEquals(x, b.xValues());
        assertArrayEquals(new long[] {1, 2, 3}, b.classLabels());
    }

    @Test
    void u8ImagesAreFlattenedWithoutScaling() throws Exception {
        int[] pixels = new int[2 * 28 * 28];
        float[] expected = new float[pixels.length];
        for (int i = 0; i < pixels.length; i++) {
            pixels[i] = (i * 7) % 256;
            expected[i] = pixels[i];
        }
        Batch b = CLASSIFIER.decode(doc(u8("x", new long[] {2, 28, 28}, pixels), i64("y", 5, 7)));
        assertEquals(2, b.samples());
        assertEquals(784, b.features());
        assertArrayEquals(expected, b.xValues());
        assertEquals(200f, b.xValues()[indexOf(pixels, 200)], "U8 pixels are unsigned");
    }

    private static int indexOf(int[] a, int v) {
        for (int i = 0; i < a.length; i++) {
            if (a[i] == v) {
                return i;
            }
        }
        throw new AssertionError("no " + v);
    }

    @Test
    void i32AndU8LabelsAreAccepted() throws Exception {
        float[] x = features(2 * 784, 3);
        assertArrayEquals(
                new long[] {9, 4},
                CLASSIFIER
                        .decode(doc(f32("x", new long[] {2, 784}, x), i32("y", 9, 4)))
                        .classLabels());
        assertArrayEquals(
                new long[] {0, 8},
                CLASSIFIER
                        .decode(doc(f32("x", new long[] {2, 784}, x), u8("y", new long[] {2}, 0, 8)))
                        .classLabels());
    }

    // ---------------------------------------------------------------- regression

    @Test
    void regressionTargetsOfShapeB() throws Exception {
        BatchCodec codec = new BatchCodec(regression(4, 1));
        float[] x = features(B * 4, 4);
        float[] y = {0.5f, -1f, 2f};
        Batch b = codec.decode(doc(f32("x", new long[] {B, 4}, x), f32("y", new long[] {B}, y)));
        assertEquals(B, b.samples());
        assertArrayEquals(x, b.xValues());
        assertArrayEquals(y, b.targets());
        assertNull(b.classLabels());
        assertEquals(1, b.outputs());
    }

    @Test
    void regressionTargetsOfShapeBByOutputs() throws Exception {
        BatchCodec codec = new BatchCodec(regression(4, 2));
        float[] x = features(B * 4, 5);
        float[] y = features(B * 2, 6);
        Batch b = codec.decode(BatchCodec.encodeRegression(x, new long[] {B, 4}, y, 2));
        assertArrayEquals(y, b.targets());
        assertEquals(2, b.outputs());
    }

    @Test
    void regressionWithTooFewTargetsPerSample() {
        BatchCodec codec = new BatchCodec(regression(4, 2));
        RejectedRecordException e = rejects(
                codec,
                doc(f32("x", new long[] {B, 4}, features(B * 4, 7)), f32("y", new long[] {B}, new float[B])),
                RejectReason.SHAPE);
        assertTrue(e.getMessage().contains("2 values per sample"), e.getMessage());
    }

    @Test
    void regressionWithIntegerTargets() {
        BatchCodec codec = new BatchCodec(regression(4, 1));
        rejects(codec, doc(f32("x", new long[] {B, 4}, features(B * 4, 8)), i64("y", 1, 2, 3)), RejectReason.DTYPE);
    }

    @Test
    void regressionWithNonFiniteTarget() {
        BatchCodec codec = new BatchCodec(regression(4, 1));
        RejectedRecordException e = rejects(
                codec,
                doc(
                        f32("x", new long[] {B, 4}, features(B * 4, 9)),
                        f32("y", new long[] {B}, new float[] {1f, Float.NaN, 0f})),
                RejectReason.NON_FINITE);
        assertTrue(e.getMessage().startsWith("y"), e.getMessage());
    }

    // ---------------------------------------------------------------- rejections

    @Test
    void garbageBytes() {
        RejectedRecordException e =
                rejects(CLASSIFIER, "hello, not a tensor".getBytes(StandardCharsets.UTF_8), RejectReason.DECODE);
        assertTrue(e.getMessage().contains("safetensors"), e.getMessage());
    }

    @Test
    void nullValue() {
        RejectedRecordException e = rejects(CLASSIFIER, null, RejectReason.DECODE);
        assertTrue(e.getMessage().contains("no value"), e.getMessage());
    }

    @Test
    void missingY() {
        RejectedRecordException e =
                rejects(CLASSIFIER, doc(f32("x", new long[] {B, 784}, features(B * 784, 10))), RejectReason.SHAPE);
        assertTrue(e.getMessage().contains("'y'") && e.getMessage().contains("[x]"), e.getMessage());
    }

    @Test
    void missingX() {
        rejects(CLASSIFIER, doc(i64("y", 1, 2, 3)), RejectReason.SHAPE);
    }

    @Test
    void wrongFeatureCount() {
        RejectedRecordException e = rejects(
                CLASSIFIER,
                doc(f32("x", new long[] {B, 783}, features(B * 783, 11)), i64("y", 1, 2, 3)),
                RejectReason.SHAPE);
        assertTrue(e.getMessage().contains("783") && e.getMessage().contains("784"), e.getMessage());
    }

    @Test
    void mismatchedLeadingSize() {
        RejectedRecordException e = rejects(
                CLASSIFIER,
                doc(f32("x", new long[] {B, 784}, features(B * 784, 12)), i64("y", 1, 2)),
                RejectReason.SHAPE);
        assertTrue(e.getMessage().contains(String.valueOf(B)), e.getMessage());
    }

    @Test
    void emptyBatch() {
        rejects(CLASSIFIER, doc(f32("x", new long[] {0, 784}, new float[0]), i64("y")), RejectReason.SHAPE);
    }

    @Test
    void boolFeatures() {
        RejectedRecordException e = rejects(
                CLASSIFIER, doc(raw("x", DType.BOOL, new long[] {B, 784}), i64("y", 1, 2, 3)), RejectReason.DTYPE);
        assertTrue(e.getMessage().contains("BOOL") && e.getMessage().contains("F32"), e.getMessage());
    }

    @Test
    void floatLabelsForClassification() {
        RejectedRecordException e = rejects(
                CLASSIFIER,
                doc(
                        f32("x", new long[] {B, 784}, features(B * 784, 13)),
                        f32("y", new long[] {B}, new float[] {1f, 2f, 3f})),
                RejectReason.DTYPE);
        assertTrue(e.getMessage().contains("F32") && e.getMessage().contains("I64"), e.getMessage());
    }

    @Test
    void nanInFeatures() {
        float[] x = features(B * 784, 14);
        x[784 + 5] = Float.NaN;
        RejectedRecordException e =
                rejects(CLASSIFIER, doc(f32("x", new long[] {B, 784}, x), i64("y", 1, 2, 3)), RejectReason.NON_FINITE);
        assertTrue(e.getMessage().contains("NaN") && e.getMessage().contains(String.valueOf(784 + 5)), e.getMessage());
    }

    @Test
    void infinityInFeatures() {
        float[] x = features(B * 784, 15);
        x[0] = Float.NEGATIVE_INFINITY;
        RejectedRecordException e =
                rejects(CLASSIFIER, doc(f32("x", new long[] {B, 784}, x), i64("y", 1, 2, 3)), RejectReason.NON_FINITE);
        assertTrue(e.getMessage().contains("Infinity"), e.getMessage());
    }

    @Test
    void f64FeatureTooLargeForFloat32IsNonFinite() {
        ByteBuffer b = le(8 * 784);
        for (int i = 0; i < 784; i++) {
            b.putDouble(i == 3 ? 1e300 : 0.5);
        }
        Tensor x = new Tensor("x", DType.F64, new long[] {1, 784}, b.flip());
        rejects(CLASSIFIER, doc(x, i64("y", 1)), RejectReason.NON_FINITE);
    }

    @Test
    void labelEqualToClasses() {
        RejectedRecordException e = rejects(
                CLASSIFIER,
                doc(f32("x", new long[] {B, 784}, features(B * 784, 16)), i64("y", 1, 10, 3)),
                RejectReason.LABEL);
        assertTrue(e.getMessage().contains("y[1]") && e.getMessage().contains("[0, 10)"), e.getMessage());
    }

    @Test
    void negativeLabel() {
        RejectedRecordException e = rejects(
                CLASSIFIER,
                doc(f32("x", new long[] {B, 784}, features(B * 784, 17)), i64("y", 1, 2, -1)),
                RejectReason.LABEL);
        assertTrue(e.getMessage().contains("-1"), e.getMessage());
    }

    @Test
    void rejectReasonCodesAreTheDlqHeaderValues() {
        List<String> codes = new ArrayList<>();
        for (RejectReason r : RejectReason.values()) {
            codes.add(r.code());
        }
        assertEquals(List.of("decode", "shape", "dtype", "non-finite", "label"), codes);
    }

    /**
     * A forged header whose byte size wraps around (2^61 F64 elements = 2^64 bytes = 0) must
     * go to the DLQ like any other bad record, not escape decode() as an unchecked exception.
     */
    @Test
    void forgedHugeShapeIsRejectedNotThrown() {
        long n = 1L << 61;
        String header = "{\"x\":{\"dtype\":\"F64\",\"shape\":[" + n + ",1],\"data_offsets\":[0,0]},"
                + "\"y\":{\"dtype\":\"I64\",\"shape\":[" + n + "],\"data_offsets\":[0,0]}}";
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        byte[] value = le(8 + h.length).putLong(h.length).put(h).array();
        BatchCodec codec = new BatchCodec(regression(1, 1));
        RejectedRecordException e = assertThrows(RejectedRecordException.class, () -> codec.decode(value));
        assertEquals(RejectReason.DECODE, e.reason());
    }

    // ---------------------------------------------------------------- cnn

    private static final ModelSpec CNN = new ModelSpec(
            "cnn",
            2 * 3 * 4,
            List.of(),
            "relu",
            5,
            1,
            0.0,
            new ModelSpec.Conv(List.of(2, 3, 4), List.of(8), 3, 1, 0.0),
            null);

    @Test
    void cnnTakesImagesAsChwOrFlattened() throws Exception {
        float[] x = features(B * 24, 11);
        BatchCodec codec = new BatchCodec(CNN);
        Batch images = codec.decode(doc(f32("x", new long[] {B, 2, 3, 4}, x), i64("y", 0, 4, 2)));
        Batch flat = codec.decode(doc(f32("x", new long[] {B, 24}, x), i64("y", 0, 4, 2)));
        for (Batch b : List.of(images, flat)) {
            assertEquals(24, b.features());
            assertArrayEquals(x, b.xValues(), "row-major [C, H, W] is the flat order");
            assertArrayEquals(new long[] {0, 4, 2}, b.classLabels());
        }
    }

    @Test
    void cnnRefusesImagesOfAnotherLayout() {
        BatchCodec codec = new BatchCodec(CNN);
        // the same number of values, channels last: not silently reinterpreted
        RejectedRecordException e = rejects(
                codec,
                doc(f32("x", new long[] {B, 3, 4, 2}, features(B * 24, 1)), i64("y", 0, 1, 2)),
                RejectReason.SHAPE);
        assertTrue(e.getMessage().contains("[B, 2, 3, 4]") && e.getMessage().contains("[B, 24]"), e.getMessage());
        rejects(codec, doc(f32("x", new long[] {B, 6, 4}, features(B * 24, 1)), i64("y", 0, 1, 2)), RejectReason.SHAPE);
        rejects(codec, doc(f32("x", new long[] {B, 25}, features(B * 25, 1)), i64("y", 0, 1, 2)), RejectReason.SHAPE);
        rejects(codec, doc(f32("x", new long[] {B, 24}, features(B * 24, 1)), i64("y", 0, 5, 2)), RejectReason.LABEL);
    }

    // ---------------------------------------------------------------- causal-lm

    private static final ModelSpec LM = new ModelSpec(
            "causal-lm", 4, List.of(), "gelu", 256, 1, 0.0, null, new ModelSpec.Transformer(4, 1, 1, 8, 16, 0.0, true));

    private static Tensor tokens(String name, DType dtype, long rows, long... ids) {
        ByteBuffer b = le(ids.length * dtype.bytes());
        for (long id : ids) {
            switch (dtype) {
                case I64 -> b.putLong(id);
                case I32 -> b.putInt((int) id);
                default -> b.put((byte) id);
            }
        }
        return new Tensor(name, dtype, new long[] {rows, ids.length / rows}, b.flip());
    }

    @Test
    void causalLmTakesTokenWindowsAndTheirNextTokens() throws Exception {
        BatchCodec codec = new BatchCodec(LM);
        Batch b = codec.decode(doc(
                tokens("x", DType.I64, 2, 104, 101, 108, 108, 255, 0, 1, 2),
                tokens("y", DType.I64, 2, 101, 108, 108, 111, 0, 1, 2, 3)));
        assertEquals(2, b.samples());
        assertEquals(4, b.features());
        assertEquals(4, b.outputs(), "a label per position");
        assertArrayEquals(new float[] {104, 101, 108, 108, 255, 0, 1, 2}, b.xValues());
        assertArrayEquals(new long[] {101, 108, 108, 111, 0, 1, 2, 3}, b.classLabels());
        Batch u8 = codec.decode(
                doc(tokens("x", DType.U8, 1, 200, 201, 202, 203), tokens("y", DType.I32, 1, 201, 202, 203, 204)));
        assertArrayEquals(new float[] {200, 201, 202, 203}, u8.xValues(), "unsigned bytes are tokens 0..255");
    }

    @Test
    void causalLmRefusesWhatIsNotAWindowOfBytes() {
        BatchCodec codec = new BatchCodec(LM);
        long[] four = {1, 2, 3, 4};
        // features, not tokens
        rejects(
                codec,
                doc(f32("x", new long[] {1, 4}, new float[] {1, 2, 3, 4}), tokens("y", DType.I64, 1, four)),
                RejectReason.DTYPE);
        // a class per sample, as for a classifier
        RejectedRecordException y1 =
                rejects(codec, doc(tokens("x", DType.I64, 1, four), i64("y", 5)), RejectReason.SHAPE);
        assertTrue(y1.getMessage().contains("[B, 4]"), y1.getMessage());
        // another context
        rejects(codec, doc(tokens("x", DType.I64, 1, 1, 2, 3), tokens("y", DType.I64, 1, 2, 3, 4)), RejectReason.SHAPE);
        // a token outside the byte vocabulary, in x or in y
        rejects(
                codec,
                doc(tokens("x", DType.I64, 1, 1, 2, 256, 4), tokens("y", DType.I64, 1, four)),
                RejectReason.LABEL);
        rejects(
                codec,
                doc(tokens("x", DType.I64, 1, four), tokens("y", DType.I64, 1, 2, 3, 4, -1)),
                RejectReason.LABEL);
    }
}
