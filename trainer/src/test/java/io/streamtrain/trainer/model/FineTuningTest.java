package io.streamtrain.trainer.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import io.streamtrain.core.checkpoint.Checkpoint;
import io.streamtrain.core.checkpoint.CheckpointManifest;
import io.streamtrain.core.codec.SafeTensors;
import io.streamtrain.core.codec.Tensor;
import io.streamtrain.core.djl.Engines;
import io.streamtrain.core.regularization.ParameterSelector;
import io.streamtrain.core.regularization.Penalties;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.core.spec.SpecException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Starting from pretrained weights: matching by name, mismatches, frozen parameters, L2-SP towards the start. */
class FineTuningTest {
    private static Engine engine;

    @BeforeAll
    static void engine() {
        engine = Engines.pytorch();
    }

    /** A causal-lm trained a few steps from seed 1: the "base model". */
    private static Map<String, Tensor> pretrained(RunSpec spec) throws Exception {
        try (ModelState base = ModelState.initialize(spec, engine)) {
            StepRunner runner = new StepRunner(base, engine);
            for (int i = 0; i < 3; i++) {
                runner.train(TinyModels.text(4, i));
            }
            SafeTensors.Document payload = SafeTensors.read(base.toPayload(Map.of()));
            return payload.tensors();
        }
    }

    private static RunSpec seeded(RunSpec s, long seed, String from, List<String> freeze) {
        return new RunSpec(
                s.run(),
                s.data(),
                s.model(),
                new io.streamtrain.core.spec.InitSpec(seed, from, freeze),
                s.batchSize(),
                s.maxEpochs(),
                s.optimizer(),
                s.regularization(),
                s.earlyStopping(),
                s.sync(),
                s.checkpoints());
    }

    // ---------------------------------------------------------------- loading by name

    @Test
    void parametersAreLoadedByNameWhateverTheOrderAndTheStateTensorsAreLeftOut() throws Exception {
        RunSpec spec = TinyModels.lm(0, true, "regularization: { l2sp: 0.1 }");
        Map<String, Tensor> base = pretrained(spec);
        assertTrue(
                base.keySet().stream().anyMatch(n -> n.startsWith("optimizer.")),
                "a payload holds optimizer state too");
        List<String> names = new ArrayList<>(base.keySet());
        Collections.reverse(names);
        Map<String, Tensor> reversed = new LinkedHashMap<>();
        names.forEach(n -> reversed.put(n, base.get(n)));

        try (ModelState tuned =
                ModelState.initialize(seeded(spec, 2, null, List.of()), engine, new InitialWeights("base", reversed))) {
            tuned.parameterArrays()
                    .forEach((name, a) -> assertArrayEquals(base.get(name).toFloats(), a.toFloatArray(), name));
            tuned.anchors()
                    .forEach((name, a) ->
                            assertArrayEquals(base.get(name).toFloats(), a.toFloatArray(), "L2-SP anchor " + name));
            assertEquals(0, tuned.step(), "the optimizer state and step are not carried over");
            assertTrue(tuned.optimizer().state().isEmpty());
        }
    }

    @Test
    void aSafetensorsFileAndACheckpointAreReadTheSameWay(@TempDir Path dir) throws Exception {
        RunSpec spec = TinyModels.cnn(0, "");
        Map<String, Tensor> base;
        List<CheckpointManifest.ParameterInfo> infos;
        byte[] payload;
        try (ModelState s = ModelState.initialize(seeded(spec, 3, null, List.of()), engine)) {
            new StepRunner(s, engine).train(TinyModels.images(6, 1));
            payload = s.toPayload(Map.of());
            base = SafeTensors.read(payload).tensors();
            infos = s.parameterInfos();
        }
        Path file = Files.write(dir.resolve("base.safetensors"), payload);
        CheckpointManifest manifest = new CheckpointManifest(
                1,
                "checkpoint",
                "base",
                "base-e0001-00000000",
                1,
                1,
                1,
                null,
                infos,
                null,
                List.of(),
                Map.of(),
                "n",
                "t",
                "epoch",
                null,
                null,
                null);
        Checkpoint checkpoint = new Checkpoint(manifest, SafeTensors.read(payload));
        for (InitialWeights from :
                List.of(InitialWeights.read(file.toString()), InitialWeights.of(checkpoint, "latest"))) {
            try (ModelState s = ModelState.initialize(spec, engine, from)) {
                s.parameterArrays()
                        .forEach((name, a) -> assertArrayEquals(base.get(name).toFloats(), a.toFloatArray(), name));
            }
        }
        assertEquals(
                "checkpoint base-e0001-00000000 (latest)",
                InitialWeights.of(checkpoint, "latest").source());
        // and the spec's init.from names the file
        try (ModelState s = ModelState.initialize(seeded(spec, 4, file.toString(), List.of()), engine)) {
            s.parameterArrays()
                    .forEach((name, a) -> assertArrayEquals(base.get(name).toFloats(), a.toFloatArray(), name));
        }
    }

