package io.streamtrain.trainer.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;
import io.streamtrain.core.codec.Batch;
import io.streamtrain.core.codec.SafeTensors;
import io.streamtrain.core.djl.BatchArrays;
import io.streamtrain.core.djl.Engines;
import io.streamtrain.core.model.ModelFactory;
import io.streamtrain.core.model.Weights;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.trainer.TestSpecs;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The cnn and the causal-lm on the real engine: shapes, a training step, the checkpoint
 * payload round trip, dropout only in training, and the causal mask.
 */
class ModelTypesTest {
    private static Engine engine;

    @BeforeAll
    static void engine() {
        engine = Engines.pytorch();
    }

    private static float[] forward(ModelState state, Batch b, boolean training) {
        try (NDManager m = state.manager().newSubManager()) {
            NDArray x = BatchArrays.x(m, b);
            return state.forward(x, training).toFloatArray();
        }
    }

    private static Shape outputShape(ModelState state, Batch b) {
        try (NDManager m = state.manager().newSubManager()) {
            return state.forward(BatchArrays.x(m, b), false).getShape();
        }
    }

    private static Map<String, Shape> shapes(ModelState state) {
        Map<String, Shape> out = new java.util.LinkedHashMap<>();
        state.parameterArrays().forEach((name, a) -> out.put(name, a.getShape()));
        return out;
    }

    // ---------------------------------------------------------------- shapes

    /**
     * What a reader checks a forged spec with before building its model: the spec's lower bound
     * on the parameter count never exceeds the model built (or a genuine checkpoint would be
     * refused), and is close to it (or it would catch nothing).
     */
    @Test
    void theSpecsLowerBoundOnItsParametersHoldsForEveryModelType() {
        for (RunSpec spec : List.of(
                TinyModels.cnn(0, ""),
                TinyModels.lm(0, false, ""),
                TinyModels.lm(0, true, ""),
                TestSpecs.spec(
                        TestSpecs.smallMlp(),
                        TestSpecs.sgd(0.1),
                        io.streamtrain.core.spec.RegularizationSpec.NONE,
                        1))) {
            try (ModelState state = ModelState.initialize(spec, engine)) {
                long built = state.parameterArrays().values().stream()
                        .mapToLong(a -> a.getShape().size())
                        .sum();
                long least = spec.model().parametersAtLeast();
                assertTrue(least <= built, spec.model().type() + ": " + least + " > " + built);
                assertTrue(least >= 0.6 * built, spec.model().type() + ": " + least + " is far below " + built);
            }
        }
    }

    @Test
    void cnnTakesFlatImagesAndScoresTheClasses() {
        try (ModelState state = ModelState.initialize(TinyModels.cnn(0, ""), engine)) {
            assertEquals(new Shape(5, 3), outputShape(state, TinyModels.images(5, 1)));
            Map<String, Shape> p = shapes(state);
            // conv 1 -> 4 -> 8 channels (3x3), pooled twice: 8x8 -> 2x2, so the dense layer sees 8*2*2
            assertEquals(
                    List.of(
                            new Shape(4, 1, 3, 3),
                            new Shape(4),
                            new Shape(8, 4, 3, 3),
                            new Shape(8),
                            new Shape(16, 32),
                            new Shape(16),
                            new Shape(3, 16),
                            new Shape(3)),
                    List.copyOf(p.values()),
                    p.toString());
            assertTrue(
                    p.keySet().stream().anyMatch(n -> n.endsWith("Conv2d_weight")),
                    p.keySet().toString());
        }
    }

    @Test
    void causalLmScoresTheNextByteAtEveryPosition() {
        try (ModelState state = ModelState.initialize(TinyModels.lm(0, true, ""), engine)) {
            assertEquals(new Shape(3, TinyModels.LM_CONTEXT, 256), outputShape(state, TinyModels.text(3, 1)));
            Map<String, Shape> p = shapes(state);
            assertEquals(new Shape(256, 16), p.get("tokenEmbedding"));
            assertEquals(new Shape(TinyModels.LM_CONTEXT, 16), p.get("positionEmbedding"));
            assertEquals(new Shape(16, 16), p.get("01layer_02attention_01query_weight"));
            assertEquals(new Shape(32, 16), p.get("02layer_04mlpExpand_weight"));
            assertEquals(new Shape(16), p.get("03finalNorm_gamma"));
            assertTrue(
                    p.keySet().stream().noneMatch(n -> n.contains("head")),
                    "a tied head has no weights of its own: " + p.keySet());
            // per layer: 2 norms (gamma, beta), 4 projections and 2 MLP layers (weight, bias)
            assertEquals(2 + 2 * (4 + 8 + 4) + 2, p.size(), p.keySet().toString());
        }
        try (ModelState untied = ModelState.initialize(TinyModels.lm(0, false, ""), engine)) {
            assertEquals(new Shape(256, 16), shapes(untied).get("04head_weight"));
        }
    }

