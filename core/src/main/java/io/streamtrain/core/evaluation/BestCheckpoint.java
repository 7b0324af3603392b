package io.streamtrain.core.evaluation;

/**
 * The best checkpoint of a run so far by the monitored metric: what "restore best
 * weights" means in streamtrain (the run's result is this checkpoint).
 */
public record BestCheckpoint(int epoch, String checkpointId, String metric, double value) {}