    @Test
    void aMissingFileIsASpecError(@TempDir Path dir) {
        SpecException e = assertThrows(
                SpecException.class,
                () -> InitialWeights.read(dir.resolve("nope.safetensors").toString()));
        assertEquals("init.from", e.path());
        assertTrue(e.getMessage().contains("do not exist"), e.getMessage());
    }

    // ---------------------------------------------------------------- mismatches

    @Test
    void aMismatchNamesEveryShapeMissingAndUnexpectedTensorAndLoadsNothing() throws Exception {
        Map<String, Tensor> wide = pretrained(TinyModels.lm(32, 0, true, ""));
        Map<String, Tensor> edited = new LinkedHashMap<>(pretrained(TinyModels.lm(0, true, "")));
        Tensor gamma = edited.remove("03finalNorm_gamma");
        edited.put("03finalNorm_scale", new Tensor("03finalNorm_scale", gamma.dtype(), gamma.shape(), gamma.data()));

        RunSpec spec = TinyModels.lm(0, true, "");
        SpecException shapes = assertThrows(
                SpecException.class, () -> ModelState.initialize(spec, engine, new InitialWeights("wide", wide)));
        assertEquals("init.from", shapes.path());
        String m = shapes.getMessage();
        assertTrue(m.startsWith("init.from: wide does not fit the model"), m);
        assertTrue(m.contains("shape mismatches: 'tokenEmbedding' is (256, 32), the model needs (256, 16)"), m);
        assertTrue(m.contains("'01layer_02attention_01query_weight' is (32, 32), the model needs (16, 16)"), m);

        SpecException names = assertThrows(
                SpecException.class, () -> ModelState.initialize(spec, engine, new InitialWeights("edited", edited)));
        assertTrue(
                names.getMessage().contains("1 model parameter missing from it: 03finalNorm_gamma (16)"),
                names.getMessage());
        assertTrue(
                names.getMessage().contains("1 tensor the model has no parameter for: 03finalNorm_scale (16)"),
                names.getMessage());
        assertFalse(
                names.getMessage().contains("optimizer."), "state tensors are not parameters: " + names.getMessage());
    }

    // ---------------------------------------------------------------- freezing

    @Test
    void frozenParametersAreNotChangedByTrainingDecayOrPenalties() throws Exception {
        String regularization =
                "regularization: { l1: 0.001, l2: 0.01, l2sp: 0.1, weightDecay: 0.1, clipGradNorm: 0.5 }";
        RunSpec base = TinyModels.lm(0.1, true, regularization);
        Map<String, Tensor> from = pretrained(base);
        RunSpec spec = seeded(base, 5, null, List.of("tokenEmbedding", "01layer_01*", "01layer_02*"));
        try (ModelState s = ModelState.initialize(spec, engine, new InitialWeights("base", from))) {
            List<String> frozen = List.copyOf(s.frozen());
            assertEquals(
                    List.of("tokenEmbedding", "01layer_01attentionNorm_gamma", "01layer_01attentionNorm_beta"),
                    frozen.subList(0, 3));
            assertTrue(frozen.contains("01layer_02attention_04output_bias"), frozen.toString());
            assertFalse(frozen.contains("01layer_03mlpNorm_gamma"), frozen.toString());
            assertFalse(s.trainableArrays().containsKey("tokenEmbedding"));
            StepRunner runner = new StepRunner(s, engine);
            for (int i = 0; i < 4; i++) {
                runner.train(TinyModels.text(4, 10 + i));
            }
            Map<String, float[]> after = TinyModels.values(s.parameterArrays());
            for (String name : after.keySet()) {
                boolean same = java.util.Arrays.equals(from.get(name).toFloats(), after.get(name));
                assertEquals(
                        frozen.contains(name), same, name + (same ? " did not train" : " changed although frozen"));
            }
            assertTrue(
                    s.optimizer().state().keySet().stream()
                            .noneMatch(k -> frozen.stream().anyMatch(k::endsWith)),
                    "no optimizer state for frozen parameters");
        }
    }

