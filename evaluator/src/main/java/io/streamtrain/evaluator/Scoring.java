package io.streamtrain.evaluator;

import io.streamtrain.core.checkpoint.Checkpoint;
import io.streamtrain.core.spec.RunSpec;
import java.util.List;
import java.util.Map;

/** Scores a checkpoint on its run's validation data. */
interface Scoring {

    /**
     * @param state the run's state: the validation data and plan are kept there once loaded
     * @throws IllegalArgumentException when the checkpoint or the validation data does not
     *     fit (the checkpoint is rejected as a mismatch)
     */
    Scored score(RunState state, RunSpec spec, Checkpoint checkpoint);

    /**
     * Validation metrics, the seconds their computation took (loading the validation set
     * excluded), and the validation records that could not be read (dead-lettered with the
     * run's first evaluation); with a sliding validation set, the records it held ({@code plan})
     * and the promoted model's monitored value on them ({@code promotedValue}, null when there is
     * none yet or it could not be read).
     */
    record Scored(
            Map<String, Double> metrics,
            double seconds,
            List<ValidationSet.Rejected> unreadable,
            io.streamtrain.core.evaluation.ValidationPlan plan,
            Double promotedValue) {
        public Scored {
            unreadable = List.copyOf(unreadable);
        }

        /** Scored on the run's fixed validation plan. */
        public Scored(Map<String, Double> metrics, double seconds, List<ValidationSet.Rejected> unreadable) {
            this(metrics, seconds, unreadable, null, null);
        }
    }
}
