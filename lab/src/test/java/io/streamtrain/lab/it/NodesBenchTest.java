package io.streamtrain.lab.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * {@code bench nodes} runs its trainer JVMs (1 node, 1 node with a round per epoch, 2 nodes in
 * each sync mode, 2 separate runs) to the end and prints its figures; what they are is not
 * tested, but that streaming rounds write fewer bytes than strict ones is.
 */
@Tag("integration")
class NodesBenchTest {
    @Test
    void aTinyBenchRunsItsSixMeasurementsAndPrintsItsFigures() {
        // 16 steps an epoch for one node: a lone node's rounds every 20 x 4 steps make one per epoch, as the
        // round-per-epoch setting does; two nodes have their rounds every 4 steps
        String[] bench = LabCommandLine.streamtrain(
                "bench",
                "nodes",
                "--records",
                "16",
                "--batch-size",
                "16",
                "--epochs",
                "2",
                "--rounds",
                "1",
                "--every-steps",
                "4");
        assertEquals("0", bench[0], bench[1]);
        String out = bench[1];
        assertTrue(
                Pattern.compile("round 1, 1 node : +\\d+ samples/s, sync [\\d.]+ MB per round \\(1 rounds per epoch\\)")
                        .matcher(out)
                        .find(),
                out);
        assertTrue(
                Pattern.compile(
                                "round 1, 1 node, a round per epoch: +\\d+ samples/s, sync [\\d.]+ MB per round \\(1 rounds per epoch\\)")
                        .matcher(out)
                        .find(),
                out);
        for (String mode : new String[] {"streaming, bfloat16", "streaming, int8", "strict"}) {
            assertTrue(
                    Pattern.compile("round 1, 2 nodes \\(" + mode
                                    + "\\): +\\d+ samples/s.*\\([2-4] rounds per epoch\\)")
                            .matcher(out)
                            .find(),
                    out);
        }
        assertTrue(
                Pattern.compile("round 1, 2 separate runs: +\\d+ samples/s together, sync [\\d.]+ MB per round")
                        .matcher(out)
                        .find(),
                out);
        assertTrue(
                Pattern.compile(
                                "result: samples/s .*: 1 node \\d+; the machine's ceiling \\(2 separate 1-node runs at once\\) \\d+"
                                        + " together, [\\d.]+ x one node")
                        .matcher(out)
                        .find(),
                out);
        Pattern figures = Pattern.compile(
                "result: 2 nodes \\((.+?)\\): \\d+ samples/s, [\\d.]+ x one node, [\\d.]+ % of the machine's ceiling"
                        + " \\(target >= 97\\); a node's median contribution ([\\d.]+) MB \\(1/([\\d.]+) of strict's.*\\), its sync bytes per round"
                        + " over the epoch [\\d.]+ MB \\(1/[\\d.]+;.*\\); round wait [\\d.]+ % of wall time");
        java.util.Map<String, Double> shareOfStrict = new java.util.HashMap<>();
        Matcher m = figures.matcher(out);
        while (m.find()) {
            shareOfStrict.put(m.group(1), Double.parseDouble(m.group(3)));
        }
        assertEquals(java.util.Set.of("streaming, bfloat16", "streaming, int8", "strict"), shareOfStrict.keySet(), out);
        assertEquals(1.0, shareOfStrict.get("strict"), 1e-9);
        // rounds of 4 steps: half the contributions end an epoch and carry the optimizer state too, so the medians are
        // not
        // a sixth and a twelfth, but streaming must write well under strict, and int8 under bfloat16
        assertTrue(shareOfStrict.get("streaming, bfloat16") > 2, out);
        assertTrue(shareOfStrict.get("streaming, int8") > shareOfStrict.get("streaming, bfloat16"), out);
        assertTrue(
                Pattern.compile(
                                "result: a lone node's rounds \\(every 80 steps: 20 x --every-steps, as a node alone on the topic runs"
                                        + " them\\) cost -?[\\d.]+ % of its samples/s \\(1 node with a round only where an epoch ends: \\d+ samples/s\\)")
                        .matcher(out)
                        .find(),
                out);
    }
}
