package io.streamtrain.core.spec;

/**
 * How several trainer nodes of one run combine their weights. Parsed and validated now;
 * a single node has nothing to combine, so it does not act on it.
 *
 * @param everySteps local steps between sync rounds
 * @param outer {@code average} or {@code nesterov}
 */
public record SyncSpec(int everySteps, String outer) {}
