package io.streamtrain.lab.report;

import io.streamtrain.core.checkpoint.CheckpointManifest;
import io.streamtrain.core.evaluation.EvaluationRecord;
import io.streamtrain.lab.report.SvgLineChart.Point;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/** What the report shows, derived from a {@link RunReport}: pure functions, no output. */
public final class RunFigures {
    /** The validation metrics every evaluations table starts with, in this order. */
    static final List<String> KNOWN_METRICS = List.of("val_loss", "val_accuracy", "val_perplexity");

    private RunFigures() {}

    /**
     * One epoch's figures; NaN where the run has none.
     *
     * @param trainLoss the epoch's training data loss (what {@code val_loss} compares with)
     * @param trainTotal data loss plus the penalty terms: what the optimizer minimized
     */
    public record Epoch(
            int epoch, double trainLoss, double trainTotal, double trainAccuracy, double valLoss, double valAccuracy) {
        /** The overfitting gap, validation loss minus training data loss. */
        public double gap() {
            return valLoss - trainLoss;
        }
    }

    /**
     * Every epoch that has an epoch checkpoint or an evaluation, ascending. Training figures
     * come from the manifest (the evaluation's copy of the train loss when there is none),
     * validation figures from the evaluation; snapshots and rejected checkpoints add
     * nothing, and of two records for one epoch the later counts.
     */
    public static List<Epoch> epochs(RunReport report) {
        TreeMap<Integer, double[]> byEpoch = new TreeMap<>();
        for (CheckpointManifest m : report.checkpoints()) {
            if (m.snapshot()) {
                continue;
            }
            double[] e = byEpoch.computeIfAbsent(m.epoch(), k -> nans());
            e[0] = metric(m.metrics(), "data_loss");
            e[1] = metric(m.metrics(), "train_loss");
            e[2] = metric(m.metrics(), "train_accuracy");
        }
        for (EvaluationRecord r : report.evaluations()) {
            if (!r.evaluated()) {
                continue;
            }
            double[] e = byEpoch.computeIfAbsent(r.epoch(), k -> nans());
            if (Double.isNaN(e[0]) && r.trainLoss() != null) {
                e[0] = r.trainLoss();
            }
            e[3] = metric(r.metrics(), "val_loss");
            e[4] = metric(r.metrics(), "val_accuracy");
        }
        List<Epoch> epochs = new ArrayList<>();
        byEpoch.forEach((n, e) -> epochs.add(new Epoch(n, e[0], e[1], e[2], e[3], e[4])));
        return epochs;
    }

    /** The best checkpoint's epoch: the outcome's, else the latest evaluation's best so far. */
    public static OptionalInt bestEpoch(RunReport report) {
        if (report.outcome().best() != null) {
            return OptionalInt.of(report.outcome().best().epoch());
        }
        List<EvaluationRecord> evaluations = report.evaluations();
        for (int i = evaluations.size() - 1; i >= 0; i--) {
            EvaluationRecord r = evaluations.get(i);
            if (r.evaluated() && r.best() != null) {
                return OptionalInt.of(r.best().epoch());
            }
        }
        return OptionalInt.empty();
    }

    /**
     * The epoch a stopped run stopped at: the evaluation that decided the stop, else (an
     * operator's STOP) the last epoch trained. Empty for a run that was not stopped.
     */
    public static OptionalInt stopEpoch(RunReport report) {
        if (!report.outcome().stopped()) {
            return OptionalInt.empty();
        }
        List<EvaluationRecord> evaluations = report.evaluations();
        for (int i = evaluations.size() - 1; i >= 0; i--) {
            EvaluationRecord r = evaluations.get(i);
            if (EvaluationRecord.STOP.equals(r.decision()) && !EvaluationRecord.SNAPSHOT.equals(r.status())) {
                return OptionalInt.of(r.epoch());
            }
        }
        List<Epoch> epochs = epochs(report);
        return epochs.isEmpty()
                ? OptionalInt.empty()
                : OptionalInt.of(epochs.get(epochs.size() - 1).epoch());
    }

    /** The evaluations' metric names: the known ones first, then any others by name. */
    static List<String> metricNames(List<EvaluationRecord> evaluations) {
        Set<String> names = new LinkedHashSet<>(KNOWN_METRICS);
        Set<String> others = new TreeSet<>();
        for (EvaluationRecord r : evaluations) {
            if (r.metrics() != null) {
                others.addAll(r.metrics().keySet());
            }
        }
        names.addAll(others);
        return List.copyOf(names);
    }

    /** A node's scrapes in time order. */
    static List<StepSample> inTimeOrder(List<StepSample> samples) {
        return samples.stream()
                .sorted(Comparator.comparingLong(StepSample::timeMillis))
                .toList();
    }

    /** The earliest scrape of any node: time 0 of the throughput plot. */
    static long startMillis(RunReport report) {
        return report.nodeSamples().values().stream()
                .flatMap(List::stream)
                .mapToLong(StepSample::timeMillis)
                .min()
                .orElse(0);
    }

    /**
     * Samples per second between consecutive scrapes, at the later one's time in seconds
     * after {@code startMillis}: one point per scrape after the first. An interval where the
     * counter went back (a restarted node) or no time passed is a gap.
     */
    static List<Point> throughput(List<StepSample> samples, long startMillis) {
        return intervals(samples).stream()
                .map(i -> new Point(
                        (i.endMillis - startMillis) / 1000.0, i.counts() ? i.samples / i.seconds : Double.NaN))
                .toList();
    }

    /** A node's mean samples per second over the intervals {@link #throughput} draws; NaN without one. */
    static double meanThroughput(List<StepSample> samples) {
        double trained = 0;
        double seconds = 0;
        for (Interval i : intervals(samples)) {
            if (i.counts()) {
                trained += i.samples;
                seconds += i.seconds;
            }
        }
        return seconds > 0 ? trained / seconds : Double.NaN;
    }

    /** What a node trained between two consecutive scrapes. */
    private record Interval(long endMillis, double seconds, double samples) {
        boolean counts() {
            return seconds > 0 && samples >= 0;
        }
    }

    private static List<Interval> intervals(List<StepSample> samples) {
        List<StepSample> sorted = inTimeOrder(samples);
        List<Interval> intervals = new ArrayList<>();
        for (int i = 1; i < sorted.size(); i++) {
            StepSample a = sorted.get(i - 1);
            StepSample b = sorted.get(i);
            intervals.add(new Interval(
                    b.timeMillis(), (b.timeMillis() - a.timeMillis()) / 1000.0, b.samplesTotal() - a.samplesTotal()));
        }
        return intervals;
    }

    private static double[] nans() {
        return new double[] {Double.NaN, Double.NaN, Double.NaN, Double.NaN, Double.NaN};
    }

    private static double metric(Map<String, Double> metrics, String name) {
        Double v = metrics == null ? null : metrics.get(name);
        return v == null ? Double.NaN : v;
    }
}
