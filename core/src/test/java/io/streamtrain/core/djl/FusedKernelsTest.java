package io.streamtrain.core.djl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinWorkerThread;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The fused kernels against the same arithmetic written out in doubles, on tensors of the real
 * engine. The build compiles the kernels with the system's C compiler ({@code cc}); without one
 * these tests fail, saying so.
 */
class FusedKernelsTest {
    private static final FusedKernels ONE_THREAD = new FusedKernels(1);

    @BeforeAll
    static void engine() {
        Engines.pytorch();
        assertTrue(
                FusedKernels.available(),
                "the fused kernels did not load (the build compiles core/src/main/native/fused_kernels.c with cc:"
                        + " apt-get install gcc): " + FusedKernels.unavailableReason());
    }

    private static float[] values(int n, long seed) {
        java.util.Random r = new java.util.Random(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) r.nextGaussian();
        }
        // exact zeros: sign(0) is 0
        v[0] = 0f;
        return v;
    }

    @Test
    void penalizeAddsThePenaltiesGradientsAndSumsTheFigures() {
        int n = 1000;
        float[] w = values(n, 1);
        float[] g = values(n, 2);
        float[] w0 = values(n, 3);
        double l1 = 1e-3;
        double l2 = 1e-2;
        double l2sp = 0.5;
        try (NDManager m = NDManager.newBaseManager(Engines.ENGINE)) {
            NDArray wa = m.create(w, new Shape(40, 25));
            NDArray ga = m.create(g, new Shape(40, 25));
            NDArray aa = m.create(w0, new Shape(40, 25));
            double[] sums = ONE_THREAD.penalize(wa, ga, aa, l1, l2, l2sp);

            double abs = 0;
            double sq = 0;
            double sp = 0;
            double gsq = 0;
            float[] expected = new float[n];
            for (int i = 0; i < n; i++) {
                // float32, as torch's w - w0
                float d = w[i] - w0[i];
                abs += Math.abs(w[i]);
                sq += (double) w[i] * w[i];
                sp += (double) d * d;
                expected[i] = (float) (g[i] + l1 * Math.signum(w[i]) + 2 * l2 * w[i] + 2 * l2sp * d);
                gsq += (double) expected[i] * expected[i];
            }
            assertEquals(abs, sums[0], 1e-9 * abs);
            assertEquals(sq, sums[1], 1e-9 * sq);
            assertEquals(sp, sums[2], 1e-9 * sp);
            assertEquals(gsq, sums[3], 1e-5 * gsq);
            float[] written = ga.toFloatArray();
            for (int i = 0; i < n; i++) {
                assertEquals(expected[i], written[i], 1e-6f * Math.max(1f, Math.abs(expected[i])), "g[" + i + "]");
            }
            assertEquals(g[0] + 2 * l2sp * (0 - w0[0]), written[0], 1e-6, "sign(0) is 0");
            assertArrayEquals(w, wa.toFloatArray(), "the weights are only read");
        }
    }

    @Test
    void withoutAGradientOrCoefficientsOnlyTheWeightsAreSummedAndNothingIsWritten() {
        float[] w = values(300, 4);
        float[] g = values(300, 5);
        try (NDManager m = NDManager.newBaseManager(Engines.ENGINE)) {
            NDArray wa = m.create(w);
            NDArray ga = m.create(g);
            double[] frozen = ONE_THREAD.penalize(wa, null, null, 0.1, 0.1, 0);
            double sq = 0;
            double gsq = 0;
            for (int i = 0; i < w.length; i++) {
                sq += (double) w[i] * w[i];
                gsq += (double) g[i] * g[i];
            }
            assertEquals(sq, frozen[1], 1e-9 * sq);
            assertEquals(0, frozen[2]);
            assertEquals(0, frozen[3], "no gradient, no gradient sum");
            double[] exempt = ONE_THREAD.penalize(wa, ga, null, 0, 0, 0);
            assertEquals(gsq, exempt[3], 1e-9 * gsq);
            assertArrayEquals(g, ga.toFloatArray(), "a parameter without penalties keeps its gradient as it was");
        }
    }

    @Test
    void adamMatchesTheFormulaWithClippingAndEitherDecay() {
        int n = 777;
        float[] w = values(n, 6);
        float[] g = values(n, 7);
        float[] m0 = values(n, 8);
        float[] v0 = values(n, 9);
        for (int i = 0; i < n; i++) {
            v0[i] = Math.abs(v0[i]);
        }
        double b1 = 0.9;
        double b2 = 0.999;
        double stepSize = 0.01;
        double eps = 1e-8;
        for (double[] decay : new double[][] {{0.1, 1}, {0, 1 - 0.01 * 0.1}}) {
            double scale = 0.25;
            try (NDManager nd = NDManager.newBaseManager(Engines.ENGINE)) {
                NDArray wa = nd.create(w);
                NDArray ga = nd.create(g);
                NDArray ma = nd.create(m0);
                NDArray va = nd.create(v0);
                ONE_THREAD.adam(wa, ga, ma, va, scale, decay[0], decay[1], b1, b2, stepSize, eps);
                float[] wn = wa.toFloatArray();
                float[] mn = ma.toFloatArray();
                float[] vn = va.toFloatArray();
                for (int i = 0; i < n; i++) {
                    double gi = scale * g[i] + decay[0] * w[i];
                    double mi = b1 * m0[i] + (1 - b1) * gi;
                    double vi = b2 * v0[i] + (1 - b2) * gi * gi;
                    double wi = decay[1] * w[i] - stepSize * mi / (Math.sqrt(vi) + eps);
                    assertEquals(mi, mn[i], 1e-6 * Math.max(1, Math.abs(mi)), "m[" + i + "]");
                    assertEquals(vi, vn[i], 1e-6 * Math.max(1, Math.abs(vi)), "v[" + i + "]");
                    assertEquals(wi, wn[i], 1e-6 * Math.max(1, Math.abs(wi)), "w[" + i + "]");
                }
                assertArrayEquals(g, ga.toFloatArray(), "the gradient is only read");
            }
        }
    }

    @Test
    void chunksOnSeveralThreadsGiveTheSameBitsAsOne() {
        int n = 3 * FusedKernels.CHUNK + 123;
        float[] w = values(n, 10);
        float[] g = values(n, 11);
        FusedKernels three = new FusedKernels(3);
        try (NDManager m = NDManager.newBaseManager(Engines.ENGINE)) {
            NDArray g1 = m.create(g);
            NDArray g3 = m.create(g);
            NDArray wa = m.create(w);
            double[] one = ONE_THREAD.penalize(wa, g1, null, 1e-3, 1e-2, 0);
            double[] many = three.penalize(wa, g3, null, 1e-3, 1e-2, 0);
            assertArrayEquals(one, many);
            assertArrayEquals(g1.toFloatArray(), g3.toFloatArray());
            double sq = 0;
            for (float x : w) {
                sq += (double) x * x;
            }
            assertEquals(sq, one[1], 1e-9 * sq, "every chunk counted once");
        }
    }

    /** A thread dump or a profile says whose threads run the chunks; they keep no JVM alive. */
    @Test
    void theChunksRunOnNamedDaemonThreads() {
        int n = 2 * FusedKernels.CHUNK;
        Set<Thread> before = Thread.getAllStackTraces().keySet();
        FusedKernels two = new FusedKernels(2);
        try (NDManager m = NDManager.newBaseManager(Engines.ENGINE)) {
            assertNotNull(two.penalize(m.create(values(n, 40)), null, null, 0, 1, 0));
        }
        // the pool's workers end only when idle for a minute: those it started are still there
        List<Thread> workers = Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t instanceof ForkJoinWorkerThread w && w.getPool() != ForkJoinPool.commonPool())
                .filter(t -> !before.contains(t))
                .toList();
        assertFalse(workers.isEmpty(), "no chunk ran on the kernels' pool");
        for (Thread t : workers) {
            assertTrue(t.getName().startsWith("streamtrain-fused-kernels-"), t.getName());
            assertTrue(t.isDaemon(), t.getName() + " is not a daemon thread");
        }
    }

    @Test
    void adamOnChunksOnSeveralThreadsGivesTheSameBitsAsOne() {
        int n = 2 * FusedKernels.CHUNK + 7;
        FusedKernels three = new FusedKernels(3);
        try (NDManager m = NDManager.newBaseManager(Engines.ENGINE)) {
            NDArray[] one = {m.create(values(n, 20)), m.zeros(new Shape(n)), m.zeros(new Shape(n))};
            NDArray[] many = {m.create(values(n, 20)), m.zeros(new Shape(n)), m.zeros(new Shape(n))};
            NDArray g = m.create(values(n, 21));
            ONE_THREAD.adam(one[0], g, one[1], one[2], 0.5, 0, 0.999, 0.9, 0.999, 0.01, 1e-8);
            three.adam(many[0], g, many[1], many[2], 0.5, 0, 0.999, 0.9, 0.999, 0.01, 1e-8);
            for (int k = 0; k < 3; k++) {
                assertArrayEquals(one[k].toFloatArray(), many[k].toFloatArray());
            }
            // the last chunk's tail was updated too: the first moment there is (1 - b1) * scale * g
            assertEquals(0.1f * 0.5f * g.getFloat(n - 1), one[1].getFloat(n - 1), 1e-7);
        }
    }

    @Test
    void arraysOfAnotherSizeThanTheWeightAreRefusedNotOverrun() {
        try (NDManager m = NDManager.newBaseManager(Engines.ENGINE)) {
            NDArray w = m.create(values(8, 30));
            NDArray small = m.create(values(2, 31));
            IllegalArgumentException e =
                    assertThrows(IllegalArgumentException.class, () -> ONE_THREAD.penalize(w, small, null, 0, 1, 0));
            assertTrue(e.getMessage().contains("one size"), e.getMessage());
            assertThrows(
                    IllegalArgumentException.class,
                    () -> ONE_THREAD.adam(w, w, small, small, 1, 0, 1, 0.9, 0.999, 1, 0));
            assertArrayEquals(values(2, 31), small.toFloatArray(), "nothing written");
        }
    }

    @Test
    void aTermThatIsOffLeavesANonFiniteWeightsGradientAlone() {
        try (NDManager m = NDManager.newBaseManager(Engines.ENGINE)) {
            NDArray w = m.create(new float[] {Float.NaN, Float.POSITIVE_INFINITY, 2f});
            NDArray g = m.create(new float[] {1f, 1f, 1f});
            // L1 only: sign(NaN) is 0 and sign(inf) is 1, as torch's; the L2 term that is off adds nothing
            ONE_THREAD.penalize(w, g, null, 0.5, 0, 0);
            assertArrayEquals(new float[] {1f, 1.5f, 1.5f}, g.toFloatArray());
        }
    }

    @Test
    void onlyContiguousFloat32TensorsFit() {
        try (NDManager m = NDManager.newBaseManager(Engines.ENGINE)) {
            NDArray w = m.create(values(12, 12), new Shape(3, 4));
            assertTrue(FusedKernels.fits(w, null));
            // a transposed view: its buffer would be a copy, and writes to it would be lost
            assertFalse(FusedKernels.fits(w.transpose()));
            assertFalse(FusedKernels.fits(w.toType(DataType.FLOAT64, false)));
            // given one anyway, the kernels say so and change nothing: the caller takes libtorch's path
            NDArray g = m.create(values(12, 13), new Shape(4, 3));
            assertNull(ONE_THREAD.penalize(w.transpose(), g, null, 0.5, 0, 0));
            assertFalse(ONE_THREAD.adam(w, g.transpose(), w.zerosLike(), w.zerosLike(), 1, 0, 1, 0.9, 0.999, 1, 0));
            assertArrayEquals(values(12, 12), w.toFloatArray(), "the weight is unchanged");
            assertArrayEquals(values(12, 13), g.toFloatArray(), "the gradient is unchanged");
        }
    }
}
