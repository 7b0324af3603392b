package io.streamtrain.lab.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.core.evaluation.EvaluationRecord;
import io.streamtrain.lab.report.Svg.Vertex;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

class RunReportWriterTest {
    private static final int SCRAPES = 30;

    @TempDir
    Path dir;

    private String write(RunReport report) throws Exception {
        Path html = RunReportWriter.write(report, dir.resolve("runs").resolve(report.runId()));
        assertEquals(dir.resolve("runs").resolve(report.runId()).resolve("report.html"), html);
        return Files.readString(html, StandardCharsets.UTF_8);
    }

    @Test
    void writesTheReportTheCsvAndTheSpecAsGiven() throws Exception {
        write(Runs.stoppedRun(SCRAPES));
        Path run = dir.resolve("runs/demo");
        assertEquals(Runs.SPEC, Files.readString(run.resolve("spec.yaml")));
        assertEquals(
                Runs.stoppedRun(SCRAPES).evaluations().size() + 1,
                EvaluationsCsvTest.parse(Files.readString(run.resolve("evaluations.csv")))
                        .size());
        try (var files = Files.list(run)) {
            assertEquals(
                    List.of("evaluations.csv", "report.html", "spec.yaml"),
                    files.map(p -> p.getFileName().toString()).sorted().toList(),
                    "no temporary files left behind");
        }
    }

    @Test
    void thePageIsWellFormedAndSelfContained() throws Exception {
        String html = write(Runs.stoppedRun(SCRAPES));
        Svg.parse(html);
        assertFalse(html.contains("<script"), "no scripts");
        assertFalse(
                html.contains("<link") || html.contains("<img") || html.contains("@import") || html.contains("url("),
                "nothing fetched");
        Matcher http = Pattern.compile("https?://[^\"]*").matcher(html);
        while (http.find()) {
            assertEquals("http://www.w3.org/2000/svg", http.group(), "the only URI is the SVG namespace");
        }
        assertEquals(
                List.of(
                        ReportCharts.LOSS,
                        ReportCharts.GAP,
                        ReportCharts.ACCURACY,
                        ReportCharts.REGULARIZATION,
                        ReportCharts.WEIGHT_NORM,
                        ReportCharts.THROUGHPUT),
                Svg.all(html).stream().map(Svg::title).toList());
    }

    @Test
    void theSummarySaysHowTheRunEnded() throws Exception {
        Document page = Svg.parse(write(Runs.stoppedRun(SCRAPES)));
        String lede = byClass(page, "p", "lede").get(0).getTextContent();
        assertEquals("Stopped at epoch 8 (patience-exhausted); best epoch 5, val_loss 0.55; 7.2 s.", lede);
        String cards = byClass(page, "dl", "cards").get(0).getTextContent();
        assertTrue(cards.contains("epoch 5 · val_loss 0.55demo-e0005"), cards);
        assertTrue(cards.contains("Trainer nodes2trainer-0: 640 samples/s; trainer-1: 640 samples/s"), cards);
        assertTrue(cards.contains("Evaluations80 rejected · 1 snapshot"), cards);
        assertTrue(
                cards.contains(
                        "OutcomeStopped at epoch 8patience-exhausted: val_loss has not improved for 3 evaluations"),
                cards);
    }

