package io.streamtrain.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;
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
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
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

    /** A lone node's model, and its shares: for the tests of a lone node that trains on past its round. */
    private ModelState state;

    private RoundShares shares;

    @BeforeEach
    void loneNode() {
        RunSpec spec = TestSpecs.spec(TestSpecs.smallMlp(), TestSpecs.sgd(0.05), RegularizationSpec.NONE, 7, 4, 1);
        state = ModelState.initialize(spec, Engines.pytorch());
        shares = new RoundShares(spec, state);
    }

    @AfterEach
    void close() {
        state.close();
    }

    /** The node's whole state, handed in as a lone node's share of 16 samples. */
    private SafeTensors.Document handIn() throws Exception {
        return SafeTensors.read(shares.handIn(true, 16, true, null, 1, 0));
    }

    /** {@code doc} with its first tensor's first value changed by {@code change}. */
    private static SafeTensors.Document changed(
            SafeTensors.Document doc, java.util.function.DoubleUnaryOperator change) {
        Map<String, Tensor> tensors = new LinkedHashMap<>(doc.tensors());
        Tensor first = tensors.values().iterator().next();
        float[] values = first.toFloats();
        values[0] = (float) change.applyAsDouble(values[0]);
        tensors.put(first.name(), Tensor.ofFloats(first.name(), first.shape(), values));
        return new SafeTensors.Document(tensors, Map.of());
    }

    @Test
    void aLoneNodeThatTrainedOnPastItsRoundFailsWhenTheRoundIsNotTheStateItHandedIn() throws Exception {
        SafeTensors.Document own = handIn();
        assertTrue(shares.trainOnAlone(state.step(), own, 16));
        SafeTensors.Document other = changed(own, v -> Math.nextUp((float) v));
        IllegalStateException e = assertThrows(
                IllegalStateException.class, () -> shares.apply(closedAt(state.step(), other), true, true));
        assertTrue(e.getMessage().contains("A restart resumes from the sync log"), e.getMessage());

        shares.reset();
        handIn();
        assertTrue(shares.trainOnAlone(state.step(), own, 16));
        assertThrows(
                IllegalStateException.class,
                () -> shares.apply(closedAt(state.step() + 1, own), true, true),
                "the same bits at another step are another round");

        shares.reset();
        SafeTensors.Document again = handIn();
        assertTrue(shares.trainOnAlone(state.step(), own, 16));
        shares.apply(closedAt(state.step(), again), true, true);
        assertFalse(shares.overlapping(), "its own state back: the overlap is over");

        shares.reset();
        assertFalse(shares.trainOnAlone(state.step(), own, 16), "nothing handed in: nothing to train on past");
    }

    /**
     * A round's base can hold tensors the node's share does not: a checkpoint trained with
     * {@code outer: nesterov} resumed with {@code average} keeps its outer momentum in every
     * round. That round is never the share, so the node must wait for it, not train on past it
     * and then fail at every restart.
     */
    @Test
    void aLoneNodeWaitsWhenTheRoundsBaseHoldsWhatItsShareDoesNot() throws Exception {
        SafeTensors.Document own = handIn();
        Map<String, Tensor> withMomentum = new LinkedHashMap<>(own.tensors());
        Tensor first = own.tensors().values().iterator().next();
        String momentum = io.streamtrain.core.model.Weights.OUTER_MOMENTUM_PREFIX + first.name();
        withMomentum.put(momentum, Tensor.ofFloats(momentum, first.shape(), new float[(int) first.elements()]));

        assertFalse(shares.trainOnAlone(state.step(), new SafeTensors.Document(withMomentum, Map.of()), 16));
        assertFalse(shares.overlapping());
        assertTrue(shares.trainOnAlone(state.step(), own, 16), "the same base without it: the round is the share");
    }

    @Test
    void aRoundAnotherGenerationClosedIsRestoredNotComparedWhileTheNodeTrainsOnPastIt() throws Exception {
        SafeTensors.Document own = handIn();
        assertTrue(shares.trainOnAlone(state.step(), own, 16));
        SafeTensors.Document theirs = changed(own, v -> v + 1);

        // this node was evicted: the group's new generation closed the round without its share
        long handedInAt = state.step();
        shares.apply(closedAt(handedInAt + 3, theirs), true, false);
        assertFalse(shares.overlapping());
        assertEquals(handedInAt + 3, state.step(), "the round's step");
        Tensor first = theirs.tensors().values().iterator().next();
        assertEquals(first.toFloats()[0], state.parameterValues().get(first.name())[0], "the round's weights");
    }

    private static RoundState closedAt(long step, SafeTensors.Document state) {
        return new RoundState(1, 1, step, Map.of(), RoundSums.ZERO, state, null, 1, 1, true, null);
    }
}
