package io.streamtrain.trainer.checkpoint;

/**
 * The group rebalanced while a checkpoint was being committed, so its offsets could not be
 * committed and the whole transaction was aborted. Nothing is lost: the feed's reset will
 * roll the trainer back and the epoch is trained again.
 */
public final class RebalancedException extends Exception {
    private static final long serialVersionUID = 1L;

    public RebalancedException(String message, Throwable cause) {
        super(message, cause);
    }
}
