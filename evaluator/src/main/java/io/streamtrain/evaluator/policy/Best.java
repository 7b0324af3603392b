package io.streamtrain.evaluator.policy;

/**
 * The best checkpoint so far: the finite monitored value that is best by the spec's mode,
 * the earliest on a tie. It is the run's result ("restore best weights").
 */
public record Best(int epoch, String checkpointId, double value) {}
