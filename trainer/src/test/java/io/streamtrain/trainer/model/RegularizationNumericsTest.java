package io.streamtrain.trainer.model;

import static io.streamtrain.trainer.TestSpecs.adam;
import static io.streamtrain.trainer.TestSpecs.reg;
import static io.streamtrain.trainer.TestSpecs.sgd;
import static io.streamtrain.trainer.TestSpecs.smallMlp;
import static io.streamtrain.trainer.TestSpecs.spec;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.norm.Dropout;
import ai.djl.training.ParameterStore;
import ai.djl.util.Pair;
import io.streamtrain.core.codec.Batch;
import io.streamtrain.core.codec.SafeTensors;
import io.streamtrain.core.codec.Tensor;
import io.streamtrain.core.djl.BatchArrays;
import io.streamtrain.core.djl.Engines;
import io.streamtrain.core.djl.FusedKernels;
import io.streamtrain.core.model.ModelFactory;
import io.streamtrain.core.regularization.Penalties;
import io.streamtrain.core.regularization.PenaltyTerms;
import io.streamtrain.core.spec.ModelSpec;
import io.streamtrain.core.spec.RegularizationSpec;
import io.streamtrain.core.spec.RunSpec;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The chapter's regularizers on the real DJL/PyTorch engine. Every expected value is
 * computed here in plain double arithmetic from the weights read with toFloatArray().
 */
class RegularizationNumericsTest {
    private static Engine engine;

    @BeforeAll
    static void engine() {
        engine = Engines.pytorch();
    }

    // ---------------------------------------------------------------- helpers