    @Test
    void lossPlotHasBothSeriesPerEpochAndTheBestAndStopMarkers() throws Exception {
        Svg loss = Svg.titled(write(Runs.stoppedRun(SCRAPES)), ReportCharts.LOSS);
        assertEquals(List.of("train", "validation", "train + penalties"), loss.seriesNames());
        List<Vertex> val = loss.vertices("validation");
        assertEquals(Runs.VAL_LOSS.length, val.size(), "one point per epoch; the snapshot is not one");
        assertEquals(Runs.TRAIN_LOSS.length, loss.vertices("train").size());
        assertEquals(val.get(Runs.BEST_EPOCH - 1).x(), loss.markerX("best"));
        assertEquals(val.get(Runs.STOP_EPOCH - 1).x(), loss.markerX("stop"));
        // lower loss is lower on the page (larger pixel y): the train loss falls every epoch,
        // the validation loss until the best epoch and rises after it (the snapshot's 9.0 is no epoch's)
        List<Vertex> train = loss.vertices("train");
        for (int e = 1; e < train.size(); e++) {
            assertTrue(train.get(e).yValue() > train.get(e - 1).yValue(), "train loss falls at epoch " + (e + 1));
            boolean falling = e < Runs.BEST_EPOCH;
            assertEquals(falling, val.get(e).yValue() > val.get(e - 1).yValue(), "validation loss at epoch " + (e + 1));
        }
    }

    @Test
    void gapAndAccuracyPlotsCarryTheMarkersToo() throws Exception {
        String html = write(Runs.stoppedRun(SCRAPES));
        Svg gap = Svg.titled(html, ReportCharts.GAP);
        List<Vertex> g = gap.vertices("validation − train");
        assertEquals(Runs.VAL_LOSS.length, g.size());
        assertEquals(g.get(Runs.BEST_EPOCH - 1).x(), gap.markerX("best"));
        assertEquals(g.get(Runs.STOP_EPOCH - 1).x(), gap.markerX("stop"));
        // epoch 1 has val < train (a negative gap), epoch 8 the widest: highest on the page
        double top = g.stream().mapToDouble(Vertex::yValue).min().orElseThrow();
        assertEquals(top, g.get(7).yValue());
        Svg accuracy = Svg.titled(html, ReportCharts.ACCURACY);
        assertEquals(Runs.VAL_LOSS.length, accuracy.vertices("validation").size());
        assertEquals(accuracy.vertices("validation").get(Runs.BEST_EPOCH - 1).x(), accuracy.markerX("best"));
    }

    @Test
    void stepPlotsHaveOnePointPerScrapePerNode() throws Exception {
        String html = write(Runs.stoppedRun(SCRAPES));
        Svg reg = Svg.titled(html, ReportCharts.REGULARIZATION);
        assertEquals(
                List.of("l1 · trainer-0", "l1 · trainer-1", "l2 · trainer-0", "l2 · trainer-1"),
                reg.seriesNames(),
                "l2sp is 0 throughout and left out");
        for (String s : reg.seriesNames()) {
            assertEquals(SCRAPES, reg.vertices(s).size(), s);
        }
        Svg norm = Svg.titled(html, ReportCharts.WEIGHT_NORM);
        assertEquals(List.of("trainer-0", "trainer-1"), norm.seriesNames());
        assertEquals(SCRAPES, norm.vertices("trainer-1").size());
        Svg rate = Svg.titled(html, ReportCharts.THROUGHPUT);
        assertEquals(SCRAPES - 1, rate.vertices("trainer-0").size(), "a rate per interval between scrapes");
        assertNull(rate.marker("best"));
        // trainer-1 started scraping 0.5 s later: its first rate stands to the right of trainer-0's
        assertTrue(Double.parseDouble(rate.vertices("trainer-1").get(0).x())
                > Double.parseDouble(rate.vertices("trainer-0").get(0).x()));
    }

    @Test
    void oneNodeNamesTheTermsAlone() throws Exception {
        RunReport two = Runs.stoppedRun(SCRAPES);
        RunReport one = new RunReport(
                two.runId(),
                two.specYaml(),
                two.evaluations(),
                two.checkpoints(),
                Map.of("solo", Runs.samples(1, 0)),
                two.outcome());
        String html = write(one);
        Svg reg = Svg.titled(html, ReportCharts.REGULARIZATION);
        assertEquals(List.of("l1", "l2"), reg.seriesNames());
        assertEquals(1, reg.vertices("l1").size(), "a single scrape is still drawn");
        assertEquals(1, reg.dots("l1"));
        assertFalse(
                Svg.all(html).stream().anyMatch(s -> s.title().equals(ReportCharts.THROUGHPUT)),
                "one scrape has no rate");
        assertTrue(html.contains("Fewer than two scrapes of any node"));
    }

