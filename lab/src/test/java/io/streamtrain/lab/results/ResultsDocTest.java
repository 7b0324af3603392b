package io.streamtrain.lab.results;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ResultsDocTest {
    @Test
    void aSectionIsAppendedOnceThenReplacedInPlaceAndTheRestOfTheDocumentIsKept(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("results.md"), "# Reference results\n\nIntro written by hand.\n");
        new ResultsDoc(dir, "court").section("court, first");
        new ResultsDoc(dir, "ablation").section("ablation, first");
        new ResultsDoc(dir, "court").section("court, second\n\nwith two paragraphs");
        String doc = Files.readString(dir.resolve("results.md"));
        assertEquals(
                "# Reference results\n\nIntro written by hand.\n\n" + ResultsDoc.begin("court")
                        + "\ncourt, second\n\nwith two paragraphs\n" + ResultsDoc.end("court") + "\n\n"
                        + ResultsDoc.begin("ablation") + "\nablation, first\n" + ResultsDoc.end("ablation") + "\n",
                doc);
    }

    @Test
    void aMissingDocumentIsCreatedAndFiguresAndCsvGoBesideIt(@TempDir Path dir) throws Exception {
        ResultsDoc doc = new ResultsDoc(dir.resolve("docs"), "fashion-mnist");
        assertEquals("results/fashion-mnist-loss.svg", doc.figure("loss", "<svg/>"));
        assertEquals(
                "results/fashion-mnist.csv",
                doc.csv(
                        List.of("run", "loss", "label"),
                        List.of(List.of("a", 0.25, "no, none"), List.of("b", Double.NaN, "x"))));
        assertEquals(
                "run,loss,label\na,0.250000,\"no, none\"\nb,,x\n",
                Files.readString(dir.resolve("docs/results/fashion-mnist.csv")));
        doc.section("text");
        assertTrue(Files.readString(dir.resolve("docs/results.md"))
                .startsWith("# Reference results\n\n" + ResultsDoc.begin("fashion-mnist")));
    }

    @Test
    void meanAndSampleStandardDeviationOverSeeds() {
        assertEquals("2.0000 ± 1.0000", Ablation.meanSpread(new double[] {1, 2, 3}, 4));
        assertEquals("0.50", Ablation.meanSpread(new double[] {0.5}, 2), "one seed: no spread");
        assertEquals("12.0 ± 0.0", Ablation.meanSpread(new double[] {12, 12}, 1));
    }
}
