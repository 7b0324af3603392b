package io.streamtrain.lab.report;

import io.streamtrain.lab.report.RunFigures.Epoch;
import io.streamtrain.lab.report.SvgLineChart.Dash;
import io.streamtrain.lab.report.SvgLineChart.MarkerKind;
import io.streamtrain.lab.report.SvgLineChart.Point;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.function.ToDoubleFunction;

/** The report's plots, each built from a {@link RunReport}, with what to say when one has no data. */
final class ReportCharts {
    static final String LOSS = "Loss per epoch";
    static final String GAP = "Overfitting gap";
    static final String ACCURACY = "Accuracy per epoch";
    static final String REGULARIZATION = "Regularization terms";
    static final String WEIGHT_NORM = "Weight norm";
    static final String THROUGHPUT = "Throughput per node";

    private static final List<Dash> NODE_DASHES = List.of(Dash.SOLID, Dash.DASHED, Dash.DOTTED);

    /**
     * One plot of the page.
     *
     * @param chart null when there is nothing to draw
     * @param caption what the plot shows and how to read it
     * @param note said instead of, or after, the plot: what is missing; may be null
     */
    record Figure(String title, SvgLineChart chart, String caption, String note) {}

    private final RunReport report;
    private final List<Epoch> epochs;
    private final OptionalInt best;
    private final OptionalInt stop;

    ReportCharts(RunReport report) {
        this.report = report;
        this.epochs = RunFigures.epochs(report);
        this.best = RunFigures.bestEpoch(report);
        this.stop = RunFigures.stopEpoch(report);
    }

    /** The plots in page order; accuracy only for runs that have one. */
    List<Figure> figures() {
        List<Figure> figures = new ArrayList<>(List.of(loss(), gap()));
        Figure accuracy = accuracy();
        if (accuracy.chart() != null) {
            figures.add(accuracy);
        }
        figures.addAll(List.of(regularization(), weightNorm(), throughput()));
        return figures;
    }

    Figure loss() {
        SvgLineChart chart = epochChart(LOSS, "loss")
                .series("train", perEpoch(Epoch::trainLoss), SvgLineChart.PALETTE.get(0), Dash.SOLID)
                .series("validation", perEpoch(Epoch::valLoss), SvgLineChart.PALETTE.get(1), Dash.SOLID);
        boolean penalized =
                epochs.stream().anyMatch(e -> Double.isFinite(e.trainTotal()) && e.trainTotal() != e.trainLoss());
        if (penalized) {
            chart.series("train + penalties", perEpoch(Epoch::trainTotal), SvgLineChart.PALETTE.get(0), Dash.DOTTED);
        }
        String caption = "Training data loss of each epoch (penalties excluded, dropout on) and validation loss "
                + "(evaluation mode)" + (penalized ? "; dotted: what the optimizer minimized, penalties included" : "")
                + ". " + markersCaption();
        String note = null;
        if (epochs.isEmpty()) {
            note = "No checkpoints or evaluations yet.";
        } else if (epochs.stream().noneMatch(e -> Double.isFinite(e.valLoss()))) {
            note = "No evaluations yet: only the training loss is shown.";
        }
        return figure(chart, caption, note);
    }

    Figure gap() {
        SvgLineChart chart = epochChart(GAP, "val − train loss")
                .optIncludeZeroY()
                .series("validation − train", perEpoch(Epoch::gap), SvgLineChart.PALETTE.get(3), Dash.SOLID);
        String caption = "Validation loss minus training data loss: a gap that keeps growing while the training "
                + "loss falls is overfitting. " + markersCaption();
        return figure(
                chart, caption, chart.hasData() ? null : "No epoch with both a training and a validation loss yet.");
    }

    Figure accuracy() {
        SvgLineChart chart = epochChart(ACCURACY, "accuracy")
                .series("train", perEpoch(Epoch::trainAccuracy), SvgLineChart.PALETTE.get(0), Dash.SOLID)
                .series("validation", perEpoch(Epoch::valAccuracy), SvgLineChart.PALETTE.get(1), Dash.SOLID);
        String caption = "Share of samples classified right: training (dropout on) and validation. " + markersCaption();
        return figure(chart, caption, null);
    }

