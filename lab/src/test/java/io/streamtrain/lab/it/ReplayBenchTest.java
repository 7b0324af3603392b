package io.streamtrain.lab.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * {@code bench replay} trains a topic of two rules with and without replay and prints figures
 * that hang together; whether replay helps is not tested (the figure is the bench's).
 */
@Tag("integration")
class ReplayBenchTest {
    private static final Pattern ARM = Pattern.compile(
            "^ {2}(replay-\\w+) +(\\d\\.\\d\\d) +(\\d+\\.\\d{4}) +(\\d+\\.\\d{4}) +(\\d+) +(\\d+\\.\\d)$",
            Pattern.MULTILINE);
    private static final Pattern RESULT = Pattern.compile("result: replay 0\\.50: rule A loss \\d+\\.\\d{4} vs"
            + " \\d+\\.\\d{4} without \\(\\d+\\.\\d\\dx\\), rule B loss \\d+\\.\\d{4} vs \\d+\\.\\d{4} \\(\\d+\\.\\d\\dx\\);"
            + " (\\d+\\.\\d\\d)x the samples, \\d+\\.\\d\\dx the training time");

    @Test
    void aTinyBenchTrainsBothRunsAndScoresTheirLastModelsOnBothRules() {
        String[] bench = LabCommandLine.streamtrain(
                "bench", "replay", "--windows-a", "2", "--windows-b", "2", "--window", "8", "--replay", "0.5");
        assertEquals("0", bench[0], bench[1]);
        String out = bench[1];
        Matcher arm = ARM.matcher(out);
        assertTrue(arm.find(), out);
        assertEquals("replay-none", arm.group(1));
        // 4 windows of 8 records of 64 samples, each once
        assertEquals(4 * 8 * 64, Long.parseLong(arm.group(5)), out);
        assertTrue(arm.find(), out);
        assertEquals("replay-50", arm.group(1));
        // replay 0.5: windows 2-4 also train as many earlier records as their own
        assertEquals(4 * 8 * 64 + 3 * 8 * 64, Long.parseLong(arm.group(5)), out);
        Matcher result = RESULT.matcher(out);
        assertTrue(result.find(), out);
        assertEquals("1.75", result.group(1), out);
    }
}
