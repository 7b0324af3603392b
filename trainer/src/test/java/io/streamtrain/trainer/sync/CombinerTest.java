package io.streamtrain.trainer.sync;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.streamtrain.core.codec.SafeTensors;
import io.streamtrain.core.codec.Tensor;
import io.streamtrain.core.spec.SyncSpec;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class CombinerTest {
    private static final Combiner AVERAGE = new Combiner(SyncSpec.strictDefaults());
    /** lr and μ of 0.5 keep every hand-computed value exact in binary. */
    private static final Combiner NESTEROV =
            new Combiner(new SyncSpec(10, SyncSpec.NESTEROV, 0.5, 0.5, 60, 1, SyncSpec.STRICT, SyncSpec.FLOAT32, 0));

    static Tensor t(String name, float... values) {
        return Tensor.ofFloats(name, new long[] {values.length}, values);
    }

    static SafeTensors.Document doc(Tensor... tensors) {
        Map<String, Tensor> m = new LinkedHashMap<>();
        for (Tensor t : tensors) {
            m.put(t.name(), t);
        }
        return new SafeTensors.Document(m, Map.of("format", "unit"));
    }

    private static final Combiner STREAMING = new Combiner(SyncSpec.defaults());

    static SafeTensors.Document withSlots(Tensor... tensors) {
        SafeTensors.Document d = doc(tensors);
        return new SafeTensors.Document(d.tensors(), Map.of(Combiner.SLOTS_KEY, Combiner.SLOTS_INCLUDED));
    }

    static SafeTensors.Document delta(float[] base, float[] local, String encoding, Tensor... more) {
        List<Tensor> ts = new java.util.ArrayList<>(
                OuterGradients.encode("w", new long[] {base.length}, base, local, encoding, 7));
        ts.addAll(List.of(more));
        return doc(ts.toArray(new Tensor[0]));
    }

    static Combiner.Weighted w(SafeTensors.Document state, long samples) {
        return new Combiner.Weighted(state, samples);
    }

    static float[] values(SafeTensors.Document d, String name) {
        return d.tensor(name).toFloats();
    }

    @Test
    void averageIsTheSampleWeightedMeanOfParametersAndOptimizerSlotsWithTheBasesAnchors() {
        SafeTensors.Document base = doc(t("w", 0, 0), t("optimizer.m.w", 0, 0), t("anchor.w", 9, 9));
        SafeTensors.Document a = doc(t("w", 1, 2), t("optimizer.m.w", 4, 8), t("anchor.w", 100, 100));
        SafeTensors.Document b = doc(t("w", 5, 6), t("optimizer.m.w", 0, 4), t("anchor.w", -1, -1));

        SafeTensors.Document out = AVERAGE.combine(base, List.of(w(a, 1), w(b, 3)));

        assertArrayEquals(new float[] {4, 5}, values(out, "w"), "(1·a + 3·b) / 4");
        assertArrayEquals(new float[] {1, 5}, values(out, "optimizer.m.w"));
        assertArrayEquals(new float[] {9, 9}, values(out, "anchor.w"), "anchors are the base's, not averaged");
        assertEquals(
                List.copyOf(base.tensors().keySet()), List.copyOf(out.tensors().keySet()));
        assertEquals(base.metadata(), out.metadata());
    }

    @Test
    void aLoneFloat32ContributionIsTheMeanAsItIsWithoutBeingDecodedAndSummed() {
        SafeTensors.Document base = doc(t("w", 0, 0), t("optimizer.m.w", 0, 0), t("anchor.w", 9, 9));
        SafeTensors.Document alone = new SafeTensors.Document(
                doc(t("w", -0.0f, 2.5f), t("optimizer.m.w", 4, 1e-30f), t("anchor.w", 1, 1))
                        .tensors(),
                java.util.Map.of(Combiner.SLOTS_KEY, Combiner.SLOTS_INCLUDED));
        for (Combiner combiner :
                List.of(AVERAGE, STREAMING)) { // strict, and a lone streaming node (its whole state, slots included)
            SafeTensors.Document out = combiner.combine(base, List.of(w(alone, 7)));
            assertSame(alone.tensor("w"), out.tensor("w"), "the lone share's own tensor");
            assertSame(alone.tensor("optimizer.m.w"), out.tensor("optimizer.m.w"));
            assertArrayEquals(new float[] {-0.0f, 2.5f}, values(out, "w"));
            assertEquals(
                    Float.floatToRawIntBits(-0.0f), Float.floatToRawIntBits(values(out, "w")[0]), "-0.0 stays -0.0");
            assertArrayEquals(new float[] {9, 9}, values(out, "anchor.w"), "anchors are still the base's");
        }
        // two shares are decoded and summed as before
        SafeTensors.Document twoNodes = AVERAGE.combine(base, List.of(w(alone, 1), w(alone, 1)));
        assertNotSame(alone.tensor("w"), twoNodes.tensor("w"));
        assertArrayEquals(
                values(AVERAGE.combine(base, List.of(w(alone, 3))), "w"),
                values(twoNodes, "w"),
                "the same mean either way");
    }

    @Test
    void aResetContributionIsTheRoundsStateWhateverTheOthersHandedInAndMarksOnlyThatRound() {
        SafeTensors.Document base = doc(t("w", 0, 0), t("optimizer.m.w", 0, 0));
        SafeTensors.Document a = doc(t("w", 1, 2), t("optimizer.m.w", 4, 8));
        SafeTensors.Document promoted = new SafeTensors.Document(
                doc(t("w", 7, 7), t("optimizer.m.w", 3, 3)).tensors(),
                java.util.Map.of(Combiner.RESET_KEY, "rollback-1"));
        for (Combiner combiner : List.of(AVERAGE, NESTEROV)) {
            SafeTensors.Document out = combiner.combine(base, List.of(w(a, 5), w(promoted, 1)));
            assertArrayEquals(new float[] {7, 7}, values(out, "w"), "the reset's weights, not a mean");
            assertArrayEquals(new float[] {3, 3}, values(out, "optimizer.m.w"));
            assertEquals("rollback-1", out.metadata().get(Combiner.RESET_KEY));
            SafeTensors.Document next = combiner.combine(out, List.of(w(a, 1)));
            assertEquals(null, next.metadata().get(Combiner.RESET_KEY), "the round after is a round like any other");
        }
    }

    @Test
    void optimizerSlotsTheBaseLacksAreAveragedFromTheContributionsAndCarriedOn() {
        // the run's first base: parameters and anchors only (an optimizer makes its slots at its first step)
        SafeTensors.Document base = doc(t("w", 0, 0), t("anchor.w", 9, 9));
        SafeTensors.Document a =
                doc(t("w", 1, 2), t("optimizer.m.w", 4, 8), t("optimizer.v.w", 1, 1), t("anchor.w", 9, 9));
        SafeTensors.Document b =
                doc(t("w", 5, 6), t("optimizer.m.w", 0, 4), t("optimizer.v.w", 5, 9), t("anchor.w", 9, 9));

        for (Combiner combiner : List.of(AVERAGE, NESTEROV)) {
            SafeTensors.Document out = combiner.combine(base, List.of(w(a, 1), w(b, 3)));
            assertArrayEquals(new float[] {1, 5}, values(out, "optimizer.m.w"), "the slots are kept: (1·a + 3·b) / 4");
            assertArrayEquals(new float[] {4, 7}, values(out, "optimizer.v.w"));
        }
    }

    @Test
    void aRoundWithNoSamplesLeavesTheBaseAsItWas() {
        SafeTensors.Document base = doc(t("w", 1, 2), t("anchor.w", 3, 4));
        SafeTensors.Document trained = doc(t("w", 50, 60), t("anchor.w", 3, 4));

        assertEquals(base, AVERAGE.combine(base, List.of()));
        assertEquals(base, AVERAGE.combine(base, List.of(w(trained, 0))));
        assertEquals(
                base, NESTEROV.combine(base, List.of(w(trained, 0))), "no outer step and no momentum without samples");
    }

    @Test
    void oneContributionIsReproducedBitForBit() {
        // values a weighted sum in double could round differently: thirds, extremes, a subnormal
        float[] w = {0.1f, 1f / 3, -2f / 3, Float.MAX_VALUE, -Float.MAX_VALUE, Float.MIN_VALUE, 1e-30f, 16_777_215f};
        float[] slot = {1e-8f, 123_456.79f, -0.3f, 7f / 11, 1f, 2f, 3f, 4f};
        SafeTensors.Document base = doc(t("w", new float[8]), t("optimizer.v.w", new float[8]));
        SafeTensors.Document node = doc(t("w", w), t("optimizer.v.w", slot));

        SafeTensors.Document out = AVERAGE.combine(base, List.of(w(node, 37)));

        assertEquals(node.tensor("w"), out.tensor("w"));
        assertEquals(node.tensor("optimizer.v.w"), out.tensor("optimizer.v.w"));
    }

    @Test
    void oneContributionKeepsTheSignOfZero() {
        // -0.0 appears e.g. when weight decay shrinks a tiny negative weight; weight 1 must still copy it
        SafeTensors.Document base = doc(t("w", 0, 0));
        SafeTensors.Document node = doc(t("w", -0.0f, 0.0f));

        SafeTensors.Document out = AVERAGE.combine(base, List.of(w(node, 5)));

        assertEquals(node.tensor("w"), out.tensor("w"), "bits " + Arrays.toString(values(out, "w")));
    }

    @Test
    void nesterovTakesAnOuterMomentumStepAndCarriesTheMomentumInTheState() {
        SafeTensors.Document base = doc(t("w", 1, 2), t("optimizer.m.w", 10, 10), t("anchor.w", 7, 7));
        SafeTensors.Document a = doc(t("w", 0, 1), t("optimizer.m.w", 2, 2), t("anchor.w", 7, 7));
        SafeTensors.Document b = doc(t("w", 0.5f, 2.5f), t("optimizer.m.w", 4, 6), t("anchor.w", 7, 7));

        // mean [0.25, 1.75]; Δ = w − mean = [0.75, 0.25]; m = 0.5·0 + Δ; w − 0.5·(Δ + 0.5·m)
        SafeTensors.Document first = NESTEROV.combine(base, List.of(w(a, 1), w(b, 1)));
        assertArrayEquals(new float[] {0.4375f, 1.8125f}, values(first, "w"));
        assertArrayEquals(new float[] {0.75f, 0.25f}, values(first, "outer.momentum.w"));
        assertArrayEquals(new float[] {3, 4}, values(first, "optimizer.m.w"), "optimizer slots averaged, not stepped");
        assertArrayEquals(new float[] {7, 7}, values(first, "anchor.w"));

        // the node's own copy of the momentum is not the log's: the base's is what counts
        SafeTensors.Document c = doc(
                t("w", 0.1875f, 2.3125f), t("optimizer.m.w", 1, 1), t("anchor.w", 7, 7), t("outer.momentum.w", 99, 99));
        // Δ = [0.25, −0.5]; m = 0.5·[0.75, 0.25] + Δ = [0.625, −0.375]; w − 0.5·(Δ + 0.5·m)
        SafeTensors.Document second = NESTEROV.combine(first, List.of(w(c, 2)));
        assertArrayEquals(new float[] {0.15625f, 2.15625f}, values(second, "w"));
        assertArrayEquals(new float[] {0.625f, -0.375f}, values(second, "outer.momentum.w"));
        assertArrayEquals(new float[] {1, 1}, values(second, "optimizer.m.w"));
        assertEquals(
                Set.of("w", "outer.momentum.w", "optimizer.m.w", "anchor.w"),
                second.tensors().keySet());
    }

    @Test
    void aContributionWithoutATensorOrOfAnotherShapeIsRefused() {
        SafeTensors.Document base =
                doc(Tensor.ofFloats("w", new long[] {2, 1}, new float[] {1, 2}), t("optimizer.m.w", 0));
        SafeTensors.Document ok =
                doc(Tensor.ofFloats("w", new long[] {2, 1}, new float[] {3, 4}), t("optimizer.m.w", 1));
        SafeTensors.Document noSlot = doc(Tensor.ofFloats("w", new long[] {2, 1}, new float[] {3, 4}));
        SafeTensors.Document noParam = doc(t("optimizer.m.w", 1));
        SafeTensors.Document flat = doc(t("w", 3, 4), t("optimizer.m.w", 1)); // same element count, other shape
        SafeTensors.Document longer =
                doc(Tensor.ofFloats("w", new long[] {3, 1}, new float[] {3, 4, 5}), t("optimizer.m.w", 1));

        for (SafeTensors.Document bad : List.of(noSlot, noParam, flat, longer)) {
            assertThrows(IllegalArgumentException.class, () -> AVERAGE.combine(base, List.of(w(ok, 1), w(bad, 1))));
            assertThrows(IllegalArgumentException.class, () -> NESTEROV.combine(base, List.of(w(bad, 1), w(ok, 1))));
        }
    }

    @Test
    void streamingAveragesTheNodesParametersFromTheirOuterGradientsAndKeepsTheBasesSlotsMidEpoch() {
        float[] base = {1, 2};
        SafeTensors.Document b = doc(t("w", base), t("optimizer.m.w", 10, 10), t("anchor.w", 7, 7));
        // exact in bfloat16: Δ = [0.5, -0.25] and [-1, 0.75]
        SafeTensors.Document a = delta(base, new float[] {0.5f, 2.25f}, SyncSpec.BFLOAT16);
        SafeTensors.Document c = delta(base, new float[] {2f, 1.25f}, SyncSpec.BFLOAT16);

        SafeTensors.Document out = STREAMING.combine(b, List.of(w(a, 1), w(c, 3)));

        assertArrayEquals(new float[] {1.625f, 1.5f}, values(out, "w"), "(1·a + 3·c) / 4 of the nodes' values");
        assertArrayEquals(
                new float[] {10, 10}, values(out, "optimizer.m.w"), "the inner optimizer state stays local mid-epoch");
        assertArrayEquals(new float[] {7, 7}, values(out, "anchor.w"));
        assertEquals(Set.of("w", "optimizer.m.w", "anchor.w"), out.tensors().keySet());
    }

    @Test
    void streamingCombinesTheSlotsOnlyWhenEveryContributionCarriesThem() {
        float[] base = {1, 2};
        SafeTensors.Document b = doc(t("w", base), t("optimizer.m.w", 10, 10));
        SafeTensors.Document a = delta(base, new float[] {0.5f, 2.25f}, SyncSpec.BFLOAT16, t("optimizer.m.w", 2, 4));
        SafeTensors.Document aWithSlots =
                new SafeTensors.Document(a.tensors(), Map.of(Combiner.SLOTS_KEY, Combiner.SLOTS_INCLUDED));
        // a node whose partitions ended a round before: no samples now, only its slots
        SafeTensors.Document done = withSlots(t("optimizer.m.w", 6, 0));
        SafeTensors.Document midEpoch = delta(base, new float[] {2f, 1.25f}, SyncSpec.BFLOAT16);

        SafeTensors.Document last = STREAMING.combine(b, List.of(w(aWithSlots, 4), w(done, 0)));
        assertArrayEquals(new float[] {0.5f, 2.25f}, values(last, "w"), "only a trained");
        assertArrayEquals(
                new float[] {4, 2},
                values(last, "optimizer.m.w"),
                "the epoch's last round: the plain mean of every node's slots");

        SafeTensors.Document notAll = STREAMING.combine(b, List.of(w(aWithSlots, 4), w(midEpoch, 4)));
        assertArrayEquals(
                new float[] {10, 10},
                values(notAll, "optimizer.m.w"),
                "a round some node is still mid-epoch in keeps the base's");
        SafeTensors.Document missing = STREAMING.combine(b, List.of(w(aWithSlots, 4), w(null, 0)));
        assertArrayEquals(
                new float[] {10, 10},
                values(missing, "optimizer.m.w"),
                "a contribution without a payload carries no slots");
    }

    @Test
    void aStreamingNodeAloneIsReproducedBitForBitLikeStrict() {
        // a node alone hands in its whole state in float32 with its slots: its rounds stay exact resume points
        float[] w = {0.1f, 1f / 3, -0.0f, Float.MIN_VALUE};
        SafeTensors.Document base = doc(t("w", new float[4]), t("optimizer.v.w", new float[4]));
        SafeTensors.Document node = withSlots(t("w", w), t("optimizer.v.w", 1e-8f, 7f / 11, 3, 4));

        SafeTensors.Document streaming = STREAMING.combine(base, List.of(w(node, 37)));
        SafeTensors.Document strict = AVERAGE.combine(base, List.of(w(node, 37)));

        assertEquals(node.tensor("w"), streaming.tensor("w"));
        assertEquals(node.tensor("optimizer.v.w"), streaming.tensor("optimizer.v.w"));
        assertEquals(strict, streaming);
    }

    @Test
    void streamingNesterovStepsOnTheMeanOfTheDecodedNodes() {
        Combiner nesterov = new Combiner(
                new SyncSpec(10, SyncSpec.NESTEROV, 0.5, 0.5, 60, 1, SyncSpec.STREAMING, SyncSpec.INT8, 3));
        float[] base = {1, 2};
        SafeTensors.Document b = doc(t("w", base));
        // Δ = [1, -1]: an int8 block whose values are ±max encodes them exactly (±127 · max/127)
        SafeTensors.Document a = delta(base, new float[] {0, 3}, SyncSpec.INT8);

        SafeTensors.Document out = nesterov.combine(b, List.of(w(a, 2)));
        // m = Δ; w − 0.5·(Δ + 0.5·m) = w − 0.75·Δ
        assertArrayEquals(new float[] {0.25f, 2.75f}, values(out, "w"));
        assertArrayEquals(new float[] {1, -1}, values(out, "outer.momentum.w"));
    }
}
