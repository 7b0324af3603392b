package io.streamtrain.lab.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.regex.Pattern;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * {@code bench trainer} runs all five contenders to the end and prints its figures and ratios;
 * what the figures are is not tested (docs/benchmarks.md records them). The PyTorch loop needs
 * Debian's python3-torch, python3-numpy and python3-confluent-kafka, which {@code .ci/run}
 * installs: without them this test fails and says so.
 */
@Tag("integration")
class TrainerBenchTest {
    @Test
    void aTinyBenchRunsEveryContenderAndPrintsTheRatios() {
        String[] bench = LabCommandLine.streamtrain(
                "bench",
                "trainer",
                "--records",
                "24",
                "--batch-size",
                "32",
                "--features",
                "20",
                "--hidden",
                "16",
                "--epochs",
                "2",
                "--rounds",
                "1",
                "--partitions",
                "2");
        assertEquals("0", bench[0], bench[1]);
        String out = bench[1];
        assertFalse(
                out.contains("is skipped"),
                "the PyTorch loop must run here (apt-get install python3-torch python3-numpy"
                        + " python3-confluent-kafka): " + out);
        for (String contender : new String[] {
            "streamtrain step, in memory",
            "streamtrain node, from Kafka",
            "PyTorch loop, in memory",
            "PyTorch loop, Kafka defaults",
            "PyTorch loop, Kafka tuned"
        }) {
            assertTrue(
                    Pattern.compile("round 1, " + Pattern.quote(contender)
                                    + ": +\\d+ samples/s +\\(epochs: \\d+ \\d+\\)")
                            .matcher(out)
                            .find(),
                    contender + " in:\n" + out);
        }
        assertTrue(
                Pattern.compile(
                                "result: streamtrain node from Kafka / its step in memory: [\\d.]+ \\(target >= 0.95\\)")
                        .matcher(out)
                        .find(),
                out);
        assertTrue(
                Pattern.compile("result: streamtrain step / PyTorch loop, both in memory: [\\d.]+ \\(target >= 1.0\\)")
                        .matcher(out)
                        .find(),
                out);
        assertTrue(
                Pattern.compile(
                                "result: streamtrain node / PyTorch loop, both from Kafka: [\\d.]+ against the tuned consumer"
                                        + " \\(target >= 1.0\\), [\\d.]+ against librdkafka's defaults \\(target >= 1.5\\)")
                        .matcher(out)
                        .find(),
                out);
    }

    @Test
    void withoutPythonTheBenchSaysSoAndMeasuresStreamtrainAlone() {
        String[] bench = LabCommandLine.streamtrain(
                "bench",
                "trainer",
                "--records",
                "8",
                "--batch-size",
                "16",
                "--features",
                "8",
                "--hidden",
                "8",
                "--epochs",
                "2",
                "--rounds",
                "1",
                "--partitions",
                "1",
                "--python",
                "/nonexistent/python3");
        assertEquals("0", bench[0], bench[1]);
        String out = bench[1];
        assertTrue(out.contains("bench trainer: the PyTorch loop is skipped: /nonexistent/python3 cannot be run"), out);
        assertTrue(out.contains("apt-get install python3 python3-torch"), "says what to install: " + out);
        assertTrue(
                Pattern.compile("result: streamtrain node from Kafka / its step in memory: [\\d.]+")
                        .matcher(out)
                        .find(),
                out);
        assertTrue(out.contains("result: no comparison with the PyTorch loop"), out);
        assertFalse(out.contains("PyTorch loop, in memory:"), out);
    }

    @Test
    void oneEpochIsRefusedBecauseTheFirstIsWarmUp() {
        String[] bench = LabCommandLine.streamtrain("bench", "trainer", "--epochs", "1");
        assertEquals("2", bench[0], bench[1]);
    }
}
