package io.streamtrain.evaluator.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class StopReasonTest {

    /** The wire codes are a contract with ctl and the trainers: spelled out, not derived. */
    @Test
    void codesAreStable() {
        Map<StopReason, String> codes = Map.of(
                StopReason.PATIENCE_EXHAUSTED, "patience-exhausted",
                StopReason.THRESHOLD_REACHED, "threshold-reached",
                StopReason.DIVERGENCE, "divergence",
                StopReason.NON_FINITE, "non-finite",
                StopReason.MAX_EPOCHS, "max-epochs",
                StopReason.GENERALIZATION_LOSS, "generalization-loss",
                StopReason.PROGRESS_QUOTIENT, "progress-quotient",
                StopReason.SUCCESSIVE_INCREASES, "successive-increases",
                StopReason.OPERATOR, "operator");
        assertEquals(StopReason.values().length, codes.size());
        codes.forEach((reason, code) -> {
            assertEquals(code, reason.code());
            assertEquals(Optional.of(reason), StopReason.fromCode(code));
        });
    }

    @Test
    void unknownCodeIsEmptyNotAnError() {
        assertTrue(StopReason.fromCode("bored").isEmpty());
        assertTrue(StopReason.fromCode(null).isEmpty());
    }

    @Test
    void aDecisionHasAReasonExactlyWhenItStops() {
        assertThrows(IllegalArgumentException.class, () -> new Decision(Verdict.STOP, null, 1, null, 0, 0, "x"));
        assertThrows(
                IllegalArgumentException.class,
                () -> new Decision(Verdict.CONTINUE, StopReason.OPERATOR, 1, null, 0, 0, "x"));
    }

    @Test
    void explanationNumbersHaveNoFloatNoise() {
        assertEquals("0.412", Numbers.format(0.412));
        assertEquals("0.3", Numbers.format(0.1 + 0.2));
        assertEquals("5", Numbers.format(5.0));
        assertEquals("0", Numbers.format(0.0));
        assertEquals("NaN", Numbers.format(Double.NaN));
    }
}
