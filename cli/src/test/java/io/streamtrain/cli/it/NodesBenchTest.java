package io.streamtrain.cli.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * {@code bench nodes} runs its trainer JVMs (1 node, 1 node with a round per epoch, 2 nodes, 2
 * separate runs) to the end and prints its figures; what they are is not tested.
 */
class NodesBenchTest {
    @Test
    void aTinyBenchRunsItsFourMeasurementsAndPrintsItsFigures() {
        // 16 steps an epoch for one node: a lone node's rounds every 20 x 4 steps make one per epoch, as the
        // round-per-epoch setting does; two nodes have their rounds every 4 steps
        String[] bench = CtlTest.streamtrain("bench", "nodes", "--records", "16", "--batch-size", "16", "--epochs", "2", "--rounds", "1",
                "--every-steps", "4");
        assertEquals("0", bench[0], bench[1]);
        String out = bench[1];
        assertTrue(Pattern.compile("round 1, 1 node : +\\d+ samples/s, sync [\\d.]+ MB per round \\(1 rounds per epoch\\)").matcher(out).find(), out);
        assertTrue(Pattern.compile("round 1, 1 node, a round per epoch: +\\d+ samples/s, sync [\\d.]+ MB per round \\(1 rounds per epoch\\)")
                .matcher(out).find(), out);
        assertTrue(Pattern.compile("round 1, 2 nodes: +\\d+ samples/s.*\\([2-4] rounds per epoch\\)").matcher(out).find(), out);
        assertTrue(Pattern.compile("round 1, 2 separate runs: +\\d+ samples/s together, sync [\\d.]+ MB per round").matcher(out).find(), out);
        assertTrue(Pattern.compile("result: samples/s .*: 1 node \\d+, 2 nodes \\d+; speed-up [\\d.]+ x .*scaling efficiency [\\d.]+").matcher(out).find(), out);
        assertTrue(Pattern.compile("result: the machine's ceiling: 2 separate 1-node runs at once \\d+ samples/s together, [\\d.]+ x one"
                + " node; the 2-node run reached \\d+ % of it").matcher(out).find(), out);
        assertTrue(Pattern.compile("result: sync per round .*round wait: 1 node [\\d.]+ %, 2 nodes [\\d.]+ %").matcher(out).find(), out);
        assertTrue(Pattern.compile("result: a lone node's rounds \\(every 80 steps: 20 x --every-steps, as a node alone on the topic runs"
                + " them\\) cost -?[\\d.]+ % of its samples/s \\(1 node with a round only where an epoch ends: \\d+ samples/s\\)")
                .matcher(out).find(), out);
    }
}
