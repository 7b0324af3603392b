package io.streamtrain.core.codec;

import io.streamtrain.core.spec.ModelSpec;
import java.nio.ByteBuffer;
import java.nio.FloatBuffer;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The batch record format: a safetensors document with {@code x} ({@code [B, ...]}
 * features) and {@code y} ({@code [B]} class labels, or {@code [B]}/{@code [B, outputs]}
 * regression targets). Per model type: an {@code mlp} takes any {@code x} with
 * {@code inputs} values per sample; a {@code cnn} takes {@code [B, C, H, W]} as its
 * {@code inputShape} or the same flattened to {@code [B, C*H*W]}; a {@code causal-lm} takes
 * integer token ids {@code x} and {@code y} of {@code [B, context]} (y: the token after each
 * of x's) in [0, 256). Decoding checks the record against the model, so a bad record is
 * refused with a reason here and never reaches the engine.
 */
public final class BatchCodec {
    /** Features: any float or integer type, widened or rounded to float32 ({@link Tensor#toFloats()}). */
    private static final Set<DType> FEATURE_TYPES = EnumSet.of(
            DType.F32, DType.F64, DType.F16, DType.BF16, DType.U8, DType.I8, DType.I16, DType.I32, DType.I64);

    private static final Set<DType> LABEL_TYPES = EnumSet.of(DType.I64, DType.I32, DType.I16, DType.I8, DType.U8);
    /** Regression targets: any float type, converted to float32. */
    private static final Set<DType> TARGET_TYPES = EnumSet.of(DType.F32, DType.F64, DType.F16, DType.BF16);

    private final ModelSpec model;
    private final FeatureBuffers buffers;

    public BatchCodec(ModelSpec model) {
        this(model, FeatureBuffers.NONE);
    }

    /** @param buffers where the features' direct buffers come from */
    public BatchCodec(ModelSpec model, FeatureBuffers buffers) {
        this.model = model;
        this.buffers = buffers;
    }

    public Batch decode(byte[] value) throws RejectedRecordException {
        return decode(value == null ? null : ByteBuffer.wrap(value));
    }

    /** Decodes a record's value where it is (its remaining bytes; the buffer is not moved). */
    public Batch decode(ByteBuffer value) throws RejectedRecordException {
        if (value == null) {
            throw new RejectedRecordException(RejectReason.DECODE, "record has no value");
        }
        SafeTensors.Document doc;
        try {
            doc = SafeTensors.read(value);
        } catch (SafeTensorsException e) {
            throw new RejectedRecordException(RejectReason.DECODE, "not a safetensors document: " + e.getMessage());
        }
        Tensor x = doc.tensor("x");
        Tensor y = doc.tensor("y");
        if (x == null || y == null) {
            throw new RejectedRecordException(
                    RejectReason.SHAPE,
                    "a batch needs tensors 'x' and 'y'; found " + doc.tensors().keySet());
        }
        if (x.rank() < 1 || x.dim(0) == 0) {
            throw new RejectedRecordException(RejectReason.SHAPE, "x must be [B, ...] with B >= 1, got " + x);
        }
        long samples = x.dim(0);
        if (y.rank() < 1 || y.dim(0) != samples) {
            throw new RejectedRecordException(
                    RejectReason.SHAPE, "y must have the same leading size as x (" + samples + "), got " + y);
        }
        if (ModelSpec.CAUSAL_LM.equals(model.type())) {
            return tokens(x, y, (int) samples);
        }
        if (!FEATURE_TYPES.contains(x.dtype())) {
            throw new RejectedRecordException(RejectReason.DTYPE, "x is " + x.dtype() + "; allowed: " + FEATURE_TYPES);
        }
        long features = x.elements() / samples;
        if (ModelSpec.CNN.equals(model.type())) {
            requireImages(x);
        } else if (features != model.inputs()) {
            throw new RejectedRecordException(
                    RejectReason.SHAPE,
                    "x has " + features + " features per sample, the model takes " + model.inputs());
        }
        ByteBuffer xs = x.toNativeFloats(buffers);
        checkFinite(xs.asFloatBuffer(), "x");
        if (model.classification()) {
            return new Batch((int) samples, (int) features, xs, labels(y, samples), null, 1);
        }
        return new Batch((int) samples, (int) features, xs, null, targets(y, samples), model.outputs());
    }

    /** A cnn takes {@code [B, C, H, W]} as its spec's inputShape says, or the same flattened to {@code [B, C*H*W]}. */
    private void requireImages(Tensor x) throws RejectedRecordException {
        List<Integer> chw = model.conv().inputShape();
        boolean flat = x.rank() == 2 && x.dim(1) == model.inputs();
        boolean image = x.rank() == 4 && x.dim(1) == chw.get(0) && x.dim(2) == chw.get(1) && x.dim(3) == chw.get(2);
        if (!flat && !image) {
            throw new RejectedRecordException(
                    RejectReason.SHAPE,
                    "x must be [B, " + chw.get(0) + ", " + chw.get(1) + ", " + chw.get(2)
                            + "] (model.inputShape [C, H, W]) or flattened [B, " + model.inputs() + "], got " + x);
        }
    }

    /** A causal-lm's sample: {@code context} byte tokens in {@code x} and in {@code y} the token that follows each. */
    @SuppressWarnings("ReferenceEquality") // which of the record's two tensors is being checked
    private Batch tokens(Tensor x, Tensor y, int samples) throws RejectedRecordException {
        int context = model.transformer().context();
        for (Tensor t : new Tensor[] {x, y}) {
            if (!LABEL_TYPES.contains(t.dtype())) {
                throw new RejectedRecordException(
                        RejectReason.DTYPE,
                        t.name() + " is " + t.dtype() + "; a causal-lm takes token ids," + " one of " + LABEL_TYPES);
            }
            if (t.rank() != 2 || t.dim(1) != context) {
                throw new RejectedRecordException(
                        RejectReason.SHAPE,
                        t.name() + " must be [B, " + context + "] (model.context) token ids"
                                + (t == y ? ", the token after each of x's" : "") + ", got " + t);
            }
        }
        long[] xs = tokenIds(x);
        long[] ys = tokenIds(y);
        float[] xf = new float[xs.length];
        for (int i = 0; i < xs.length; i++) {
            xf[i] = xs[i]; // exact: ids are below 2^24
        }
        return new Batch(samples, context, xf, ys, null, context);
    }

    private long[] tokenIds(Tensor t) throws RejectedRecordException {
        long[] ids = t.toLongs();
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= model.classes()) {
                throw new RejectedRecordException(
                        RejectReason.LABEL,
                        t.name() + " holds " + ids[i] + " at flat index " + i + ", not a byte token in [0, "
                                + model.classes() + ")");
            }
        }
        return ids;
    }

    private long[] labels(Tensor y, long samples) throws RejectedRecordException {
        if (!LABEL_TYPES.contains(y.dtype())) {
            throw new RejectedRecordException(
                    RejectReason.DTYPE, "y is " + y.dtype() + "; class labels must be one of " + LABEL_TYPES);
        }
        if (y.elements() != samples) {
            throw new RejectedRecordException(RejectReason.SHAPE, "class labels y must be [B], got " + y);
        }
        long[] labels = y.toLongs();
        for (int i = 0; i < labels.length; i++) {
            if (labels[i] < 0 || labels[i] >= model.classes()) {
                throw new RejectedRecordException(
                        RejectReason.LABEL,
                        "y[" + i + "] = " + labels[i] + " is not a class in [0, " + model.classes() + ")");
            }
        }
        return labels;
    }

    private float[] targets(Tensor y, long samples) throws RejectedRecordException {
        if (!TARGET_TYPES.contains(y.dtype())) {
            throw new RejectedRecordException(
                    RejectReason.DTYPE, "y is " + y.dtype() + "; regression targets must be one of " + TARGET_TYPES);
        }
        if (y.elements() != samples * model.outputs()) {
            throw new RejectedRecordException(
                    RejectReason.SHAPE,
                    "regression targets y must hold " + model.outputs() + " values per sample, got " + y);
        }
        float[] t = y.toFloats();
        checkFinite(FloatBuffer.wrap(t), "y");
        return t;
    }

    private static void checkFinite(FloatBuffer v, String name) throws RejectedRecordException {
        for (int i = 0, n = v.limit(); i < n; i++) {
            float f = v.get(i);
            if (!Float.isFinite(f)) {
                throw new RejectedRecordException(
                        RejectReason.NON_FINITE, name + " holds " + f + " at flat index " + i);
            }
        }
    }

    /** Encodes features {@code [samples, features]} (float32) and class labels (int64). */
    public static byte[] encode(float[] x, long[] xShape, long[] labels) {
        return SafeTensors.write(
                List.of(Tensor.ofFloats("x", xShape, x), Tensor.ofLongs("y", new long[] {labels.length}, labels)),
                Map.of());
    }

    /** Encodes features and float32 regression targets of shape {@code [samples, outputs]}. */
    public static byte[] encodeRegression(float[] x, long[] xShape, float[] targets, int outputs) {
        long samples = xShape[0];
        return SafeTensors.write(
                List.of(Tensor.ofFloats("x", xShape, x), Tensor.ofFloats("y", new long[] {samples, outputs}, targets)),
                Map.of());
    }
}
