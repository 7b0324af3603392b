package io.streamtrain.lab.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.testkit.SafetensorsFile;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.w3c.dom.Document;
import org.w3c.dom.NodeList;

/**
 * The README's first command does what the README says: two trainer nodes and the evaluator
 * train, evaluate and stop early at the best checkpoint, the progress reads as plain lines in
 * a log, and the report is there with plots that hold data.
 */
@Tag("integration")
class DemoTest {
    /** {@code demo --continuous}: a live topic written while the run trains it window by window, and its promoted model. */
    @Test
    void theContinuousDemoTrainsALiveTopicWindowByWindowAndExportsItsPromotedModel(@TempDir Path dir) throws Exception {
        String[] demo = LabCommandLine.streamtrain(
                "demo", "--continuous", "--nodes", "1", "--epochs", "4", "--report-dir", dir.toString());
        assertEquals("0", demo[0], demo[1]);
        String out = demo[1];
        Matcher done = Pattern.compile(
                        "run demo trained 4 windows of a live topic in [\\d.]+ s and promoted (\\d) of them; its promoted"
                                + " model is checkpoint demo-e\\d{4}-\\w+ \\(window (\\d), val_loss")
                .matcher(out);
        assertTrue(done.find(), out);
        assertTrue(Integer.parseInt(done.group(1)) >= 1, out);
        for (int w = 1; w <= 4; w++) {
            assertTrue(
                    out.contains(String.format("window %2d  trained", w))
                            && out.contains(String.format("window %2d evaluated", w)),
                    out);
        }
        assertTrue(
                out.contains("window  1 evaluated")
                        && out.lines().anyMatch(l -> l.contains("window  1 evaluated") && l.contains("-> PROMOTED")),
                "the first window is the first promoted model\n" + out);
        assertFalse(out.contains("-> STOP"), "a continuous run is not stopped\n" + out);
        assertTrue(Files.size(dir.resolve("demo").resolve("promoted.safetensors")) > 0, out);
    }

    @Test
    void theDemoTrainsWithTwoNodesStopsEarlyAndWritesItsReport(@TempDir Path dir) throws Exception {
        String[] demo = LabCommandLine.streamtrain("demo", "--built-in", "--report-dir", dir.toString());
        assertEquals("0", demo[0], demo[1]);
        String out = demo[1];
        Matcher done = Pattern.compile(
                        "stopped early after (\\d+) epochs(?: \\(the evaluator's STOP came at epoch (\\d+)\\))? in [\\d.]+ s;"
                                + " the run's result is its best checkpoint demo-e\\d{4}-\\w+ \\(epoch (\\d+), val_loss")
                .matcher(out);
        assertTrue(done.find(), out);
        int trained = Integer.parseInt(done.group(1));
        // the nodes train on while the evaluator scores: they may finish an epoch past the one it stopped at, and the
        // line says so
        int stoppedAt = done.group(2) == null ? trained : Integer.parseInt(done.group(2));
        int best = Integer.parseInt(done.group(3));
        assertEquals(best + 3, stoppedAt, "patience 3: stopped three epochs after the best\n" + out);
        assertTrue(trained >= stoppedAt, out);
        assertTrue(
                out.contains(String.format("epoch %2d  evaluated", stoppedAt))
                        && out.lines()
                                .anyMatch(l -> l.contains(String.format("epoch %2d  evaluated", stoppedAt))
                                        && l.contains("-> STOP")),
                out);
        for (int e = 1; e <= stoppedAt; e++) {
            assertTrue(
                    out.contains(String.format("epoch %2d  trained", e))
                            && out.contains(String.format("epoch %2d  evaluated", e)),
                    out);
        }
        assertTrue(out.contains("-> STOP: val_loss"), out);
        assertTrue(out.contains("  node-0 ") && out.contains("  node-1 "), "both nodes' progress lines:\n" + out);
        assertFalse(out.contains("\u001b["), "not a terminal: plain lines, no cursor movement");

        Path report = dir.resolve("demo");
        for (String f : List.of("report.html", "evaluations.csv", "spec.yaml", "best.safetensors", "best.json")) {
            assertTrue(Files.size(report.resolve(f)) > 0, f + " in " + report + ":\n" + out);
        }
        // the evaluations as CSV: a header and one row per evaluation
        List<String> csv = Files.readAllLines(report.resolve("evaluations.csv"));
        assertEquals(stoppedAt + 1, csv.size(), String.join("\n", csv));
        // the plots: well-formed SVG, each with drawn data (a path with several points)
        String html = Files.readString(report.resolve("report.html"));
        Matcher svg = Pattern.compile("<svg\\b.*?</svg>", Pattern.DOTALL).matcher(html);
        int plots = 0;
        while (svg.find()) {
            Document doc = DocumentBuilderFactory.newInstance()
                    .newDocumentBuilder()
                    .parse(new ByteArrayInputStream(svg.group().getBytes(StandardCharsets.UTF_8)));
            NodeList paths = doc.getElementsByTagName("path");
            boolean drawn = false;
            for (int i = 0; i < paths.getLength(); i++) {
                String d = paths.item(i).getAttributes().getNamedItem("d") == null
                        ? ""
                        : paths.item(i).getAttributes().getNamedItem("d").getNodeValue();
                drawn |= d.chars().filter(c -> c == 'L').count() >= 2;
            }
            assertTrue(drawn, "a plot without a drawn series:\n" + svg.group());
            plots++;
        }
        assertTrue(plots >= 5, plots + " plots: loss, gap, accuracy, regularization, weight norm, throughput");
        // the best weights, as safetensors that name the model's parameters
        SafetensorsFile.Parsed weights = SafetensorsFile.parse(Files.readAllBytes(report.resolve("best.safetensors")));
        assertTrue(
                weights.tensors().containsKey("01Linear_weight"),
                weights.tensors().keySet().toString());
    }
}