    /** 6 samples of the small mlp (4 features, labels 0,1,2,...). */
    private static Batch batch(long seed) {
        Random r = new Random(seed);
        int n = 6;
        float[] x = new float[n * 4];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextGaussian();
        }
        long[] labels = new long[n];
        for (int i = 0; i < n; i++) {
            labels[i] = i % 3;
        }
        return new Batch(n, 4, x, labels, null, 1);
    }

    private static Map<String, float[]> snapshot(ModelState s) {
        Map<String, float[]> out = new LinkedHashMap<>();
        s.parameterArrays().forEach((name, a) -> out.put(name, a.toFloatArray()));
        return out;
    }

    private static Map<String, float[]> snapshot(Map<String, NDArray> arrays) {
        Map<String, float[]> out = new LinkedHashMap<>();
        arrays.forEach((name, a) -> out.put(name, a.toFloatArray()));
        return out;
    }

    private static Map<String, float[]> gradients(ModelState s) {
        Map<String, float[]> out = new LinkedHashMap<>();
        s.parameterArrays().forEach((name, a) -> {
            NDArray g = a.getGradient();
            out.put(name, g.toFloatArray());
            g.close();
        });
        return out;
    }

    private static void assign(ModelState s, String name, float[] values) {
        NDArray target = s.parameterArrays().get(name);
        try (NDManager scratch = s.manager().newSubManager()) {
            target.set(new NDIndex("..."), scratch.create(values, target.getShape()));
        }
    }

    /** DJL initializes biases to zero, which would hide any bias-related mistake; give them distinct values. */
    private static void nonZeroBiases(ModelState s) {
        for (String name : s.parameterArrays().keySet()) {
            if (isBias(name)) {
                int n = (int) s.parameterArrays().get(name).size();
                float[] v = new float[n];
                for (int i = 0; i < n; i++) {
                    v[i] = (float) ((i % 2 == 0 ? 1 : -1) * 0.1 * (i + 1));
                }
                assign(s, name, v);
            }
        }
    }

    private static boolean isBias(String name) {
        return name.toLowerCase(java.util.Locale.ROOT).contains("bias");
    }

    private static void assertSameWeights(Map<String, float[]> a, Map<String, float[]> b) {
        assertEquals(a.keySet(), b.keySet());
        a.forEach((name, v) -> assertArrayEquals(v, b.get(name), name + " differs"));
    }

    private static boolean anyDifference(Map<String, float[]> a, Map<String, float[]> b, double moreThan) {
        for (String name : a.keySet()) {
            float[] x = a.get(name);
            float[] y = b.get(name);
            for (int i = 0; i < x.length; i++) {
                if (Math.abs(x[i] - y[i]) > moreThan) {
                    return true;
                }
            }
        }
        return false;
    }

    private static double sumAbs(Map<String, float[]> w, boolean includeBias) {
        double s = 0;
        for (Map.Entry<String, float[]> e : w.entrySet()) {
            if (includeBias || !isBias(e.getKey())) {
                for (float v : e.getValue()) {
                    s += Math.abs((double) v);
                }
            }
        }
        return s;
    }

    private static double sumSquares(Map<String, float[]> w, boolean includeBias) {
        double s = 0;
        for (Map.Entry<String, float[]> e : w.entrySet()) {
            if (includeBias || !isBias(e.getKey())) {
                for (float v : e.getValue()) {
                    s += (double) v * v;
                }
            }
        }
        return s;
    }

    private static double sumSquaredDistance(Map<String, float[]> w, Map<String, float[]> w0) {
        double s = 0;
        for (String name : w.keySet()) {
            float[] a = w.get(name);
            float[] b = w0.get(name);
            for (int i = 0; i < a.length; i++) {
                double d = (double) a[i] - b[i];
                s += d * d;
            }
        }
        return s;
    }

    private static void assertRelative(double expected, double actual, double rel, String what) {
        assertEquals(expected, actual, rel * Math.max(Math.abs(expected), 1e-12), what);
    }

    // ---------------------------------------------------------------- L1 / L2 / L2-SP values

    @Test
    void l1AndL2PenaltiesAreLambdaTimesSumsOverAllParametersOrOnlyWeightsWithExcludeBias() {
        double l1 = 0.01;
        double l2 = 0.02;
        RunSpec s = spec(smallMlp(), sgd(0.1), reg(l1, l2, 0, 0, List.of(), 0), 7);
        try (ModelState state = ModelState.initialize(s, engine)) {
            nonZeroBiases(state);
            Map<String, float[]> w = snapshot(state);
            // shapes of mlp 4 -> [5] -> 3: two weights and two biases
            assertEquals(4, w.size(), w.keySet().toString());
            assertEquals(
                    2,
                    w.keySet().stream()
                            .filter(RegularizationNumericsTest::isBias)
                            .count(),
                    w.keySet().toString());
            assertEquals(
                    5 * 4 + 5 + 3 * 5 + 3,
                    w.values().stream().mapToInt(a -> a.length).sum());
            assertTrue(
                    sumAbs(w, true) > sumAbs(w, false) + 0.1,
                    "biases must be non-zero for the exclude check to mean anything");

            PenaltyTerms all = new Penalties(s.regularization()).compute(state.parameterArrays(), state.anchors());
            assertRelative(l1 * sumAbs(w, true), all.l1Value(), 1e-5, "l1 over all parameters");
            assertRelative(l2 * sumSquares(w, true), all.l2Value(), 1e-5, "l2 over all parameters");
            assertEquals(0.0, all.l2spValue());

            RegularizationSpec noBias = reg(l1, l2, 0, 0, List.of("bias"), 0);
            PenaltyTerms weightsOnly = new Penalties(noBias).compute(state.parameterArrays(), state.anchors());
            assertRelative(l1 * sumAbs(w, false), weightsOnly.l1Value(), 1e-5, "l1 over weights only");
            assertRelative(l2 * sumSquares(w, false), weightsOnly.l2Value(), 1e-5, "l2 over weights only");
        }
    }

    @Test
    void penaltiesThatAreOffAreZero() {
        RunSpec s = spec(smallMlp(), sgd(0.1), RegularizationSpec.NONE, 7);
        try (ModelState state = ModelState.initialize(s, engine)) {
            PenaltyTerms t = new Penalties(s.regularization()).compute(state.parameterArrays(), state.anchors());
            assertEquals(0.0, t.l1Value());
            assertEquals(0.0, t.l2Value());
            assertEquals(0.0, t.l2spValue());
            assertTrue(state.anchors().isEmpty(), "no anchors are kept when l2sp is off");
        }
    }

    @Test
    void l2spIsLambdaTimesSquaredDistanceToTheInitialWeights() {
        double lambda = 0.5;
        RunSpec s = spec(smallMlp(), sgd(0.2), reg(0, 0, lambda, 0, List.of(), 0), 11);
        try (ModelState state = ModelState.initialize(s, engine)) {
            Map<String, float[]> w0 = snapshot(state);
            assertSameWeights(w0, snapshot(state.anchors()));
            StepRunner runner = new StepRunner(state, engine);

            StepReport first = runner.train(batch(1));
            assertEquals(0.0, first.l2sp(), 1e-12, "w == w0 at the first step");
            Map<String, float[]> w1 = snapshot(state);
            double dist = sumSquaredDistance(w1, w0);
            assertTrue(dist > 1e-6, "the step must have moved the weights");
            assertSameWeights(w0, snapshot(state.anchors()));

            PenaltyTerms t = new Penalties(s.regularization()).compute(state.parameterArrays(), state.anchors());
            assertRelative(lambda * dist, t.l2spValue(), 1e-4, "l2sp after one step");

            StepReport second = runner.train(batch(2));
            assertRelative(
                    lambda * dist,
                    second.l2sp(),
                    1e-4,
                    "the step report carries the l2sp term of the weights it started from");
            assertRelative(second.dataLoss() + second.l2sp(), second.totalLoss(), 1e-12, "total loss");
        }
    }

    // ---------------------------------------------------------------- effect on an SGD step

    private static final double LR = 0.5;

    /** One plain-SGD step on the same batch from identical states; returns {w0, with, without}. */
    private static List<Map<String, float[]>> sgdPair(RegularizationSpec with, long seed, List<StepReport> reports) {
        RunSpec a = spec(smallMlp(), sgd(LR), with, seed);
        RunSpec b = spec(smallMlp(), sgd(LR), RegularizationSpec.NONE, seed);
        try (ModelState sa = ModelState.initialize(a, engine);
                ModelState sb = ModelState.initialize(b, engine)) {
            assertSameWeights(snapshot(sa), snapshot(sb));
            nonZeroBiases(sa);
            nonZeroBiases(sb);
            Map<String, float[]> w0 = snapshot(sa);
            assertSameWeights(w0, snapshot(sb));
            reports.add(new StepRunner(sa, engine).train(batch(3)));
            reports.add(new StepRunner(sb, engine).train(batch(3)));
            Map<String, float[]> wb = snapshot(sb);
            assertTrue(anyDifference(w0, wb, 1e-4), "the data loss alone must move the weights");
            return List.of(w0, snapshot(sa), wb);
        }
    }

    /** Asserts (without - with) == coefficient * w0 for the parameters {@code moved} selects, and 0 for the others. */
    private static void assertExtraMove(List<Map<String, float[]>> run, double coefficient, boolean biasesMove) {
        Map<String, float[]> w0 = run.get(0);
        Map<String, float[]> with = run.get(1);
        Map<String, float[]> without = run.get(2);
        for (String name : w0.keySet()) {
            boolean moves = biasesMove || !isBias(name);
            for (int i = 0; i < w0.get(name).length; i++) {
                double expected = moves ? coefficient * w0.get(name)[i] : 0.0;
                double actual = (double) without.get(name)[i] - with.get(name)[i];
                double tol = 1e-6 * Math.max(1.0, Math.abs(w0.get(name)[i]));
                if (Math.abs(expected - actual) > tol) {
                    fail(name + "[" + i + "]: w0=" + w0.get(name)[i] + " moved " + actual
                            + " more with the regularizer; expected " + expected);
                }
            }
        }
    }

    @Test
    void identicalSeedsGiveIdenticalInitialWeightsAndOtherSeedsDoNot() {
        try (ModelState a = ModelState.initialize(spec(smallMlp(), sgd(0.1), RegularizationSpec.NONE, 5), engine);
                ModelState b = ModelState.initialize(spec(smallMlp(), sgd(0.1), RegularizationSpec.NONE, 5), engine);
                ModelState c = ModelState.initialize(spec(smallMlp(), sgd(0.1), RegularizationSpec.NONE, 6), engine)) {
            assertSameWeights(snapshot(a), snapshot(b));
            assertTrue(anyDifference(snapshot(a), snapshot(c), 1e-3));
        }
    }

    @Test
    void l2AddsTwoLambdaWToTheGradient() {
        double lambda = 0.1;
        List<StepReport> reports = new ArrayList<>();
        List<Map<String, float[]>> run = sgdPair(reg(0, lambda, 0, 0, List.of(), 0), 21, reports);
        assertExtraMove(run, LR * 2 * lambda, true);
        StepReport with = reports.get(0);
        StepReport without = reports.get(1);
        assertRelative(lambda * sumSquares(run.get(0), true), with.l2(), 1e-5, "reported l2 term");
        assertEquals(0.0, without.l2());
        assertEquals(without.dataLoss(), with.dataLoss(), 1e-6, "the data loss does not include the penalty");
        assertRelative(with.dataLoss() + with.l2(), with.totalLoss(), 1e-12, "total loss");
    }

    @Test
    void l1AddsLambdaSignWToTheGradient() {
        double lambda = 0.01;
        List<Map<String, float[]>> run = sgdPair(reg(lambda, 0, 0, 0, List.of(), 0), 22, new ArrayList<>());
        Map<String, float[]> w0 = run.get(0);
        for (String name : w0.keySet()) {
            for (int i = 0; i < w0.get(name).length; i++) {
                double expected = LR * lambda * Math.signum(w0.get(name)[i]);
                double actual = (double) run.get(2).get(name)[i] - run.get(1).get(name)[i];
                assertEquals(expected, actual, 1e-6, name + "[" + i + "]");
            }
        }
    }

    @Test
    void excludeExemptsBiasesFromL2() {
        double lambda = 0.1;
        List<Map<String, float[]>> run = sgdPair(reg(0, lambda, 0, 0, List.of("bias"), 0), 23, new ArrayList<>());
        assertExtraMove(run, LR * 2 * lambda, false);
    }

    @Test
    void coupledSgdWeightDecayAddsWdWToTheGradient() {
        double wd = 0.05;
        List<Map<String, float[]>> run = sgdPair(reg(0, 0, 0, wd, List.of(), 0), 24, new ArrayList<>());
        assertExtraMove(run, LR * wd, true);
    }

    @Test
    void excludeExemptsBiasesFromWeightDecay() {
        double wd = 0.05;
        List<Map<String, float[]>> run = sgdPair(reg(0, 0, 0, wd, List.of("bias"), 0), 25, new ArrayList<>());
        assertExtraMove(run, LR * wd, false);
    }

    @Test
    void excludeGlobExemptsOnlyTheMatchingParameter() {
        double lambda = 0.1;
        RunSpec probe = spec(smallMlp(), sgd(LR), RegularizationSpec.NONE, 26);
        String firstBias;
        try (ModelState s = ModelState.initialize(probe, engine)) {
            firstBias = s.parameterArrays().keySet().stream()
                    .filter(RegularizationNumericsTest::isBias)
                    .findFirst()
                    .orElseThrow();
        }
        // e.g. "01Linear_bias" -> "01*_bias": only the first layer's bias is exempt
        String glob = firstBias.substring(0, 2) + "*_bias";
        List<Map<String, float[]>> run = sgdPair(reg(0, lambda, 0, 0, List.of(glob), 0), 26, new ArrayList<>());
        Map<String, float[]> w0 = run.get(0);
        for (String name : w0.keySet()) {
            double coefficient = name.equals(firstBias) ? 0.0 : LR * 2 * lambda;
            for (int i = 0; i < w0.get(name).length; i++) {
                double actual = (double) run.get(2).get(name)[i] - run.get(1).get(name)[i];
                assertEquals(coefficient * w0.get(name)[i], actual, 1e-6, name + "[" + i + "] with exclude " + glob);
            }
        }
    }

    // ---------------------------------------------------------------- Adam (coupled) vs AdamW (decoupled)

    private static final double BETA1 = 0.9;
    private static final double BETA2 = 0.999;
    private static final double EPS = 1e-8;

    /** Java re-implementation of torch.optim.Adam / AdamW for one parameter tensor, in doubles. */
    private static final class ReferenceAdam {
        final boolean decoupled;
        final double lr;
        final double wd;
        final double[] m;
        final double[] v;
        int step;

        ReferenceAdam(boolean decoupled, double lr, double wd, int size) {
            this.decoupled = decoupled;
            this.lr = lr;
            this.wd = wd;
            this.m = new double[size];
            this.v = new double[size];
        }

        double[] step(float[] weights, float[] gradient) {
            step++;
            double bc1 = 1 - Math.pow(BETA1, step);
            double bc2 = 1 - Math.pow(BETA2, step);
            double[] out = new double[weights.length];
            for (int i = 0; i < weights.length; i++) {
                double w = weights[i];
                double g = gradient[i];
                if (decoupled) {
                    w *= 1 - lr * wd;
                } else {
                    g += wd * w;
                }
                m[i] = BETA1 * m[i] + (1 - BETA1) * g;
                v[i] = BETA2 * v[i] + (1 - BETA2) * g * g;
                double denom = Math.sqrt(v[i]) / Math.sqrt(bc2) + EPS;
                out[i] = w - lr / bc1 * m[i] / denom;
            }
            return out;
        }
    }

    private static double maxError(Map<String, double[]> predicted, Map<String, float[]> actual) {
        double max = 0;
        for (String name : predicted.keySet()) {
            for (int i = 0; i < predicted.get(name).length; i++) {
                max = Math.max(max, Math.abs(predicted.get(name)[i] - actual.get(name)[i]));
            }
        }
        return max;
    }

    /** Two steps of adam or adamw; checks each against the reference; returns the weights after step 1. */
    private static Map<String, float[]> adamTwoSteps(String type, double lr, double wd, long seed) {
        boolean decoupled = type.equals("adamw");
        RunSpec s = spec(smallMlp(), adam(type, lr), reg(0, 0, 0, wd, List.of(), 0), seed);
        try (ModelState state = ModelState.initialize(s, engine)) {
            nonZeroBiases(state);
            StepRunner runner = new StepRunner(state, engine);
            Map<String, ReferenceAdam> reference = new LinkedHashMap<>();
            Map<String, float[]> before = snapshot(state);
            before.forEach((name, w) -> reference.put(name, new ReferenceAdam(decoupled, lr, wd, w.length)));
            Map<String, float[]> afterFirst = null;
            for (int step = 1; step <= 2; step++) {
                runner.train(batch(30 + step));
                // the gradient of this step: autograd's, left on the parameters by the step
                Map<String, float[]> g = gradients(state);
                Map<String, float[]> after = snapshot(state);
                Map<String, double[]> predicted = new LinkedHashMap<>();
                for (String name : before.keySet()) {
                    predicted.put(name, reference.get(name).step(before.get(name), g.get(name)));
                }
                double err = maxError(predicted, after);
                assertTrue(
                        err < 1e-5,
                        type + " step " + step + " differs from torch.optim." + (decoupled ? "AdamW" : "Adam") + " by "
                                + err);
                if (step == 1) {
                    afterFirst = after;
                }
                if (step == 1 && wd > 0) {
                    // the same step under the other decay rule would be visibly different
                    Map<String, double[]> other = new LinkedHashMap<>();
                    for (String name : before.keySet()) {
                        other.put(
                                name,
                                new ReferenceAdam(!decoupled, lr, wd, before.get(name).length)
                                        .step(before.get(name), g.get(name)));
                    }
                    assertTrue(
                            maxError(other, after) > 1e-4, "coupled and decoupled decay must be distinguishable here");
                }
                before = after;
            }
            return afterFirst;
        }
    }

    @Test
    void adamDecayIsCoupledAndAdamwDecayIsDecoupled() {
        double lr = 0.01;
        double wd = 0.1;
        Map<String, float[]> adam = adamTwoSteps("adam", lr, wd, 31);
        Map<String, float[]> adamw = adamTwoSteps("adamw", lr, wd, 31);
        assertTrue(anyDifference(adam, adamw, 1e-4), "adam and adamw must differ with weight decay");
    }

    @Test
    void adamWithoutDecayMatchesTheReferenceAndEqualsAdamw() {
        Map<String, float[]> adam = adamTwoSteps("adam", 0.01, 0.0, 32);
        Map<String, float[]> adamw = adamTwoSteps("adamw", 0.01, 0.0, 32);
        assertSameWeights(adam, adamw);
    }

    @Test
    void theGradientLeftOnTheParametersIsTheOneSgdApplied() {
        // w_before - w_after of an lr=1 SGD step is the gradient: cross-checks the way the Adam test reads gradients
        RunSpec s = spec(smallMlp(), sgd(1.0), RegularizationSpec.NONE, 33);
        try (ModelState state = ModelState.initialize(s, engine)) {
            nonZeroBiases(state);
            Map<String, float[]> w0 = snapshot(state);
            new StepRunner(state, engine).train(batch(34));
            Map<String, float[]> g = gradients(state);
            Map<String, float[]> w1 = snapshot(state);
            double norm = 0;
            for (String name : w0.keySet()) {
                for (int i = 0; i < w0.get(name).length; i++) {
                    assertEquals(
                            g.get(name)[i], (double) w0.get(name)[i] - w1.get(name)[i], 1e-6, name + "[" + i + "]");
                    norm += (double) g.get(name)[i] * g.get(name)[i];
                }
            }
            assertTrue(norm > 1e-6);
        }
    }

    @Test
    void sgdMomentumMatchesTorchSgdOverTwoSteps() {
        double lr = 0.1;
        double mu = 0.9;
        double wd = 0.05;
        RunSpec s = spec(
                smallMlp(),
                new io.streamtrain.core.spec.OptimizerSpec(
                        "sgd", lr, mu, 0.9, 0.999, 1e-8, io.streamtrain.core.spec.OptimizerSpec.ScheduleSpec.CONSTANT),
                reg(0, 0, 0, wd, List.of("bias"), 0),
                35);
        try (ModelState state = ModelState.initialize(s, engine)) {
            nonZeroBiases(state);
            StepRunner runner = new StepRunner(state, engine);
            Map<String, double[]> buffers = new LinkedHashMap<>();
            Map<String, float[]> before = snapshot(state);
            for (int step = 1; step <= 2; step++) {
                runner.train(batch(36 + step));
                Map<String, float[]> g = gradients(state);
                Map<String, float[]> after = snapshot(state);
                for (String name : before.keySet()) {
                    float[] w = before.get(name);
                    double decay = isBias(name) ? 0 : wd;
                    double[] buf = buffers.computeIfAbsent(name, k -> new double[w.length]);
                    for (int i = 0; i < w.length; i++) {
                        double gi = g.get(name)[i] + decay * w[i];
                        // torch.optim.SGD, dampening 0: the first buffer is the gradient itself
                        buf[i] = step == 1 ? gi : mu * buf[i] + gi;
                        assertEquals(
                                w[i] - lr * buf[i],
                                after.get(name)[i],
                                1e-6,
                                "step " + step + " " + name + "[" + i + "]");
                    }
                }
                before = after;
            }
        }
    }

    // ---------------------------------------------------------------- dropout

    private static ModelSpec mlpWithDropout(List<Integer> hidden, double dropout) {
        return new ModelSpec("mlp", 4, hidden, "relu", 3, 1, dropout);
    }

    private static List<Block> dropouts(Block net) {
        List<Block> out = new ArrayList<>();
        for (Pair<String, Block> child : net.getChildren()) {
            if (child.getValue() instanceof Dropout) {
                out.add(child.getValue());
            }
        }
        return out;
    }

    @Test
    void dropoutZeroesAboutPOfTheActivationsInTrainingAndScalesSurvivors() {
        Block net = ModelFactory.create(mlpWithDropout(List.of(1000), 0.5));
        List<Block> dropouts = dropouts(net);
        assertEquals(1, dropouts.size(), "one Dropout after the hidden layer");
        // it sits right after the activation of the hidden layer
        List<Block> children = new ArrayList<>();
        net.getChildren().forEach(p -> children.add(p.getValue()));
        assertEquals(4, children.size(), "Linear, activation, Dropout, Linear");
        assertTrue(children.get(2) instanceof Dropout);

        Block dropout = dropouts.get(0);
        try (NDManager m = engine.newBaseManager()) {
            NDArray ones = m.ones(new Shape(200, 1000));
            float[] trained = dropout.forward(new ParameterStore(m, false), new NDList(ones), true)
                    .singletonOrThrow()
                    .toFloatArray();
            int zeros = 0;
            for (float v : trained) {
                if (v == 0f) {
                    zeros++;
                } else {
                    assertEquals(2.0f, v, 1e-6f, "survivors are scaled by 1/(1-p)");
                }
            }
            double fraction = (double) zeros / trained.length;
            assertEquals(0.5, fraction, 0.03, "fraction dropped");

            float[] inference = dropout.forward(new ParameterStore(m, false), new NDList(ones), false)
                    .singletonOrThrow()
                    .toFloatArray();
            for (float v : inference) {
                assertEquals(1.0f, v, "dropout is the identity outside training");
            }
        }
    }

    @Test
    void dropoutAfterEveryHiddenLayerAndNoneWhenZero() {
        List<Block> two = dropouts(ModelFactory.create(mlpWithDropout(List.of(8, 8), 0.3)));
        assertEquals(2, two.size());
        assertTrue(
                dropouts(ModelFactory.create(mlpWithDropout(List.of(8, 8), 0.0)))
                        .isEmpty(),
                "dropout 0 inserts no Dropout");
        assertTrue(dropouts(ModelFactory.create(mlpWithDropout(List.of(1000), 0.0)))
                .isEmpty());
    }

    @Test
    void modelStateForwardUsesDropoutOnlyInTraining() {
        RunSpec s = spec(mlpWithDropout(List.of(1000), 0.5), sgd(0.1), RegularizationSpec.NONE, 40);
        try (ModelState state = ModelState.initialize(s, engine);
                NDManager m = state.manager().newSubManager()) {
            Batch b = batch(41);
            NDArray x = BatchArrays.x(m, b);
            float[] eval1 = state.forward(x, false).toFloatArray();
            float[] eval2 = state.forward(x, false).toFloatArray();
            float[] train = state.forward(x, true).toFloatArray();
            assertArrayEquals(eval1, eval2, "inference is deterministic");
            assertFalse(Arrays.equals(eval1, train), "training mode drops activations");
        }
    }

    // ---------------------------------------------------------------- gradient clipping

    @Test
    void clippingBoundsTheGlobalGradientNormOfTheUpdate() {
        double c = 0.01;
        RunSpec clipped = spec(smallMlp(), sgd(1.0), reg(0, 0, 0, 0, List.of(), c), 50);
        RunSpec free = spec(smallMlp(), sgd(1.0), RegularizationSpec.NONE, 50);
        try (ModelState a = ModelState.initialize(clipped, engine);
                ModelState b = ModelState.initialize(free, engine)) {
            Map<String, float[]> w0 = snapshot(a);
            assertSameWeights(w0, snapshot(b));
            StepReport ra = new StepRunner(a, engine).train(batch(51));
            StepReport rb = new StepRunner(b, engine).train(batch(51));
            assertTrue(ra.gradNorm() > c * 2, "the test needs a gradient larger than the bound, got " + ra.gradNorm());
            assertTrue(ra.clippedGradNorm() <= c * (1 + 1e-4), "clipped norm " + ra.clippedGradNorm());
            assertTrue(ra.clippedGradNorm() >= c * (1 - 1e-3), "clipping scales to the bound, not below it");
            assertEquals(rb.gradNorm(), rb.clippedGradNorm(), "no clipping when off");

            // with lr = 1 the update is the (clipped) gradient: check the weights, not only the report
            Map<String, float[]> wa = snapshot(a);
            Map<String, float[]> wb = snapshot(b);
            double normA = Math.sqrt(sumSquaredDistance(wa, w0));
            double normB = Math.sqrt(sumSquaredDistance(wb, w0));
            assertRelative(rb.gradNorm(), normB, 1e-3, "unclipped update norm");
            assertRelative(ra.gradNorm(), rb.gradNorm(), 1e-5, "same gradient before clipping");
            assertTrue(normA <= c * (1 + 1e-3), "the applied update has norm " + normA + " > " + c);
            assertRelative(c, normA, 1e-3, "applied update norm");
            // same direction: delta_a = delta_b * c / |g|
            double scale = c / rb.gradNorm();
            for (String name : w0.keySet()) {
                for (int i = 0; i < w0.get(name).length; i++) {
                    double da = (double) w0.get(name)[i] - wa.get(name)[i];
                    double db = (double) w0.get(name)[i] - wb.get(name)[i];
                    assertEquals(db * scale, da, 1e-6, name + "[" + i + "]");
                }
            }
        }
    }

    // ---------------------------------------------------------------- the fused kernels

    /** Five steps with every regularizer on, clipping included; the reports of each. */
    private static List<StepReport> fiveSteps(String optimizer, boolean fused, Map<String, float[]> weightsOut) {
        String before = System.getProperty(FusedKernels.DISABLE_PROPERTY);
        System.setProperty(FusedKernels.DISABLE_PROPERTY, Boolean.toString(!fused));
        long calls = FusedKernels.calls();
        try (ModelState state = ModelState.initialize(
                spec(smallMlp(), adam(optimizer, 0.05), reg(1e-3, 1e-2, 0.1, 0.05, List.of("bias"), 0.5), 71),
                engine)) {
            nonZeroBiases(state);
            StepRunner runner = new StepRunner(state, engine);
            List<StepReport> reports = new java.util.ArrayList<>();
            for (int step = 1; step <= 5; step++) {
                reports.add(runner.train(batch(70 + step)));
            }
            weightsOut.putAll(snapshot(state));
            weightsOut.putAll(snapshot(state.optimizer().state()));
            // every parameter through both kernels at every step, or none
            long expected = fused ? 5L * 2 * state.parameterArrays().size() : 0;
            assertEquals(expected, FusedKernels.calls() - calls, "kernel calls with fused " + fused);
            return reports;
        } finally {
            if (before == null) {
                System.clearProperty(FusedKernels.DISABLE_PROPERTY);
            } else {
                System.setProperty(FusedKernels.DISABLE_PROPERTY, before);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"adamw", "adam"})
    void theFusedKernelsTrainAsLibtorchsOperationsDo(String optimizer) {
        assertTrue(FusedKernels.available(), "the fused kernels did not load: " + FusedKernels.unavailableReason());
        Map<String, float[]> fused = new LinkedHashMap<>();
        Map<String, float[]> libtorch = new LinkedHashMap<>();
        List<StepReport> a = fiveSteps(optimizer, true, fused);
        List<StepReport> b = fiveSteps(optimizer, false, libtorch);
        assertTrue(
                a.stream().anyMatch(r -> r.clippedGradNorm() < r.gradNorm() * 0.99),
                "the test needs steps that clip: " + a);
        for (int i = 0; i < a.size(); i++) {
            StepReport x = a.get(i);
            StepReport y = b.get(i);
            String what = "step " + (i + 1) + ": ";
            assertRelative(y.dataLoss(), x.dataLoss(), 1e-5, what + "data loss");
            assertRelative(y.l1(), x.l1(), 1e-5, what + "L1 term");
            assertRelative(y.l2(), x.l2(), 1e-5, what + "L2 term");
            assertRelative(y.l2sp(), x.l2sp(), 1e-4, what + "L2-SP term");
            assertRelative(y.gradNorm(), x.gradNorm(), 1e-5, what + "gradient norm");
            assertRelative(y.clippedGradNorm(), x.clippedGradNorm(), 1e-5, what + "clipped gradient norm");
            assertRelative(y.weightNorm(), x.weightNorm(), 1e-5, what + "weight norm");
        }
        assertEquals(libtorch.keySet(), fused.keySet(), "parameters and both moments of each");
        libtorch.forEach((name, v) -> {
            float[] f = fused.get(name);
            for (int i = 0; i < v.length; i++) {
                assertEquals(v[i], f[i], 1e-5 * Math.max(1, Math.abs(v[i])), name + "[" + i + "]");
            }
        });
    }

    // ---------------------------------------------------------------- checkpoint round trip

    private static Map<String, float[]> optimizerState(ModelState s) {
        return snapshot(s.optimizer().state());
    }

    @Test
    void payloadRoundTripRestoresParametersOptimizerStateAndAnchorsBitForBit() throws Exception {
        RegularizationSpec r = reg(0, 0, 0.01, 0.01, List.of("bias"), 0);
        RunSpec sa = spec(smallMlp(), adam("adam", 0.01), r, 61);
        RunSpec sb = spec(smallMlp(), adam("adam", 0.01), r, 62);
        RunSpec sc = spec(smallMlp(), adam("adam", 0.01), r, 63);
        try (ModelState a = ModelState.initialize(sa, engine);
                ModelState b = ModelState.initialize(sb, engine);
                ModelState c = ModelState.initialize(sc, engine)) {
            StepRunner runA = new StepRunner(a, engine);
            runA.train(batch(64));
            runA.train(batch(65));
            assertEquals(2, a.step());
            assertFalse(a.optimizer().state().isEmpty(), "adam keeps moments");
            assertTrue(anyDifference(snapshot(a), snapshot(b), 1e-3), "b starts elsewhere (other seed)");

            byte[] payload = a.toPayload(Map.of("note", "unit"));
            SafeTensors.Document doc = SafeTensors.read(payload);
            assertEquals("unit", doc.metadata().get("note"));
            b.restore(doc, a.step());

            assertEquals(a.step(), b.step());
            assertSameWeights(snapshot(a), snapshot(b));
            assertSameWeights(optimizerState(a), optimizerState(b));
            assertSameWeights(snapshot(a.anchors()), snapshot(b.anchors()));

            // c gets parameters and anchors but not the optimizer's moments
            Map<String, Tensor> withoutOptimizer = new LinkedHashMap<>(doc.tensors());
            withoutOptimizer.keySet().removeIf(k -> k.startsWith(io.streamtrain.core.model.Weights.OPTIMIZER_PREFIX));
            assertTrue(withoutOptimizer.size() < doc.tensors().size(), "the payload holds optimizer state");
            c.restore(new SafeTensors.Document(withoutOptimizer, doc.metadata()), a.step());
            assertSameWeights(snapshot(a), snapshot(c));

            StepReport ra = runA.train(batch(66));
            StepReport rb = new StepRunner(b, engine).train(batch(66));
            new StepRunner(c, engine).train(batch(66));
            assertSameWeights(snapshot(a), snapshot(b));
            assertSameWeights(optimizerState(a), optimizerState(b));
            assertEquals(ra.dataLoss(), rb.dataLoss());
            assertEquals(ra.l2sp(), rb.l2sp());
            assertEquals(3, b.step());
            assertTrue(
                    anyDifference(snapshot(a), snapshot(c), 1e-6), "without the optimizer state the step must differ");
        }
    }

    @Test
    void resumeWithDropoutIsBitIdenticalToAnUninterruptedRun() throws Exception {
        RunSpec s =
                spec(new ModelSpec("mlp", 4, List.of(16), "relu", 3, 1, 0.5), sgd(0.5), RegularizationSpec.NONE, 80);
        byte[] payload;
        Map<String, float[]> uninterrupted;
        try (ModelState a = ModelState.initialize(s, engine)) {
            StepRunner run = new StepRunner(a, engine);
            run.train(batch(81));
            run.train(batch(82));
            payload = a.toPayload(Map.of());
            run.train(batch(83));
            uninterrupted = snapshot(a);
        }
        try (ModelState b = ModelState.initialize(s, engine)) {
            b.restore(SafeTensors.read(payload), 2);
            new StepRunner(b, engine).train(batch(83));
            assertSameWeights(uninterrupted, snapshot(b));
        }
    }

    @Test
    void restoreRefusesAPayloadWithoutTheModelsParameters() {
        RunSpec s = spec(smallMlp(), sgd(0.1), RegularizationSpec.NONE, 70);
        try (ModelState state = ModelState.initialize(s, engine)) {
            SafeTensors.Document empty = new SafeTensors.Document(Map.of(), Map.of());
            try {
                state.restore(empty, 0);
                fail("restore must refuse a payload without parameters");
            } catch (IllegalArgumentException e) {
                assertNotNull(e.getMessage());
            }
        }
    }
}
