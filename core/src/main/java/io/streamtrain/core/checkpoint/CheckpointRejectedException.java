package io.streamtrain.core.checkpoint;

/** A checkpoint that must not be loaded (hash mismatch, missing chunks, bad payload). */
public final class CheckpointRejectedException extends Exception {
    private static final long serialVersionUID = 1L;

    private final String checkpointId;
    private final boolean incomplete;

    /** A checkpoint whose bytes are there but wrong: a bad manifest, size, hash or payload. */
    public CheckpointRejectedException(String checkpointId, String reason) {
        this(checkpointId, reason, false);
    }

    /** @param incomplete its bytes are not all there: chunks missing, a claim-checked file unreadable */
    public CheckpointRejectedException(String checkpointId, String reason, boolean incomplete) {
        super("checkpoint " + checkpointId + " rejected: " + reason);
        this.checkpointId = checkpointId;
        this.incomplete = incomplete;
    }

    public String checkpointId() {
        return checkpointId;
    }

    /** Whether the payload was missing (in part) rather than corrupt. */
    public boolean incomplete() {
        return incomplete;
    }
}
