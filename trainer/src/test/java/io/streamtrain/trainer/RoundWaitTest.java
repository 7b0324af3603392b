package io.streamtrain.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class RoundWaitTest {
    private static final long S = 1_000_000_000L;

    @Test
    void namesTheStragglerEveryTimeoutAndGivesUpAfterTwice() {
        RoundWait w = new RoundWait(0, Duration.ofSeconds(10), Duration.ofSeconds(5));
        assertEquals(RoundWait.Verdict.WAIT, w.after(9 * S, false));
        assertEquals(RoundWait.Verdict.STRAGGLER, w.after(11 * S, false));
        assertEquals(RoundWait.Verdict.WAIT, w.after(20 * S, false), "said once per timeout, not on every poll");
        assertEquals(RoundWait.Verdict.GIVE_UP, w.after(20 * S + 1, false), "2 × sync.timeoutSeconds, the longer here");
        assertEquals(20, w.giveUpSeconds());
    }

    @Test
    void theBrokerWaitBoundsTheGiveUpWhenItIsLonger() {
        RoundWait w = new RoundWait(0, Duration.ofSeconds(1), Duration.ofSeconds(60));
        assertEquals(60, w.giveUpSeconds());
        assertEquals(RoundWait.Verdict.STRAGGLER, w.after(59 * S, false));
        assertEquals(RoundWait.Verdict.GIVE_UP, w.after(61 * S, false));
    }

    @Test
    void timeTheRunSpendsPausedCountsNeitherForTheStragglerNorForGivingUp() {
        RoundWait w = new RoundWait(0, Duration.ofSeconds(10), Duration.ofSeconds(5));
        assertEquals(RoundWait.Verdict.WAIT, w.after(5 * S, false));
        assertEquals(RoundWait.Verdict.WAIT, w.after(100 * S, true), "95 s paused");
        assertEquals(5 * S, w.waitedNanos(100 * S));
        assertEquals(RoundWait.Verdict.WAIT, w.after(104 * S, false), "9 s waited unpaused");
        assertEquals(RoundWait.Verdict.STRAGGLER, w.after(106 * S, false), "11 s");
        assertEquals(RoundWait.Verdict.GIVE_UP, w.after(116 * S, false), "21 s > 2 × 10 s");
    }

    @Test
    void aContinuousRunsRoundWaitsForDataAsLongAsItTakes() {
        RoundWait w = new RoundWait(0, Duration.ofSeconds(10), Duration.ofSeconds(300), false);
        assertEquals(RoundWait.Verdict.STRAGGLER, w.after(11 * S, false), "still named every timeout");
        assertNotEquals(
                RoundWait.Verdict.GIVE_UP,
                w.after(3_600 * S, false),
                "an hour without records is no reason to give up");
        assertEquals(
                RoundWait.Verdict.GIVE_UP,
                new RoundWait(0, Duration.ofSeconds(10), Duration.ofSeconds(300)).after(3_600 * S, false),
                "a bounded run's round does give up");
    }
}
