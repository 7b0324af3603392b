package io.streamtrain.evaluator;

import io.streamtrain.evaluator.policy.Evaluation;
import java.util.ArrayList;
import java.util.List;

/**
 * What the evaluator knows of one run: the evaluations so far (the early-stopping history)
 * and whether it has stopped the run. Rebuilt from the run's evaluations topic.
 */
final class RunState {
    final String run;
    final List<Evaluation> history = new ArrayList<>();
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
