package io.streamtrain.evaluator;

import io.streamtrain.core.evaluation.EvaluationRecord;

/**
 * What the evaluator tells its metrics, and whoever else listens, as it works. Called on
 * the service's thread, after what they report is committed: keep them quick.
 */
interface EvaluatorEvents {

    /** The instance serves {@code run}: named on its command line, or its state was just rebuilt. */
    default void serving(String run) {}

    /** A run's state was rebuilt from its evaluations topic; {@code last} is its last evaluation of an epoch. */
    default void restored(EvaluationRecord last) {}

    /** An evaluation record was committed: evaluated, snapshot or rejected. */
    default void committed(EvaluationRecord record) {}

    /** A checkpoint was rejected (its record is committed too). */
    default void rejected(String run, Rejection why) {}

    /** The run is stopped, for a stop reason code: decided here, or read on its control topic (an operator's). */
    default void stopped(String run, String reasonCode) {}
}