    @Test
    void causalLmAcceptsFewerPositionsThanItsContext() {
        try (ModelState state = ModelState.initialize(TinyModels.lm(0, true, ""), engine);
                NDManager m = state.manager().newSubManager()) {
            NDArray x = m.create(new float[] {104, 105, 33}, new Shape(1, 3));
            assertEquals(new Shape(1, 3, 256), state.forward(x, false).getShape());
        }
    }

    // ---------------------------------------------------------------- a training step

    @Test
    void cnnTrainingStepsMoveEveryParameterAndLowerTheLoss() {
        trainingStepsMoveEveryParameterAndLowerTheLoss(TinyModels.cnn(0.2, ""), TinyModels.images(12, 2));
    }

    @Test
    void causalLmTrainingStepsMoveEveryParameterAndLowerTheLoss() {
        trainingStepsMoveEveryParameterAndLowerTheLoss(TinyModels.lm(0.1, true, ""), TinyModels.text(6, 2));
        trainingStepsMoveEveryParameterAndLowerTheLoss(TinyModels.lm(0.1, false, ""), TinyModels.text(6, 2));
    }

    private static void trainingStepsMoveEveryParameterAndLowerTheLoss(RunSpec spec, Batch batch) {
        try (ModelState state = ModelState.initialize(spec, engine)) {
            Map<String, float[]> before = TinyModels.values(state.parameterArrays());
            StepRunner runner = new StepRunner(state, engine);
            StepReport first = runner.train(batch);
            assertTrue(Double.isFinite(first.dataLoss()) && first.gradNorm() > 0, first.toString());
            Map<String, float[]> after = TinyModels.values(state.parameterArrays());
            before.forEach(
                    (name, v) -> assertFalse(java.util.Arrays.equals(v, after.get(name)), name + " got no update"));
            StepReport last = first;
            for (int i = 0; i < 15; i++) {
                last = runner.train(batch);
            }
            assertTrue(last.dataLoss() < first.dataLoss() * 0.8, "loss " + first.dataLoss() + " -> " + last.dataLoss());
            assertEquals(16, state.step());
        }
    }

    @Test
    void causalLmLossIsTheMeanCrossEntropyPerTokenAndAccuracyCountsTokens() {
        try (ModelState state = ModelState.initialize(TinyModels.lm(0, true, ""), engine);
                NDManager m = state.manager().newSubManager()) {
            Batch b = TinyModels.text(2, 3);
            NDArray scores = state.forward(BatchArrays.x(m, b), false);
            float[] s = scores.toFloatArray();
            double sum = 0;
            long right = 0;
            for (int token = 0; token < 2 * TinyModels.LM_CONTEXT; token++) {
                double max = Double.NEGATIVE_INFINITY;
                int best = 0;
                for (int c = 0; c < 256; c++) {
                    if (s[token * 256 + c] > max) {
                        max = s[token * 256 + c];
                        best = c;
                    }
                }
                double z = 0;
                for (int c = 0; c < 256; c++) {
                    z += Math.exp(s[token * 256 + c] - max);
                }
                sum += -(s[token * 256 + (int) b.classLabels()[token]] - max - Math.log(z));
                right += best == b.classLabels()[token] ? 1 : 0;
            }
            NDArray y = m.create(b.classLabels());
            double loss = io.streamtrain.core.model.Losses.dataLoss(state.spec().model(), scores, y)
                    .toType(DataType.FLOAT64, false)
                    .getDouble();
            assertEquals(sum / (2 * TinyModels.LM_CONTEXT), loss, 1e-5);
            assertEquals(right, io.streamtrain.core.model.Losses.correct(scores, y));
            assertEquals(Math.log(256), loss, 0.5, "an untrained model is close to uniform over the bytes");
        }
    }