    @Test
    void nonFiniteValuesAreGapsAndTheTableSaysSo() throws Exception {
        RunReport base = Runs.stoppedRun(SCRAPES);
        List<EvaluationRecord> evaluations = new ArrayList<>(base.evaluations());
        // epoch 3's validation loss is NaN, epoch 6's accuracy is infinite
        evaluations.set(
                2,
                Runs.evaluation(
                        3,
                        EvaluationRecord.EVALUATED,
                        Runs.metrics("val_loss", Double.NaN, "val_accuracy", 0.5),
                        0.62,
                        Runs.best(2),
                        1,
                        2,
                        EvaluationRecord.CONTINUE,
                        null,
                        "nan"));
        evaluations.set(
                6,
                Runs.evaluation(
                        6,
                        EvaluationRecord.EVALUATED,
                        Runs.metrics("val_loss", 0.58, "val_accuracy", Double.POSITIVE_INFINITY),
                        0.31,
                        Runs.best(5),
                        1,
                        2,
                        EvaluationRecord.CONTINUE,
                        null,
                        "inf"));
        List<StepSample> samples = new ArrayList<>(Runs.samples(SCRAPES, 0));
        StepSample s = samples.get(10);
        samples.set(
                10,
                new StepSample(
                        s.timeMillis(),
                        s.epoch(),
                        s.step(),
                        s.samplesTotal(),
                        s.dataLoss(),
                        Double.NaN,
                        s.l2(),
                        s.l2sp(),
                        Double.NEGATIVE_INFINITY,
                        s.learningRate()));
        RunReport report = new RunReport(
                base.runId(),
                base.specYaml(),
                evaluations,
                base.checkpoints(),
                Map.of("trainer-0", samples),
                base.outcome());
        String html = write(report);
        Svg.parse(html);

        List<Vertex> val = Svg.titled(html, ReportCharts.LOSS).vertices("validation");
        assertEquals(Runs.VAL_LOSS.length - 1, val.size());
        assertEquals(2, val.stream().filter(Vertex::start).count(), "the line breaks at epoch 3");
        assertEquals(
                Runs.VAL_LOSS.length - 1,
                Svg.titled(html, ReportCharts.GAP)
                        .vertices("validation − train")
                        .size());
        assertEquals(
                Runs.VAL_LOSS.length - 1,
                Svg.titled(html, ReportCharts.ACCURACY).vertices("validation").size());
        assertEquals(
                SCRAPES - 1,
                Svg.titled(html, ReportCharts.REGULARIZATION).vertices("l1").size());
        assertEquals(
                SCRAPES,
                Svg.titled(html, ReportCharts.REGULARIZATION).vertices("l2").size());
        assertEquals(
                SCRAPES - 1,
                Svg.titled(html, ReportCharts.WEIGHT_NORM).vertices("trainer-0").size());
        assertTrue(html.contains("<td class=\"num\">NaN</td>"), "the table shows the NaN as it is");
    }

    @Test
    void aRestartedNodesCounterIsAGapInItsThroughput() throws Exception {
        List<StepSample> samples = new ArrayList<>(Runs.samples(10, 0));
        samples.addAll(Runs.samples(10, 10_000));
        RunReport base = Runs.stoppedRun(SCRAPES);
        String html = write(new RunReport(
                base.runId(),
                base.specYaml(),
                base.evaluations(),
                base.checkpoints(),
                Map.of("trainer-0", samples),
                base.outcome()));
        List<Vertex> rate = Svg.titled(html, ReportCharts.THROUGHPUT).vertices("trainer-0");
        assertEquals(18, rate.size(), "19 intervals, one of them across the restart");
        assertEquals(2, rate.stream().filter(Vertex::start).count());
        List<Vertex> norm = Svg.titled(html, ReportCharts.WEIGHT_NORM).vertices("trainer-0");
        assertEquals(2, norm.stream().filter(Vertex::start).count(), "steps counted again from 0 start a new line");
    }

