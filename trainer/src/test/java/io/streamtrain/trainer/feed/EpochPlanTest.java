package io.streamtrain.trainer.feed;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Map;
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
}