    Figure regularization() {
        record Term(String name, ToDoubleFunction<StepSample> value) {}
        List<Term> terms = List.of(
                new Term("l1", StepSample::l1), new Term("l2", StepSample::l2), new Term("l2sp", StepSample::l2sp));
        Map<String, List<StepSample>> nodes = report.nodeSamples();
        SvgLineChart chart = new SvgLineChart(REGULARIZATION, "optimizer step (per node)", "penalty");
        List<String> off = new ArrayList<>();
        for (int t = 0; t < terms.size(); t++) {
            Term term = terms.get(t);
            boolean on = nodes.values().stream()
                    .flatMap(List::stream)
                    .mapToDouble(term.value)
                    .anyMatch(v -> Double.isFinite(v) && v != 0);
            if (!on) {
                off.add(term.name);
                continue;
            }
            int n = 0;
            for (var node : nodes.entrySet()) {
                String name = nodes.size() > 1 ? term.name + " · " + node.getKey() : term.name;
                chart.series(
                        name,
                        perStep(node.getValue(), term.value),
                        SvgLineChart.PALETTE.get(t),
                        NODE_DASHES.get(n++ % NODE_DASHES.size()));
            }
        }
        String caption = "Each step's penalty terms as added to the loss (scaled by their weights)."
                + (off.isEmpty() || off.size() == terms.size()
                        ? ""
                        : " Zero throughout, not drawn: " + String.join(", ", off) + ".")
                + nodesCaption(nodes);
        String note = null;
        if (nodes.values().stream().allMatch(List::isEmpty)) {
            note = noScrapes();
        } else if (!chart.hasData()) {
            note = "No penalty terms: l1, l2 and l2sp were 0 throughout.";
        }
        return figure(chart, caption, note);
    }

    Figure weightNorm() {
        SvgLineChart chart = new SvgLineChart(WEIGHT_NORM, "optimizer step (per node)", "‖w‖₂");
        int n = 0;
        for (var node : report.nodeSamples().entrySet()) {
            chart.series(node.getKey(), perStep(node.getValue(), StepSample::weightNorm), nodeColor(n++), Dash.SOLID);
        }
        String caption = "Global L2 norm of the parameters after each step; L2, L2-SP and weight decay hold it down."
                + nodesCaption(report.nodeSamples());
        return figure(chart, caption, chart.hasData() ? null : noScrapes());
    }

    Figure throughput() {
        SvgLineChart chart =
                new SvgLineChart(THROUGHPUT, "seconds since the first scrape", "samples/s").optIncludeZeroY();
        long start = RunFigures.startMillis(report);
        int n = 0;
        for (var node : report.nodeSamples().entrySet()) {
            chart.series(node.getKey(), RunFigures.throughput(node.getValue(), start), nodeColor(n++), Dash.SOLID);
        }
        String caption = "Samples each node trained per second, between consecutive scrapes of its metrics; "
                + "dips are sync rounds, evaluations competing for the cores, or waits for data.";
        String note = null;
        if (report.nodeSamples().values().stream().allMatch(List::isEmpty)) {
            note = noScrapes();
        } else if (!chart.hasData()) {
            note = "Fewer than two scrapes of any node: no rate to show.";
        }
        return figure(chart, caption, note);
    }

    private SvgLineChart epochChart(String title, String yLabel) {
        SvgLineChart chart = new SvgLineChart(title, "epoch", yLabel).optIntegerX();
        best.ifPresent(e -> chart.marker(e, "best: epoch " + e, MarkerKind.BEST));
        stop.ifPresent(e -> chart.marker(e, "stop: epoch " + e, MarkerKind.STOP));
        return chart;
    }

    private String markersCaption() {
        if (best.isEmpty() && stop.isEmpty()) {
            return "";
        }
        return "Dashed lines: " + (best.isPresent() ? "the best checkpoint's epoch (green)" : "")
                + (best.isPresent() && stop.isPresent() ? " and " : "")
                + (stop.isPresent() ? "the epoch the run was stopped at (grey)" : "") + ".";
    }

    private static String nodesCaption(Map<String, List<StepSample>> nodes) {
        if (nodes.size() < 2) {
            return "";
        }
        return " One line per node: the nodes' weights meet after every sync round.";
    }

    private static String noScrapes() {
        return "No metrics were scraped from the trainer nodes.";
    }

    private static String nodeColor(int n) {
        return SvgLineChart.PALETTE.get(n % SvgLineChart.PALETTE.size());
    }

    private List<Point> perEpoch(ToDoubleFunction<Epoch> value) {
        return epochs.stream()
                .map(e -> new Point(e.epoch(), value.applyAsDouble(e)))
                .toList();
    }

    private static List<Point> perStep(List<StepSample> samples, ToDoubleFunction<StepSample> value) {
        return RunFigures.inTimeOrder(samples).stream()
                .map(s -> new Point(s.step(), value.applyAsDouble(s)))
                .toList();
    }

    private static Figure figure(SvgLineChart chart, String caption, String note) {
        return new Figure(chart.title(), chart.hasData() ? chart : null, caption, note);
    }
}
