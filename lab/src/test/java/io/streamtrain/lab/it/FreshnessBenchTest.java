package io.streamtrain.lab.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * {@code bench freshness} trains a live topic window by window, gets windows promoted, and
 * prints freshness figures that hang together; how fresh is not tested.
 */
@Tag("integration")
class FreshnessBenchTest {
    private static final Pattern RESULT =
            Pattern.compile("result: freshness over (\\d+) promotions of 3 windows: newest record ->"
                    + " promoted model median (\\d+) ms, max (\\d+) ms; oldest record median (\\d+) ms; of which training median (-?\\d+) ms,"
                    + " evaluation median (\\d+) ms");

    @Test
    void aTinyBenchPromotesWindowsOfALiveTopicAndPrintsHowFreshTheyAre() {
        String[] bench =
                LabCommandLine.streamtrain("bench", "freshness", "--windows", "3", "--window", "8", "--rate", "40");
        assertEquals("0", bench[0], bench[1]);
        String out = bench[1];
        Matcher m = RESULT.matcher(out);
        assertTrue(m.find(), out);
        int promotions = Integer.parseInt(m.group(1));
        assertTrue(promotions >= 1 && promotions <= 3, out);
        long newest = Long.parseLong(m.group(2));
        long max = Long.parseLong(m.group(3));
        long oldest = Long.parseLong(m.group(4));
        assertTrue(newest > 0 && newest <= max, out);
        // the oldest record of a window was produced before its newest: 8 records at 40/s are about 175 ms apart
        assertTrue(oldest > newest, out);
        assertTrue(
                Pattern.compile("window +1 promoted +\\d+ ms after its newest record was produced")
                        .matcher(out)
                        .find(),
                "the first window is the first promoted model\n" + out);
    }
}
