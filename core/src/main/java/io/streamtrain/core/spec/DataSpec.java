package io.streamtrain.core.spec;

/**
 * Where a run's data lives.
 *
 * @param train topic the trainers consume
 * @param validation topic the evaluator consumes; may be null when no evaluator runs
 */
public record DataSpec(String train, String validation) {}
