package io.streamtrain.evaluator.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import java.util.function.IntToDoubleFunction;
import org.junit.jupiter.api.Test;

class PrecheltTest {

    static IntToDoubleFunction table(Map<Integer, Double> values) {
        return epoch -> values.getOrDefault(epoch, Double.NaN);
    }

    @Test
    void generalizationLossIsPercentAboveTheOptimum() {
        // 100·(0.75/0.5 − 1) = 50; at the optimum it is 0.
        assertEquals(50.0, Prechelt.generalizationLoss(0.75, 0.5));
        assertEquals(0.0, Prechelt.generalizationLoss(0.5, 0.5));
    }

    @Test
    void generalizationLossIsUndefinedWithoutAPositiveOptimum() {
        assertTrue(Double.isNaN(Prechelt.generalizationLoss(0.5, 0.0)));
        assertTrue(Double.isNaN(Prechelt.generalizationLoss(0.5, -1.0)));
        assertTrue(Double.isNaN(Prechelt.generalizationLoss(Double.NaN, 0.5)));
    }

    @Test
    void progressOverTheDefaultStripOfFive() {
        // Epochs 1..5 train loss 1.0, 0.75, 0.5, 0.5, 0.25: Σ = 3.0, min 0.25, k·min = 1.25,
        // P_5(5) = 1000·(3.0/1.25 − 1) = 1000·1.4 = 1400.
        IntToDoubleFunction tr = table(Map.of(1, 1.0, 2, 0.75, 3, 0.5, 4, 0.5, 5, 0.25));
        assertEquals(1400.0, Prechelt.progress(tr, 5, 5), 1e-9);
        // At epoch 4 the strip would need epoch 0: undefined.
        assertTrue(Double.isNaN(Prechelt.progress(tr, 4, 5)));
    }

    @Test
    void flatTrainingHasNoProgress() {
        assertEquals(0.0, Prechelt.progress(table(Map.of(1, 0.5, 2, 0.5)), 2, 2));
    }

    @Test
    void progressNeedsPositiveTrainLosses() {
        assertTrue(Double.isNaN(Prechelt.progress(table(Map.of(1, 0.0, 2, 0.5)), 2, 2)));
    }

    @Test
    void upWithDefaultsCanFirstStopAtEpochTwenty() {
        // k 5, s 3: strip ends 5, 10, 15, 20; a value rising every epoch rises at every strip end.
        // t=15 would need epoch 0; t=19 is no strip end; t=20: E20 > E15 > E10 > E5.
        IntToDoubleFunction rising = epoch -> epoch;
        assertFalse(Prechelt.successiveIncreases(rising, 15, 5, 3));
        assertFalse(Prechelt.successiveIncreases(rising, 19, 5, 3));
        assertTrue(Prechelt.successiveIncreases(rising, 20, 5, 3));
    }

    @Test
    void upNeedsStrictIncreases() {
        // E4 equals E2: not an increase.
        IntToDoubleFunction v = table(Map.of(2, 0.5, 4, 0.5, 6, 0.75));
        assertFalse(Prechelt.successiveIncreases(v, 6, 2, 2));
        assertTrue(Prechelt.successiveIncreases(v, 6, 2, 1));
    }
}