    @Test
    void causalLmTakesEveryRegularizerAndExcludesNormsAndBiases() {
        double lr = 0.1;
        double l1 = 0.001;
        double l2 = 0.01;
        double decay = 0.1;
        RunSpec spec = TinyModels.lm(
                16,
                0,
                true,
                "{ type: sgd, learningRate: " + lr + " }",
                "regularization: { l1: " + l1 + ", l2: " + l2 + ", weightDecay: " + decay
                        + ", exclude: [bias, norm], clipGradNorm: 0.05 }");
        assertEquals(List.of("bias", "norm"), spec.regularization().exclude());
        try (ModelState state = ModelState.initialize(spec, engine)) {
            io.streamtrain.core.regularization.ParameterSelector selector =
                    new io.streamtrain.core.regularization.ParameterSelector(List.of("bias", "norm"));
            Map<String, float[]> before = TinyModels.values(state.parameterArrays());
            double abs = 0;
            double squares = 0;
            for (Map.Entry<String, float[]> e : before.entrySet()) {
                if (selector.regularized(e.getKey())) {
                    for (float v : e.getValue()) {
                        abs += Math.abs(v);
                        squares += (double) v * v;
                    }
                }
            }
            StepReport r = new StepRunner(state, engine).train(TinyModels.text(4, 4));
            assertEquals(l1 * abs, r.l1(), 1e-5 * l1 * abs);
            assertEquals(l2 * squares, r.l2(), 1e-5 * l2 * squares);
            assertTrue(r.gradNorm() > 0.05, "the test needs clipping to act: " + r.gradNorm());
            assertEquals(0.05, r.clippedGradNorm(), 1e-4);
            // plain SGD with coupled decay: w - lr * (g + decay * w), the excluded ones without the decay
            int excluded = 0;
            for (Map.Entry<String, NDArray> e : state.parameterArrays().entrySet()) {
                float[] g = e.getValue().getGradient().toFloatArray();
                float[] w0 = before.get(e.getKey());
                float[] w1 = e.getValue().toFloatArray();
                double wd = selector.regularized(e.getKey()) ? decay : 0;
                excluded += wd == 0 ? 1 : 0;
                for (int i = 0; i < w0.length; i++) {
                    assertEquals(w0[i] - lr * (g[i] + wd * w0[i]), w1[i], 1e-6, e.getKey() + "[" + i + "]");
                }
            }
            assertEquals(2 * (2 + 2 + 6) + 2, excluded, "norms and biases");
        }
    }

    // ---------------------------------------------------------------- checkpoint payload round trip

    @Test
    void cnnRoundTripsThroughACheckpointPayload() throws Exception {
        roundTripsThroughACheckpointPayload(TinyModels.cnn(0.3, ""), TinyModels.images(4, 5));
    }

    @Test
    void causalLmRoundTripsThroughACheckpointPayload() throws Exception {
        roundTripsThroughACheckpointPayload(
                TinyModels.lm(0.3, false, "regularization: { l2sp: 0.01 }"), TinyModels.text(3, 5));
    }

