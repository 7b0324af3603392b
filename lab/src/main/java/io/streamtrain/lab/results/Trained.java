package io.streamtrain.lab.results;

import io.streamtrain.evaluator.TopicScore;
import io.streamtrain.lab.report.RunFigures;
import io.streamtrain.lab.report.RunFigures.Epoch;
import io.streamtrain.lab.report.RunReport;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;

/**
 * A run an experiment trained: its report, which checkpoint stands for it (the best for a
 * run with early stopping, which is what early stopping ships; else the last epoch's), and
 * that checkpoint's scores on topics the run never trained or stopped on.
 */
final class Trained {
    private final String label;
    private final RunReport report;
    private final boolean earlyStopping;
    private final List<Epoch> epochs;
    private final Map<String, TopicScore> scores = new LinkedHashMap<>();

    Trained(String label, RunReport report, boolean earlyStopping) {
        this.label = label;
        this.report = report;
        this.earlyStopping = earlyStopping;
        this.epochs = RunFigures.epochs(report);
        if (epochs.isEmpty()) {
            throw new IllegalStateException("run " + report.runId() + " has no epoch checkpoint: nothing was trained");
        }
    }

    String label() {
        return label;
    }

    String run() {
        return report.runId();
    }

    RunReport report() {
        return report;
    }

    List<Epoch> epochs() {
        return epochs;
    }

    boolean earlyStopping() {
        return earlyStopping;
    }

    /** The last epoch trained. */
    int epochsTrained() {
        return epochs.get(epochs.size() - 1).epoch();
    }

    /** Whether the evaluator stopped the run before its last epoch. */
    boolean stoppedEarly() {
        return report.outcome().stoppedEarly();
    }

    /** The epoch of the checkpoint that stands for the run. */
    int shippedEpoch() {
        if (earlyStopping) {
            OptionalInt best = RunFigures.bestEpoch(report);
            if (best.isEmpty()) {
                throw new IllegalStateException(
                        "run " + run() + " has no best checkpoint: the evaluator scored none of its epochs");
            }
            return best.getAsInt();
        }
        return epochsTrained();
    }

    /** That checkpoint, as {@code init.from} and {@code streamtrain score} name it. */
    String shippedRef() {
        return "run:" + run() + "@" + shippedEpoch();
    }

    Epoch shipped() {
        return epoch(shippedEpoch());
    }

    Epoch epoch(int n) {
        return epochs.stream()
                .filter(e -> e.epoch() == n)
                .findFirst()
                .orElseThrow(() -> new IllegalStateException("run " + run() + " has no epoch " + n));
    }

    Epoch last() {
        return epochs.get(epochs.size() - 1);
    }

    double bestValLoss() {
        return epochs.stream()
                .mapToDouble(Epoch::valLoss)
                .filter(Double::isFinite)
                .min()
                .orElse(Double.NaN);
    }

    double wallSeconds() {
        return report.outcome().wallTime().toMillis() / 1e3;
    }

    void score(TopicScore score) {
        scores.put(score.topic(), score);
    }

    TopicScore score(String topic) {
        TopicScore s = scores.get(topic);
        if (s == null) {
            throw new IllegalStateException("run " + run() + " was not scored on " + topic);
        }
        return s;
    }
}