    @Test
    void evaluationsTableHasARowPerRecordWithBestAndStopHighlighted() throws Exception {
        Document page = Svg.parse(write(Runs.stoppedRun(SCRAPES)));
        NodeList rows = ((Element) page.getElementsByTagName("tbody").item(0)).getElementsByTagName("tr");
        List<EvaluationRecord> records = Runs.stoppedRun(SCRAPES).evaluations();
        assertEquals(records.size(), rows.getLength());
        List<String> classes = new ArrayList<>();
        for (int i = 0; i < rows.getLength(); i++) {
            classes.add(((Element) rows.item(i)).getAttribute("class"));
        }
        assertEquals(
                List.of(
                        "evaluated",
                        "evaluated",
                        "evaluated",
                        "evaluated",
                        "snapshot",
                        "best",
                        "evaluated",
                        "evaluated",
                        "stop"),
                classes);
    }

    @Test
    void hostileTextIsEscaped() throws Exception {
        RunReport base = Runs.stoppedRun(3);
        String evil = "</title><script>alert('x')</script> & ]]> \u0007";
        RunReport report = new RunReport(
                "demo",
                "run: demo # <b>&</b>\n",
                base.evaluations(),
                base.checkpoints(),
                Map.of(evil, Runs.samples(3, 0)),
                new RunOutcome("operator", evil, 4, null, Duration.ofSeconds(3)));
        String html = write(report);
        Svg.parse(html);
        assertFalse(html.contains("<script"));
        assertTrue(
                Svg.titled(html, ReportCharts.WEIGHT_NORM).seriesNames().get(0).startsWith("</title><script>"));
    }

    @Test
    void aRunWithNothingYetSaysSo() throws Exception {
        String html = write(Runs.emptyRun());
        Document page = Svg.parse(html);
        assertTrue(Svg.all(html).isEmpty(), "no plots without data");
        assertEquals(
                "No epoch finished yet; no evaluations yet; 0.0 s.",
                byClass(page, "p", "lede").get(0).getTextContent());
        List<String> notes =
                byClass(page, "p", "note").stream().map(Element::getTextContent).toList();
        assertTrue(notes.contains("No checkpoints or evaluations yet."), notes.toString());
        assertTrue(notes.contains("No evaluations yet."), notes.toString());
        assertTrue(notes.contains("No metrics were scraped from the trainer nodes."), notes.toString());
        assertEquals(
                1,
                EvaluationsCsvTest.parse(Files.readString(dir.resolve("runs/fresh/evaluations.csv")))
                        .size());
    }

    @Test
    void trainingWithoutEvaluationsStillPlotsTheTrainLoss() throws Exception {
        RunReport base = Runs.stoppedRun(SCRAPES);
        RunReport report = new RunReport(
                "demo",
                Runs.SPEC,
                List.of(),
                base.checkpoints(),
                base.nodeSamples(),
                new RunOutcome(null, null, 0, null, Duration.ofSeconds(5)));
        String html = write(report);
        Svg loss = Svg.titled(html, ReportCharts.LOSS);
        assertEquals(List.of("train", "train + penalties"), loss.seriesNames());
        assertNull(loss.marker("best"));
        assertNull(loss.marker("stop"));
        assertTrue(html.contains("No evaluations yet: only the training loss is shown."));
        assertTrue(html.contains("No epoch with both a training and a validation loss yet."));
    }

    private static List<Element> byClass(Document page, String tag, String cls) {
        NodeList nodes = page.getElementsByTagName(tag);
        List<Element> found = new ArrayList<>();
        for (int i = 0; i < nodes.getLength(); i++) {
            Element e = (Element) nodes.item(i);
            if (e.getAttribute("class").equals(cls)) {
                found.add(e);
            }
        }
        return found;
    }
}