    /** Trained state A to a payload; a state of another seed restored from it computes what A computes, and so does the evaluator's load. */
    private static void roundTripsThroughACheckpointPayload(RunSpec spec, Batch batch) throws Exception {
        RunSpec otherSeed = new RunSpec(
                spec.run(),
                spec.data(),
                spec.model(),
                new io.streamtrain.core.spec.InitSpec(99, null),
                spec.batchSize(),
                spec.maxEpochs(),
                spec.optimizer(),
                spec.regularization(),
                spec.earlyStopping(),
                spec.sync(),
                spec.checkpoints());
        try (ModelState a = ModelState.initialize(spec, engine);
                ModelState b = ModelState.initialize(otherSeed, engine)) {
            StepRunner runner = new StepRunner(a, engine);
            runner.train(batch);
            runner.train(batch);
            float[] expected = forward(a, batch, false);
            assertFalse(
                    java.util.Arrays.equals(expected, forward(b, batch, false)), "the other seed must start elsewhere");

            SafeTensors.Document payload = SafeTensors.read(a.toPayload(Map.of("format", "pt")));
            b.restore(payload, a.step());
            assertArrayEquals(expected, forward(b, batch, false));
            assertEquals(a.step(), b.step());
            TinyModels.values(a.parameterArrays())
                    .forEach((name, v) ->
                            assertArrayEquals(v, b.parameterArrays().get(name).toFloatArray(), name));
            TinyModels.values(a.anchors())
                    .forEach((name, v) ->
                            assertArrayEquals(v, b.anchors().get(name).toFloatArray(), "anchor " + name));
            // and both go on identically (dropout masks drawn from A's seed): the optimizer state came along
            new StepRunner(b, engine, spec).train(batch);
            runner.train(batch);
            assertArrayEquals(forward(a, batch, false), forward(b, batch, false));

            // the evaluator builds a fresh block and loads the parameters by name
            try (NDManager m = engine.newBaseManager()) {
                Block block = ModelFactory.create(spec.model());
                block.initialize(m, DataType.FLOAT32, ModelFactory.inputShape(spec.model()));
                block.freezeParameters(true);
                Weights.load(block, SafeTensors.read(a.toPayload(Map.of())), "payload");
                NDArray x = BatchArrays.x(m, batch);
                float[] evaluated = block.forward(new ParameterStore(m, false), new NDList(x), false)
                        .singletonOrThrow()
                        .toFloatArray();
                assertArrayEquals(forward(a, batch, false), evaluated);
            }
        }
    }

    // ---------------------------------------------------------------- dropout

    @Test
    void cnnDropoutIsOnInTrainingOnly() {
        dropoutIsOnInTrainingOnly(TinyModels.cnn(0.5, ""), TinyModels.images(4, 6));
    }

    @Test
    void causalLmDropoutIsOnInTrainingOnly() {
        dropoutIsOnInTrainingOnly(TinyModels.lm(0.5, true, ""), TinyModels.text(3, 6));
    }

    private static void dropoutIsOnInTrainingOnly(RunSpec spec, Batch batch) {
        try (ModelState state = ModelState.initialize(spec, engine)) {
            assertArrayEquals(
                    forward(state, batch, false), forward(state, batch, false), "evaluation is deterministic");
            assertFalse(
                    java.util.Arrays.equals(forward(state, batch, true), forward(state, batch, true)),
                    "training draws masks");
        }
    }

    // ---------------------------------------------------------------- the causal mask

    @Test
    void aLaterTokenNeverChangesAnEarlierPositionsOutput() {
        int t = TinyModels.LM_CONTEXT;
        try (ModelState state = ModelState.initialize(TinyModels.lm(0, false, ""), engine)) {
            new StepRunner(state, engine).train(TinyModels.text(4, 7)); // not the initial weights: a trained model
            Batch original = TinyModels.text(1, 8);
            float[] base = forward(state, original, false);
            for (int changed = 0; changed < t; changed++) {
                float[] x = original.xValues();
                x[changed] = (x[changed] + 37) % 256;
                float[] out = forward(state, new Batch(1, t, x, original.classLabels(), null, t), false);
                for (int position = 0; position < t; position++) {
                    float[] was = java.util.Arrays.copyOfRange(base, position * 256, (position + 1) * 256);
                    float[] now = java.util.Arrays.copyOfRange(out, position * 256, (position + 1) * 256);
                    if (position < changed) {
                        assertArrayEquals(was, now, "token " + changed + " changed the output at position " + position);
                    } else {
                        assertFalse(
                                java.util.Arrays.equals(was, now),
                                "token " + changed + " must change position " + position);
                    }
                }
            }
        }
    }

    @Test
    void theMaskIsAlsoCausalWithAttentionDropoutInTraining() {
        // with dropout on, equal seeds draw equal masks: only the changed token may differ the outputs
        int t = TinyModels.LM_CONTEXT;
        try (ModelState state = ModelState.initialize(TinyModels.lm(0.3, true, ""), engine)) {
            Batch original = TinyModels.text(1, 9);
            engine.setRandomSeed(5);
            float[] base = forward(state, original, true);
            float[] x = original.xValues();
            x[t - 1] = (x[t - 1] + 1) % 256;
            engine.setRandomSeed(5);
            float[] out = forward(state, new Batch(1, t, x, original.classLabels(), null, t), true);
            assertArrayEquals(
                    java.util.Arrays.copyOf(base, (t - 1) * 256), java.util.Arrays.copyOf(out, (t - 1) * 256));
        }
    }
}
