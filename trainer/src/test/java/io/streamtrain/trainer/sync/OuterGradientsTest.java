package io.streamtrain.trainer.sync;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.core.codec.DType;
import io.streamtrain.core.codec.SafeTensors;
import io.streamtrain.core.codec.Tensor;
import io.streamtrain.core.spec.SyncSpec;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class OuterGradientsTest {
    private static final long[] SHAPE = {3000};

    private static Tensor base(float[] values) {
        return Tensor.ofFloats("w", new long[] {values.length}, values);
    }

    private static SafeTensors.Document doc(List<Tensor> tensors) {
        Map<String, Tensor> m = new LinkedHashMap<>();
        tensors.forEach(t -> m.put(t.name(), t));
        // through the bytes, as a contribution travels
        try {
            return SafeTensors.read(SafeTensors.write(List.copyOf(m.values()), Map.of()));
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    /** A base and a local state 50 small steps away, as a round leaves them. */
    private static float[][] baseAndLocal(long seed) {
        Random r = new Random(seed);
        float[] base = new float[(int) SHAPE[0]];
        float[] local = new float[base.length];
        for (int i = 0; i < base.length; i++) {
            base[i] = (float) r.nextGaussian() * 0.1f;
            local[i] = base[i] - (float) r.nextGaussian() * 1e-3f;
        }
        return new float[][] {base, local};
    }

    private static double[] decoded(String encoding, float[] base, float[] local, long seed) {
        return OuterGradients.parameter(
                doc(OuterGradients.encode("w", SHAPE, base, local, encoding, seed)), base(base));
    }

    @Test
    void float32CarriesTheParameterItselfExactly() {
        float[][] bl = baseAndLocal(1);
        List<Tensor> t = OuterGradients.encode("w", SHAPE, bl[0], bl[1], SyncSpec.FLOAT32, 0);
        assertEquals(List.of("w"), t.stream().map(Tensor::name).toList());
        double[] got = decoded(SyncSpec.FLOAT32, bl[0], bl[1], 0);
        for (int i = 0; i < got.length; i++) {
            assertEquals(bl[1][i], (float) got[i], 0.0f);
        }
    }

    @Test
    void bfloat16RoundsTheOuterGradientToNearestEvenInTwoBytesAValue() {
        float[][] bl = baseAndLocal(2);
        List<Tensor> t = OuterGradients.encode("w", SHAPE, bl[0], bl[1], SyncSpec.BFLOAT16, 0);
        assertEquals(1, t.size());
        assertEquals(DType.BF16, t.get(0).dtype());
        assertEquals(2 * SHAPE[0], t.get(0).data().remaining(), "2 bytes a value");
        double[] got = decoded(SyncSpec.BFLOAT16, bl[0], bl[1], 0);
        for (int i = 0; i < got.length; i++) {
            double delta = (double) bl[0][i] - bl[1][i];
            double decodedDelta = (double) bl[0][i] - got[i];
            // 8 significant bits: half an ulp of bfloat16 is 2^-9 of the value
            assertEquals(delta, decodedDelta, Math.abs(delta) * 0x1p-8 + 1e-12, "value " + i);
        }
        // ties go to even: 1 + 2^-8 lies halfway between 1 and 1 + 2^-7, and 1 is even
        float[] tie = {1 + 0x1p-8f, 1 + 3 * 0x1p-8f, -(1 + 0x1p-8f)};
        Tensor enc = OuterGradients.encode("w", new long[] {3}, tie, new float[3], SyncSpec.BFLOAT16, 0)
                .get(0);
        assertArrayEquals(new float[] {1, 1 + 4 * 0x1p-8f, -1}, enc.toFloats());
    }

    @Test
    void int8IsOneByteAValueUnbiasedAndTheSameForTheSameSeed() {
        float[][] bl = baseAndLocal(3);
        List<Tensor> t = OuterGradients.encode("w", SHAPE, bl[0], bl[1], SyncSpec.INT8, 42);
        assertEquals(
                List.of("delta.w", "delta_scale.w"),
                t.stream().map(Tensor::name).toList());
        assertEquals(SHAPE[0], t.get(0).data().remaining());
        assertEquals(3, t.get(1).elements(), "a scale per block of " + SyncSpec.INT8_BLOCK + " values");
        assertEquals(
                t,
                OuterGradients.encode("w", SHAPE, bl[0], bl[1], SyncSpec.INT8, 42),
                "the same seed writes the same bytes");
        assertNotEquals(
                t.get(0),
                OuterGradients.encode("w", SHAPE, bl[0], bl[1], SyncSpec.INT8, 43)
                        .get(0));

        float[] scales = t.get(1).toFloats();
        double[] sum = new double[bl[0].length];
        int seeds = 400;
        for (int s = 0; s < seeds; s++) {
            double[] got = decoded(SyncSpec.INT8, bl[0], bl[1], s);
            for (int i = 0; i < got.length; i++) {
                double delta = (double) bl[0][i] - bl[1][i];
                double decodedDelta = (double) bl[0][i] - got[i];
                double step = scales[i / SyncSpec.INT8_BLOCK];
                assertTrue(
                        Math.abs(decodedDelta - delta) <= step * 1.0001 + 1e-9,
                        "one step of the block's scale at most: " + i);
                sum[i] += decodedDelta;
            }
        }
        // unbiased: over many seeds the mean tends to the outer
        // gradient (a standard error of step / (2·sqrt(seeds)) at most)
        double worst = 0;
        for (int i = 0; i < sum.length; i++) {
            double delta = (double) bl[0][i] - bl[1][i];
            worst = Math.max(worst, Math.abs(sum[i] / seeds - delta) / scales[i / SyncSpec.INT8_BLOCK]);
        }
        assertTrue(worst < 0.2, "mean error " + worst + " scale steps after " + seeds + " seeds");
    }

    @Test
    void theSeedDependsOnTheRunsSeedTheRoundTheNodesPlaceAndTheParameter() {
        long s = OuterGradients.seed(42, 3, 0, "w");
        assertEquals(s, OuterGradients.seed(42, 3, 0, "w"));
        assertNotEquals(s, OuterGradients.seed(42, 4, 0, "w"));
        assertNotEquals(s, OuterGradients.seed(42, 3, 1, "w"));
        assertNotEquals(s, OuterGradients.seed(42, 3, 0, "b"));
        assertNotEquals(s, OuterGradients.seed(7, 3, 0, "w"));
    }

    @Test
    void aContributionWithoutTheParameterOrWithABadEncodingIsNoneOrRefused() {
        float[] b = {1, 2};
        assertNull(OuterGradients.parameter(doc(List.of(Tensor.ofFloats("v", new long[] {2}, b))), base(b)));
        Tensor i8 = OuterGradients.encode("w", new long[] {2}, b, new float[2], SyncSpec.INT8, 1)
                .get(0);
        assertThrows(
                IllegalArgumentException.class,
                () -> OuterGradients.parameter(doc(List.of(i8)), base(b)),
                "I8 without scales");
        Tensor wrongShape = Tensor.ofFloats("w", new long[] {2, 1}, b);
        assertThrows(IllegalArgumentException.class, () -> OuterGradients.parameter(doc(List.of(wrongShape)), base(b)));
        Tensor f32Delta = Tensor.ofFloats("delta.w", new long[] {2}, b);
        assertThrows(IllegalArgumentException.class, () -> OuterGradients.parameter(doc(List.of(f32Delta)), base(b)));
    }
}
