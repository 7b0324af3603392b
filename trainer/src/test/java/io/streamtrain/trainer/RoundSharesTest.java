package io.streamtrain.trainer;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.core.codec.SafeTensors;
import io.streamtrain.core.codec.Tensor;
import io.streamtrain.core.djl.Engines;
import io.streamtrain.core.protocol.RoundSums;
import io.streamtrain.core.spec.RegularizationSpec;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.trainer.model.ModelState;
import io.streamtrain.trainer.sync.RoundState;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * When a closed round is the state a node handed in, bit for bit, which it then need not restore;
 * and what a lone node that trained on past its round does when the round is something else.
 */
class RoundSharesTest {
    private static final byte[] HANDED = SafeTensors.write(
            List.of(
                    Tensor.ofFloats("w", new long[] {2}, new float[] {1f, 2f}),
                    Tensor.ofFloats("optimizer.m.w", new long[] {2}, new float[] {0.1f, 0.2f})),
            Map.of());

    @Test
    void aRoundMadeOfTheBytesHandedInIsThatState() throws Exception {
        assertTrue(RoundShares.sameState(HANDED, SafeTensors.read(HANDED)));
    }

    @Test
    void theSameBitsReadFromElsewhereAreTheSameState() throws Exception {
        assertTrue(RoundShares.sameState(HANDED, SafeTensors.read(HANDED.clone())));
    }

    @Test
    void oneValueChangedOrOneTensorMissingOrAddedMakesTheRoundAnotherState() throws Exception {
        SafeTensors.Document own = SafeTensors.read(HANDED);
        Map<String, Tensor> changed = new LinkedHashMap<>(own.tensors());
        changed.put("w", Tensor.ofFloats("w", new long[] {2}, new float[] {1f, Math.nextUp(2f)}));
        assertFalse(RoundShares.sameState(HANDED, new SafeTensors.Document(changed, own.metadata())));

        // -0.0 == 0.0 as numbers, not as bits: a restore would change the sign
        byte[] zero = SafeTensors.write(List.of(Tensor.ofFloats("w", new long[] {1}, new float[] {0f})), Map.of());
        byte[] negativeZero =
                SafeTensors.write(List.of(Tensor.ofFloats("w", new long[] {1}, new float[] {-0f})), Map.of());
        assertFalse(RoundShares.sameState(zero, SafeTensors.read(negativeZero)));

        Map<String, Tensor> missing = new LinkedHashMap<>(own.tensors());
        missing.remove("optimizer.m.w");
        assertFalse(RoundShares.sameState(HANDED, new SafeTensors.Document(missing, own.metadata())));

        Map<String, Tensor> added = new LinkedHashMap<>(own.tensors());
        added.put("anchor.w", Tensor.ofFloats("anchor.w", new long[] {2}, new float[] {1f, 2f}));
        assertFalse(RoundShares.sameState(HANDED, new SafeTensors.Document(added, own.metadata())));

        Map<String, Tensor> reshaped = new LinkedHashMap<>(own.tensors());
        reshaped.put("w", Tensor.ofFloats("w", new long[] {1, 2}, new float[] {1f, 2f}));
        assertFalse(RoundShares.sameState(HANDED, new SafeTensors.Document(reshaped, own.metadata())));
    }

    @Test
    void nothingHandedInOrNothingInTheRoundIsNoMatch() throws Exception {
        assertFalse(RoundShares.sameState(null, SafeTensors.read(HANDED)));
        assertFalse(RoundShares.sameState(HANDED, null));
        assertFalse(RoundShares.sameState(HANDED, new SafeTensors.Document(Map.of(), Map.of())));
    }

    @Test
    void aLoneNodeThatTrainedOnPastItsRoundFailsWhenTheRoundIsNotTheStateItHandedIn() throws Exception {
        RunSpec spec = TestSpecs.spec(TestSpecs.smallMlp(), TestSpecs.sgd(0.05), RegularizationSpec.NONE, 7, 4, 1);
        try (ModelState state = ModelState.initialize(spec, Engines.pytorch())) {
            RoundShares shares = new RoundShares(spec, state);
            byte[] handed = shares.handIn(true, 16, true, null, 1, 0);
            assertTrue(shares.trainOnAlone(state.step()));
            SafeTensors.Document own = SafeTensors.read(handed);
            Map<String, Tensor> changed = new LinkedHashMap<>(own.tensors());
            Tensor first = changed.values().iterator().next();
            float[] values = first.toFloats();
            values[0] = Math.nextUp(values[0]);
            changed.put(first.name(), Tensor.ofFloats(first.name(), first.shape(), values));

            IllegalStateException e = assertThrows(
                    IllegalStateException.class,
                    () -> shares.apply(closedAt(state.step(), new SafeTensors.Document(changed, Map.of())), true));
            assertTrue(e.getMessage().contains("A restart resumes from the sync log"), e.getMessage());

            shares.reset();
            shares.handIn(true, 16, true, null, 1, 0);
            assertTrue(shares.trainOnAlone(state.step()));
            assertThrows(
                    IllegalStateException.class,
                    () -> shares.apply(closedAt(state.step() + 1, own), true),
                    "the same bits at another step are another round");

            shares.reset();
            shares.handIn(true, 16, true, null, 1, 0);
            assertTrue(shares.trainOnAlone(state.step()));
            shares.apply(closedAt(state.step(), SafeTensors.read(handed)), true);
            assertFalse(shares.overlapping(), "its own state back: the overlap is over");

            shares.reset();
            assertFalse(shares.trainOnAlone(state.step()), "nothing handed in: nothing to train on past");
        }
    }

    private static RoundState closedAt(long step, SafeTensors.Document state) {
        return new RoundState(1, 1, step, Map.of(), RoundSums.ZERO, state, null, 1, 1, true, null);
    }
}
