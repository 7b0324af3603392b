package io.streamtrain.trainer.sync;

import io.streamtrain.core.codec.DType;
import io.streamtrain.core.codec.SafeTensors;
import io.streamtrain.core.codec.Tensor;
import io.streamtrain.core.spec.SyncSpec;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.SplittableRandom;
import java.util.UUID;

/**
 * A streaming contribution's outer gradient: per parameter, {@code Δ = base − local} (the
 * round's starting value minus the node's value when it hands in), as a contribution carries
 * it. In the payload:
 *
 * <ul>
 *   <li>{@code float32}: the parameter itself under its own name (exact; the combiner takes
 *       the difference in double precision);
 *   <li>{@code bfloat16}: {@code delta.<parameter>} as BF16, rounded to nearest even;
 *   <li>{@code int8}: {@code delta.<parameter>} as I8 and {@code delta_scale.<parameter>} as
 *       F32, one scale ({@code max|Δ| / 127}) per block of {@value SyncSpec#INT8_BLOCK} values,
 *       rounded stochastically (unbiased) with a generator seeded by the run's seed, the round,
 *       the node's place in it and the parameter, so the same history writes the same bytes.
 * </ul>
 *
 * A pure function: every node decodes a contribution to the same values.
 */
public final class OuterGradients {
    public static final String DELTA_PREFIX = "delta.";
    public static final String SCALE_PREFIX = "delta_scale.";

    private OuterGradients() {}

    /**
     * The tensors that carry one parameter's outer gradient.
     *
     * @param seed for int8's stochastic rounding ({@link #seed})
     */
    public static List<Tensor> encode(
            String name, long[] shape, float[] base, float[] local, String encoding, long seed) {
        if (SyncSpec.FLOAT32.equals(encoding)) {
            return List.of(Tensor.ofFloats(name, shape, local));
        }
        float[] delta = new float[local.length];
        for (int i = 0; i < delta.length; i++) {
            delta[i] = base[i] - local[i];
        }
        return switch (encoding) {
            case SyncSpec.BFLOAT16 -> List.of(bfloat16(DELTA_PREFIX + name, shape, delta));
            case SyncSpec.INT8 -> int8(name, shape, delta, seed);
            default -> throw new IllegalArgumentException("no outer-gradient encoding " + encoding);
        };
    }

    /**
     * The node's value of parameter {@code base.name()} as the contribution {@code doc} gives
     * it: its own value (float32), or the base minus the decoded outer gradient, in double
     * precision.
     *
     * @return null when the contribution carries neither
     * @throws IllegalArgumentException when what it carries is not of the base's shape, or not an outer gradient's type
     */
    public static double[] parameter(SafeTensors.Document doc, Tensor base) {
        String name = base.name();
        float[] b = base.toFloats();
        Tensor own = doc.tensor(name);
        if (own != null) {
            requireShape(own, base);
            float[] v = own.toFloats();
            double[] out = new double[v.length];
            for (int i = 0; i < v.length; i++) {
                out[i] = v[i];
            }
            return out;
        }
        Tensor delta = doc.tensor(DELTA_PREFIX + name);
        if (delta == null) {
            return null;
        }
        requireShape(delta, base);
        float[] d = delta(delta, doc.tensor(SCALE_PREFIX + name));
        double[] out = new double[d.length];
        for (int i = 0; i < d.length; i++) {
            out[i] = (double) b[i] - d[i];
        }
        return out;
    }

    /**
     * The seed of int8's rounding for one parameter of one node's contribution to one round:
     * from the run's {@code init.seed}, the round, the lowest partition the contribution covers
     * (what orders it in the round, where a node name would make two runs of the same history
     * differ) and the parameter.
     */
    public static long seed(long runSeed, long round, int firstPartition, String parameter) {
        byte[] key =
                (runSeed + "\n" + round + "\n" + firstPartition + "\n" + parameter).getBytes(StandardCharsets.UTF_8);
        return UUID.nameUUIDFromBytes(key).getMostSignificantBits();
    }

    private static float[] delta(Tensor delta, Tensor scale) {
        if (delta.dtype() == DType.BF16) {
            return delta.toFloats();
        }
        if (delta.dtype() != DType.I8 || scale == null || scale.dtype() != DType.F32) {
            throw new IllegalArgumentException(
                    delta.name() + " is " + delta.dtype() + (scale == null ? " without a scale" : "")
                            + ": an outer gradient is BF16, or I8 with F32 block scales");
        }
        int n = Math.toIntExact(delta.elements());
        float[] s = scale.toFloats();
        if (s.length != blocks(n)) {
            throw new IllegalArgumentException(scale.name() + " has " + s.length + " scales for " + n
                    + " values; blocks of " + SyncSpec.INT8_BLOCK + " need " + blocks(n));
        }
        ByteBuffer b = delta.data();
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = b.get(i) * s[i / SyncSpec.INT8_BLOCK];
        }
        return out;
    }

    /**
     * Optimizer slots as a streaming contribution carries them at the epoch's end: in bfloat16
     * unless the outer gradients travel in float32. Not int8: Adam's second moment spans many
     * orders of magnitude within a block, and a block scale would round its small values to 0.
     */
    public static List<Tensor> slots(List<Tensor> slots, String encoding) {
        if (SyncSpec.FLOAT32.equals(encoding)) {
            return slots;
        }
        return slots.stream()
                .map(t -> bfloat16(t.name(), t.shape(), t.toFloats()))
                .toList();
    }

    private static Tensor bfloat16(String name, long[] shape, float[] values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 2).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            int bits = Float.floatToRawIntBits(v);
            // round to nearest, ties to even, on the 16 bits dropped (the values are finite: steps are checked)
            int rounded = bits + 0x7FFF + ((bits >>> 16) & 1);
            b.putShort((short) (rounded >>> 16));
        }
        return new Tensor(name, DType.BF16, shape, b.flip());
    }

    private static List<Tensor> int8(String name, long[] shape, float[] delta, long seed) {
        int n = delta.length;
        float[] scales = new float[blocks(n)];
        ByteBuffer q = ByteBuffer.allocate(n);
        SplittableRandom random = new SplittableRandom(seed);
        for (int block = 0; block < scales.length; block++) {
            int from = block * SyncSpec.INT8_BLOCK;
            int to = Math.min(n, from + SyncSpec.INT8_BLOCK);
            float max = 0;
            for (int i = from; i < to; i++) {
                max = Math.max(max, Math.abs(delta[i]));
            }
            float scale = max / 127f;
            scales[block] = scale;
            for (int i = from; i < to; i++) {
                // floor(x + u), u uniform in [0, 1): rounds up with probability frac(x), so unbiased
                double x = scale == 0 ? 0 : delta[i] / scale;
                long r = (long) Math.floor(x + random.nextDouble());
                q.put(i, (byte) Math.max(-127, Math.min(127, r)));
            }
        }
        return List.of(
                new Tensor(DELTA_PREFIX + name, DType.I8, shape, q),
                Tensor.ofFloats(SCALE_PREFIX + name, new long[] {scales.length}, scales));
    }

    private static int blocks(int n) {
        return (n + SyncSpec.INT8_BLOCK - 1) / SyncSpec.INT8_BLOCK;
    }

    private static void requireShape(Tensor got, Tensor base) {
        if (!java.util.Arrays.equals(got.shape(), base.shape())) {
            throw new IllegalArgumentException(
                    "a contribution's " + got.name() + " is " + java.util.Arrays.toString(got.shape())
                            + ", the model's " + base.name() + " " + java.util.Arrays.toString(base.shape()));
        }
    }
}
