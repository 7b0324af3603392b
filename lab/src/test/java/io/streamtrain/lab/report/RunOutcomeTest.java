package io.streamtrain.lab.report;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class RunOutcomeTest {
    @Test
    void aStopBeforeTheLastEpochIsEarly() {
        assertTrue(new RunOutcome("patience-exhausted", "no improvement", 3, null, Duration.ZERO).stoppedEarly());
        assertTrue(new RunOutcome("operator", "enough", 1, null, Duration.ZERO).stoppedEarly());
    }

    @Test
    void aStopAtTheLastEpochIsNotWhateverItsReason() {
        // patience can run out exactly at the last epoch: the run trained all its epochs
        assertFalse(new RunOutcome("patience-exhausted", "no improvement", 0, null, Duration.ZERO).stoppedEarly());
        assertFalse(new RunOutcome("max-epochs", "the last epoch", 0, null, Duration.ZERO).stoppedEarly());
        assertFalse(new RunOutcome(null, null, 0, null, Duration.ZERO).stoppedEarly());
    }
}
