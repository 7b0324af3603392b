package io.streamtrain.trainer.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import io.streamtrain.core.codec.Batch;
import io.streamtrain.core.djl.Engines;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.core.spec.RunSpecParser;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** A step whose loss or gradient is not finite changes no weight; many in a row end the training. */
class NonFiniteStepTest {
    private static final Engine engine = Engines.pytorch();
    private static final RunSpec SPEC = RunSpecParser.parse("""
            run: nonfinite
            data: { train: t }
            model: { type: mlp, inputs: 4, hidden: [8], classes: 0, outputs: 1 }
            optimizer: { type: adamw, learningRate: 0.01 }
            regularization: { l2: 0.01, weightDecay: 0.1, clipGradNorm: 1.0 }
            """);

    private static Batch batch(float target) {
        return new Batch(2, 4, new float[] {1, 2, 3, 4, 4, 3, 2, 1}, null, new float[] {1, target}, 1);
    }

    @Test
    void aNonFiniteLossOrGradientIsSkippedAndTheWeightsStayAsTheyWere() {
        try (ModelState s = ModelState.initialize(SPEC, engine)) {
            StepRunner runner = new StepRunner(s, engine);
            assertFalse(runner.train(batch(2)).skipped());
            Map<String, float[]> before = TinyModels.values(s.parameterArrays());
            for (float bad : new float[] {Float.NaN, Float.POSITIVE_INFINITY, 1e30f}) {
                StepReport r = runner.train(batch(bad));
                assertTrue(r.skipped(), "target " + bad + ": " + r);
                assertFalse(
                        Double.isFinite(r.totalLoss()) && Double.isFinite(r.gradNorm()), "target " + bad + ": " + r);
                TinyModels.values(s.parameterArrays())
                        .forEach((name, w) -> assertArrayEquals(before.get(name), w, name + " changed"));
            }
            assertEquals(4, s.step(), "a skipped step still counts: its batch was read");
            StepReport ok = runner.train(batch(2));
            assertFalse(ok.skipped());
            assertTrue(TinyModels.values(s.parameterArrays()).values().stream().allMatch(w -> {
                for (float v : w) {
                    if (!Float.isFinite(v)) {
                        return false;
                    }
                }
                return true;
            }));
            assertFalse(
                    Arrays.equals(
                            before.get("01Linear_weight"),
                            TinyModels.values(s.parameterArrays()).get("01Linear_weight")),
                    "a finite step after them trains again");
        }
    }

    @Test
    void twentyInARowEndTheTrainingWithAnExplanation() {
        try (ModelState s = ModelState.initialize(SPEC, engine)) {
            StepRunner runner = new StepRunner(s, engine);
            for (int i = 1; i < StepRunner.MAX_SKIPPED_IN_A_ROW; i++) {
                assertTrue(runner.train(batch(Float.NaN)).skipped());
            }
            StepRunner.NonFiniteTrainingException e =
                    assertThrows(StepRunner.NonFiniteTrainingException.class, () -> runner.train(batch(Float.NaN)));
            assertTrue(
                    e.getMessage().contains("20 steps in a row")
                            && e.getMessage().contains("optimizer.learningRate"),
                    e.getMessage());
        }
    }

    @Test
    void aSetBetweenBadStepsDoesNotRestartTheCount() {
        RunSpec lowerRate = RunSpecParser.parse("""
                run: nonfinite
                data: { train: t }
                model: { type: mlp, inputs: 4, hidden: [8], classes: 0, outputs: 1 }
                optimizer: { type: adamw, learningRate: 0.001 }
                regularization: { l2: 0.01, weightDecay: 0.1, clipGradNorm: 1.0 }
                """);
        try (ModelState s = ModelState.initialize(SPEC, engine)) {
            StepRunner runner = new StepRunner(s, engine);
            for (int i = 1; i < StepRunner.MAX_SKIPPED_IN_A_ROW; i++) {
                assertTrue(runner.train(batch(Float.NaN)).skipped());
            }
            StepRunner afterSet = runner.withSettings(lowerRate);
            assertThrows(StepRunner.NonFiniteTrainingException.class, () -> afterSet.train(batch(Float.NaN)));
        }
    }
}
