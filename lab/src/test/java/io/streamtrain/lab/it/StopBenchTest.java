package io.streamtrain.lab.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * {@code bench stop} stops runs of 1 and of 2 trainer JVMs, each node acknowledging the STOP
 * (the bench fails otherwise), and prints figures that hang together; how fast they are is
 * not tested.
 */
@Tag("integration")
class StopBenchTest {
    private static final Pattern RESULT = Pattern.compile(
            "result: stop latency, (\\d) nodes? ?: median (\\d+) ms, max (\\d+) ms over 1 runs; last acknowledgement median (\\d+) ms");

    @Test
    void aTinyBenchStopsOneAndTwoNodesAndPrintsTheirLatencies() {
        String[] bench = LabCommandLine.streamtrain("bench", "stop", "--rounds", "1", "--epochs-before-stop", "2");
        assertEquals("0", bench[0], bench[1]);
        String out = bench[1];
        assertTrue(
                Pattern.compile("round 1, 1 node : stop latency +\\d+ ms to the last node's exit")
                        .matcher(out)
                        .find(),
                out);
        assertTrue(
                Pattern.compile("round 1, 2 nodes: stop latency +\\d+ ms to the last node's exit")
                        .matcher(out)
                        .find(),
                out);
        Matcher m = RESULT.matcher(out);
        int results = 0;
        while (m.find()) {
            results++;
            int median = Integer.parseInt(m.group(2));
            int max = Integer.parseInt(m.group(3));
            int acknowledged = Integer.parseInt(m.group(4));
            String nodes = m.group(1) + " node(s): ";
            assertEquals(median, max, nodes + "one run: its latency is the median and the max\n" + out);
            // the last acknowledgement is written before its node exits, and the latency is timed from before the STOP
            // is sent
            assertTrue(
                    acknowledged > 0 && acknowledged <= median + 1,
                    nodes + "acknowledged after " + acknowledged + " ms\n" + out);
            // one step and the control feed's 100 ms poll, then closing clients and the JVM: seconds at most, even on a
            // busy machine
            assertTrue(median < 30_000, nodes + median + " ms\n" + out);
        }
        assertEquals(2, results, "a result line for 1 node and one for 2 nodes\n" + out);
        assertTrue(out.contains("result: stop latency, 2 nodes: "), out);
        assertTrue(
                Pattern.compile("result: evaluation overhead over \\d+ checkpoints: median (\\d+|NaN) ms")
                        .matcher(out)
                        .find(),
                out);
    }
}
