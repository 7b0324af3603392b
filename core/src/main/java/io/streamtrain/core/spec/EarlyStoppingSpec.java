package io.streamtrain.core.spec;

/**
 * When the evaluator stops a run. The trainer only carries it; the evaluator decides.
 *
 * @param monitor the metric watched, e.g. {@code val_loss}
 * @param mode {@code min} or {@code max}: which direction is better
 * @param patience evaluations without improvement before stopping
 * @param minDelta the least change over the best value that counts as improvement
 */
public record EarlyStoppingSpec(String monitor, String mode, int patience, double minDelta) {}