    @Test
    void aFreezePatternThatMatchesNothingOrEverythingIsASpecError() {
        SpecException none = assertThrows(
                SpecException.class,
                () -> ModelState.initialize(
                        seeded(TinyModels.cnn(0, ""), 1, null, List.of("Linear", "embedding")), engine));
        assertEquals("init.freeze[1]", none.path());
        assertTrue(
                none.getMessage().contains("'embedding' matches no parameter")
                        && none.getMessage().contains("02Conv2d_weight"),
                none.getMessage());
        SpecException all = assertThrows(
                SpecException.class,
                () -> ModelState.initialize(seeded(TinyModels.cnn(0, ""), 1, null, List.of("*")), engine));
        assertEquals("init.freeze", all.path());
    }

    // ---------------------------------------------------------------- L2-SP

    @Test
    void l2spIsZeroAtThePretrainedWeightsAndThenLambdaTimesTheirSquaredDistance() throws Exception {
        double lambda = 0.3;
        RunSpec base = TinyModels.lm(0, false, "regularization: { l2sp: " + lambda + ", exclude: [bias, norm] }");
        Map<String, Tensor> from = pretrained(base);
        RunSpec spec = seeded(base, 8, null, List.of("positionEmbedding"));
        try (ModelState s = ModelState.initialize(spec, engine, new InitialWeights("base", from))) {
            StepRunner runner = new StepRunner(s, engine);
            StepReport first = runner.train(TinyModels.text(4, 20));
            assertEquals(0.0, first.l2sp(), "the weights start at w0");
            runner.train(TinyModels.text(4, 21));
            runner.train(TinyModels.text(4, 22));

            // independently: from the pretrained tensors and the weights read back, in double
            ParameterSelector regularized = new ParameterSelector(List.of("bias", "norm"));
            double distance = 0;
            int terms = 0;
            for (Map.Entry<String, float[]> e :
                    TinyModels.values(s.parameterArrays()).entrySet()) {
                if (!regularized.regularized(e.getKey()) || e.getKey().equals("positionEmbedding")) {
                    continue;
                }
                float[] w0 = from.get(e.getKey()).toFloats();
                for (int i = 0; i < w0.length; i++) {
                    double d = (double) e.getValue()[i] - w0[i];
                    distance += d * d;
                }
                terms++;
            }
            assertEquals(
                    2 * 6 + 2 + 1 - 1,
                    terms,
                    "weights of the attention and MLP layers, the token embedding and the head");
            double computed = new Penalties(spec.regularization())
                    .compute(s.trainableArrays(), s.anchors())
                    .l2spValue();
            assertTrue(distance > 1e-6, "training moved the weights");
            assertEquals(lambda * distance, computed, 1e-4 * lambda * distance);
            StepReport next = runner.train(TinyModels.text(4, 23));
            assertEquals(
                    lambda * distance, next.l2sp(), 1e-4 * lambda * distance, "the step reports the term it minimized");

            // the anchors travel in the checkpoint: a restored state has the same term
            try (ModelState restored =
                    ModelState.initialize(seeded(base, 9, null, List.of("positionEmbedding")), engine)) {
                restored.restore(SafeTensors.read(s.toPayload(Map.of())), s.step());
                double again = new Penalties(spec.regularization())
                        .compute(restored.trainableArrays(), restored.anchors())
                        .l2spValue();
                double now = new Penalties(spec.regularization())
                        .compute(s.trainableArrays(), s.anchors())
                        .l2spValue();
                assertEquals(now, again);
            }
        }
    }

    @Test
    void l2spPullsTowardsThePretrainedWeights() throws Exception {
        RunSpec plain = TinyModels.lm(0, true, "");
        Map<String, Tensor> from = pretrained(plain);
        double[] moved = new double[2];
        String[] regs = {"", "regularization: { l2sp: 5.0 }"};
        for (int k = 0; k < 2; k++) {
            RunSpec spec = seeded(TinyModels.lm(0, true, regs[k]), 8, null, List.of());
            try (ModelState s = ModelState.initialize(spec, engine, new InitialWeights("base", from))) {
                StepRunner runner = new StepRunner(s, engine);
                for (int i = 0; i < 8; i++) {
                    runner.train(TinyModels.text(4, 30 + i));
                }
                for (Map.Entry<String, float[]> e :
                        TinyModels.values(s.parameterArrays()).entrySet()) {
                    float[] w0 = from.get(e.getKey()).toFloats();
                    for (int i = 0; i < w0.length; i++) {
                        moved[k] += Math.pow(e.getValue()[i] - w0[i], 2);
                    }
                }
            }
        }
        assertTrue(moved[1] < moved[0], "L2-SP keeps the weights nearer w0: " + moved[1] + " vs " + moved[0]);
    }
}
