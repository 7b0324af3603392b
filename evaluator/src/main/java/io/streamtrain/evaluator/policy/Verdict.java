package io.streamtrain.evaluator.policy;

/** Whether the run trains on after an evaluation. */
public enum Verdict {
    CONTINUE,
    STOP
}
