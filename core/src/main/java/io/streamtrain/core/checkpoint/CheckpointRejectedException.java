package io.streamtrain.core.checkpoint;

/** A checkpoint that must not be loaded (hash mismatch, missing chunks, bad payload). */
public final class CheckpointRejectedException extends Exception {
    private static final long serialVersionUID = 1L;

    private final String checkpointId;

    public CheckpointRejectedException(String checkpointId, String reason) {
        super("checkpoint " + checkpointId + " rejected: " + reason);
        this.checkpointId = checkpointId;
    }

    public String checkpointId() {
        return checkpointId;
    }
}
