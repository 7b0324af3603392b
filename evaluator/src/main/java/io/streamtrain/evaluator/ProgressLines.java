package io.streamtrain.evaluator;

import io.streamtrain.core.checkpoint.CheckpointManifest;
import io.streamtrain.core.evaluation.EvaluationRecord;
import io.streamtrain.core.logging.Logs;
import io.streamtrain.core.spec.RunSpec;
import java.util.Locale;
import java.util.Map;

/**
 * The evaluator's one line per checkpoint, as an operator reads it in the service's log: what
 * was scored, against the best so far, and what was decided. Pure formatting, apart from the
 * handler that commits the evaluation.
 */
final class ProgressLines {
    private ProgressLines() {}

    /** A snapshot's line: scored, never a decision. */
    static String snapshot(String run, CheckpointManifest m, Map<String, Double> metrics) {
        return String.format(
                Locale.ROOT,
                "run %s snapshot %s (step %d): val_loss %.4f",
                run,
                Logs.escape(m.checkpointId()), // the manifest's: anyone who may write the topic names it
                m.step(),
                metrics.get(CheckpointScorer.VAL_LOSS));
    }

    /**
     * An epoch's (a window's) line.
     *
     * @param stops whether the evaluation sends the run a STOP
     */
    static String evaluated(String run, CheckpointManifest m, RunSpec spec, EvaluationRecord e, boolean stops) {
        String monitor = spec.earlyStopping().monitor();
        Map<String, Double> metrics = e.metrics();
        return String.format(
                Locale.ROOT,
                "run %s epoch %d (%s): %s %.4f%s; best %s; %s",
                run,
                m.epoch(),
                Logs.escape(m.checkpointId()),
                monitor,
                metrics.get(monitor),
                metrics.containsKey(CheckpointScorer.VAL_ACCURACY) && !monitor.equals(CheckpointScorer.VAL_ACCURACY)
                        ? String.format(Locale.ROOT, ", val_accuracy %.4f", metrics.get(CheckpointScorer.VAL_ACCURACY))
                        : "",
                e.best() == null
                        ? "none"
                        : String.format(
                                Locale.ROOT,
                                "%.4f at epoch %d",
                                e.best().value(),
                                e.best().epoch()),
                stops ? "STOP (" + e.reason() + "): " + e.explanation() : decision(spec, e));
    }

    private static String decision(RunSpec spec, EvaluationRecord e) {
        if (spec.data().continuous()) {
            return e.decision().toUpperCase(Locale.ROOT) + ": " + e.explanation();
        }
        return spec.earlyStopping().enabled()
                ? "continue, patience left " + e.patienceLeft()
                : "continue (early stopping is off)";
    }
}
