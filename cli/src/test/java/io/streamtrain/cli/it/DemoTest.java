package io.streamtrain.cli.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The README's first command does what the README says: trains, evaluates, stops early, names the best checkpoint. */
class DemoTest {
    @Test
    void theDemoTrainsEvaluatesAndStopsEarlyAtTheBestCheckpoint() {
        String[] demo = CtlTest.streamtrain("demo");
        assertEquals("0", demo[0], demo[1]);
        String out = demo[1];
        Matcher done = Pattern.compile("stopped early after (\\d+) epochs .* best checkpoint demo-e\\d{4}-\\w+ \\(epoch (\\d+), val_loss").matcher(out);
        assertTrue(done.find(), out);
        int stoppedAt = Integer.parseInt(done.group(1));
        int best = Integer.parseInt(done.group(2));
        assertEquals(best + 3, stoppedAt, "patience 3: stopped three epochs after the best\n" + out);
        for (int e = 1; e <= stoppedAt; e++) {
            assertTrue(out.contains(String.format("epoch %2d  trained", e)) && out.contains(String.format("epoch %2d  evaluated", e)), out);
        }
        assertTrue(out.contains("-> STOP: val_loss"), out);
    }
}
