package io.streamtrain.trainer.feed;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.core.checkpoint.CheckpointManifest.OffsetRange;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class EpochPlanTest {
    @Test
    void aBoundedPlanIsEveryEpochsPlan() {
        EpochPlan p = new EpochPlan("t", Map.of(0, new long[] {3, 10}, 1, new long[] {0, 7}));
        assertSame(p, p.next());
        assertSame(p, p.previous());
    }

    @Test
    void windowsFollowOneAnotherByEachPartitionsShare() {
        // 10 records over 3 partitions: shares 4, 3, 3 (the lower partitions take the remainder)
        EpochPlan first =
                new EpochPlan("t", Map.of(0, new long[] {0, 4}, 1, new long[] {5, 8}, 2, new long[] {9, 12}), 10);
        EpochPlan second = first.next();
        assertArrayEquals(new long[] {4, 8}, second.ranges().get(0));
        assertArrayEquals(new long[] {8, 11}, second.ranges().get(1));
        assertArrayEquals(new long[] {12, 15}, second.ranges().get(2));
        assertEquals(10, second.records());
        assertEquals(first.all(), second.previous().all(), "previous undoes next");
        assertEquals(
                first.all(),
                EpochPlan.of("t", first.all()).windowed(10).all(),
                "a checkpoint's offsets are its window");
    }

    @Test
    void aWindowGivesEveryPartitionARecord() {
        assertThrows(
                IllegalArgumentException.class,
                () -> new EpochPlan("t", Map.of(0, new long[] {0, 1}, 1, new long[] {0, 1}, 2, new long[] {0, 0}), 2));
    }

    /** Windows of 10 over 3 partitions (shares 4, 3, 3), partition 0 from offset 100, replaying {@code share}. */
    private static EpochPlan firstWindow(double share, int horizon, long seed) {
        return new EpochPlan(
                "t",
                Map.of(0, new long[] {100, 104}, 1, new long[] {0, 3}, 2, new long[] {7, 10}),
                new Windowing(10, 0, share, horizon, seed),
                1);
    }

    @Test
    void aReplayTakesItsShareOfTheWindowFromTheLastHorizonWindows() {
        EpochPlan w = firstWindow(0.2, 3, 42);
        assertEquals(List.of(), w.replays(), "window 1 has nothing before it");
        assertEquals(100, w.start(0));
        // replay 0.2 of what a window trains: a quarter of its own records, rounded down (4 -> 1, 3 -> 0)
        for (int i = 2; i <= 12; i++) {
            w = w.next();
            assertEquals(i, w.index());
            assertEquals(1, w.replayed(0));
            assertEquals(0, w.replayed(1));
            assertNull(w.replayRange(1));
            OffsetRange r = w.replayRange(0);
            long from = w.ranges().get(0)[0];
            assertEquals(from - 1, w.start(0), "the position counts the replayed record first");
            assertEquals(1, r.count());
            // within the last min(window - 1, horizon 3) windows of partition 0, before this one
            assertTrue(
                    r.from() >= from - 4L * Math.min(i - 1, 3) && r.to() <= from,
                    "window " + i + " replays " + r + " of [" + (from - 4L * Math.min(i - 1, 3)) + ", " + from + ")");
            assertEquals(r.from(), w.replayOffset(0, w.start(0)));
            assertEquals(List.of(r), w.replays());
        }
    }

    @Test
    void aReplayIsCappedByTheRecordsBeforeTheWindow() {
        // replay 0.5: as many earlier records as the window's own, 4 on partition 0; window 2 has only window 1's
        EpochPlan second = firstWindow(0.5, 10, 1).next();
        assertEquals(new OffsetRange("t", 0, 100, 104), second.replayRange(0), "window 1's records, all of them");
        assertEquals(new OffsetRange("t", 1, 0, 3), second.replayRange(1));
        assertEquals(100, second.start(0));
        assertEquals(104, second.ranges().get(0)[0]);
        assertThrows(IllegalArgumentException.class, () -> second.replayOffset(0, 104), "104 is its own record");
        // 0.9: nine times its own records, but window 3 has only two windows before it
        EpochPlan third = firstWindow(0.9, 10, 1).next().next();
        assertEquals(new OffsetRange("t", 0, 100, 108), third.replayRange(0));
    }

    @Test
    void theDrawIsAFunctionOfTheSeedTheWindowAndThePartitionOnly() {
        EpochPlan a = firstWindow(0.2, 10, 7);
        EpochPlan b = firstWindow(0.2, 10, 7);
        Set<Long> starts = new HashSet<>();
        for (int i = 2; i <= 10; i++) {
            a = a.next();
            b = b.next();
            assertEquals(a.replays(), b.replays(), "window " + i);
            starts.add(a.replayRange(0).from());
            // a resume from the checkpoint of window i - 1 plans window i alike
            EpochPlan resumed = EpochPlan.of("t", a.previous().all())
                    .windowed(a.windowing(), i - 1)
                    .next();
            assertEquals(a.replays(), resumed.replays(), "window " + i + " after a resume");
            assertEquals(a.all(), resumed.all());
        }
        assertTrue(starts.size() > 3, "the draws move around: " + starts);
        EpochPlan other = firstWindow(0.2, 10, 8);
        for (int i = 2; i <= 10; i++) {
            other = other.next();
        }
        assertNotEquals(a.replays(), other.replays(), "another seed draws otherwise");
    }

    @Test
    void aWindowOfTimeLearnsItsEndsAndTheNextStartsThere() {
        EpochPlan first = new EpochPlan(
                "t",
                Map.of(0, new long[] {0, EpochPlan.OPEN}, 1, new long[] {5, EpochPlan.OPEN}),
                Windowing.millis(60_000),
                1);
        assertTrue(first.open(0) && first.open(1));
        assertEquals(0, first.records(), "an open range counts nothing yet");
        assertArrayEquals(
                new long[] {EpochPlan.OPEN, EpochPlan.OPEN},
                first.next().ranges().get(0),
                "no known start in the next window before this one ends");
        EpochPlan halfway = first.endedAt(1, 9);
        assertTrue(halfway.open(0) && !halfway.open(1));
        assertSame(halfway, halfway.endedAt(1, 9), "ending it again where it ended changes nothing");
        assertThrows(IllegalArgumentException.class, () -> halfway.endedAt(1, 10), "an end once fixed stays");
        assertThrows(IllegalArgumentException.class, () -> halfway.endedAt(0, -1), "before the range's start");
        EpochPlan ended = halfway.endedAt(0, 3);
        assertTrue(!ended.open(0) && !ended.open(1));
        assertEquals(7, ended.records());
        EpochPlan second = ended.next();
        assertEquals(2, second.index());
        assertArrayEquals(new long[] {3, EpochPlan.OPEN}, second.ranges().get(0));
        assertArrayEquals(new long[] {9, EpochPlan.OPEN}, second.ranges().get(1));
        assertThrows(
                IllegalStateException.class, second::previous, "a window of time's length is not in the next plan");
        assertThrows(
                IllegalArgumentException.class,
                () -> new EpochPlan("t", Map.of(0, new long[] {0, 4}), 10).endedAt(0, 2),
                "a window of records ends where its plan says");
        assertTrue(second.describe().contains("{0: [3, open), 1: [9, open)}"), second.describe());
    }

    @Test
    void aWindowOfTimeEndsAtTheNextMultipleOfItsSpan() {
        Windowing minute = Windowing.millis(60_000);
        assertEquals(60_000, minute.boundaryAfter(0));
        assertEquals(60_000, minute.boundaryAfter(59_999));
        assertEquals(120_000, minute.boundaryAfter(60_000), "a record on the boundary starts the next window");
        assertEquals(0, minute.boundaryAfter(-1), "a record without a timestamp (-1)");
    }
}
