package io.streamtrain.evaluator;

import io.streamtrain.core.evaluation.ValidationPlan;
import io.streamtrain.evaluator.policy.Evaluation;
import java.util.ArrayList;
import java.util.List;

/**
 * What the evaluator knows of one run: the evaluations so far (the early-stopping history),
 * the validation data they were scored on, and whether it has stopped the run. Rebuilt from
 * the run's evaluations topic.
 */
final class RunState {
    final String run;
    final List<Evaluation> history = new ArrayList<>();
    /** The validation data of every evaluation of the run: fixed by the first, null until then. */
    ValidationPlan plan;
    ValidationSet validation;
    boolean deadLettersWritten;
    boolean stopped;

    RunState(String run) {
        this.run = run;
    }

    boolean evaluated(int epoch) {
        return history.stream().anyMatch(e -> e.epoch() == epoch);
    }
}
