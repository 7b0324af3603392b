package io.streamtrain.trainer.model;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.engine.Engine;
import io.streamtrain.core.codec.SafeTensors;
import io.streamtrain.core.codec.Tensor;
import io.streamtrain.core.djl.Engines;
import io.streamtrain.core.spec.RegularizationSpec;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.trainer.TestSpecs;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** How a streaming node takes a mid-epoch round's parameters back: on top of its overlap's steps, or mixed. */
class AdoptParametersTest {
    private static final RunSpec SPEC =
            TestSpecs.spec(TestSpecs.smallMlp(), TestSpecs.sgd(0.1), RegularizationSpec.NONE, 5);

    /** A round whose every parameter value is {@code value}, shaped like the node's. */
    private static SafeTensors.Document roundOf(ModelState s, float value) throws Exception {
        List<Tensor> tensors = new ArrayList<>();
        s.parameterValues().forEach((name, v) -> {
            float[] filled = new float[v.length];
            java.util.Arrays.fill(filled, value);
            long[] shape = s.parameterArrays().get(name).getShape().getShape();
            tensors.add(Tensor.ofFloats(name, shape, filled));
        });
        return SafeTensors.read(SafeTensors.write(tensors, Map.of()));
    }

    @Test
    void withoutMixingTheStepsSinceHandingInStayOnTopOfTheRound() throws Exception {
        Engine engine = Engines.pytorch();
        try (ModelState s = ModelState.initialize(SPEC, engine)) {
            Map<String, float[]> atHandIn = s.parameterValues();
            Map<String, float[]> now = s.parameterValues();
            s.adoptParameters(roundOf(s, 1f), atHandIn, 7, null);
            // no step since handing in: θ_round + (θ_now − θ_handedIn) = θ_round
            s.parameterValues().forEach((name, v) -> {
                for (float x : v) {
                    assertEquals(1f, x, name);
                }
            });
            assertEquals(7, s.step());

            Map<String, float[]> then = s.parameterValues(); // all 1
            Map<String, float[]> shifted = new java.util.LinkedHashMap<>();
            then.forEach((name, v) -> {
                float[] earlier = v.clone();
                java.util.Arrays.fill(earlier, 0.75f); // as if the overlap's steps moved each value by +0.25
                shifted.put(name, earlier);
            });
            s.adoptParameters(roundOf(s, 2f), shifted, 8, null);
            s.parameterValues().forEach((name, v) -> {
                for (float x : v) {
                    assertEquals(2.25f, x, name);
                }
            });
            assertEquals(now.keySet(), s.parameterValues().keySet());
        }
    }

    @Test
    void withMixingTheNodesParametersAreMixedWithTheRoundsAsStreamingDiLoCoMerges() throws Exception {
        Engine engine = Engines.pytorch();
        try (ModelState s = ModelState.initialize(SPEC, engine)) {
            s.adoptParameters(roundOf(s, 1f), null, 3, null); // every value 1
            // θ ← α·θ_now + (1 − α)·θ_round, whatever the node trained since handing in
            s.adoptParameters(roundOf(s, 3f), s.parameterValues(), 4, 0.25);
            s.parameterValues().forEach((name, v) -> {
                for (float x : v) {
                    assertEquals(0.25f * 1f + 0.75f * 3f, x, name);
                }
            });
            s.adoptParameters(roundOf(s, -1f), null, 5, 0.0);
            s.parameterValues().forEach((name, v) -> {
                for (float x : v) {
                    assertEquals(-1f, x, name + ": α = 0 takes the round as it is");
                }
            });
        }
    }
}
