package io.streamtrain.core.checkpoint;

import io.streamtrain.core.logging.Logs;

/**
 * A checkpoint that must not be loaded (hash mismatch, missing chunks, bad payload). Its message
 * is safe to print as it is: the checkpoint id and whatever else a record says in it are escaped
 * ({@link Logs#escape}) where it is made, since anyone who may write the topic writes them.
 */
public final class CheckpointRejectedException extends Exception {
    private static final long serialVersionUID = 1L;

    private final String checkpointId;
    private final boolean incomplete;
    private final boolean untrusted;
    private final transient CheckpointManifest manifest;

    /** A checkpoint whose bytes are there but wrong: a bad manifest, size, hash or payload. */
    public CheckpointRejectedException(String checkpointId, String reason) {
        this(checkpointId, reason, false);
    }

    /** @param incomplete its bytes are not all there: chunks missing, a claim-checked file unreadable */
    public CheckpointRejectedException(String checkpointId, String reason, boolean incomplete) {
        this(checkpointId, reason, incomplete, null);
    }

    /** @param manifest the manifest of the checkpoint whose payload is missing (in part) */
    public CheckpointRejectedException(CheckpointManifest manifest, String reason) {
        this(manifest.checkpointId(), reason, true, manifest);
    }

    private CheckpointRejectedException(
            String checkpointId, String reason, boolean incomplete, CheckpointManifest manifest) {
        this(checkpointId, reason, incomplete, false, manifest);
    }

    private CheckpointRejectedException(
            String checkpointId, String reason, boolean incomplete, boolean untrusted, CheckpointManifest manifest) {
        super("checkpoint " + Logs.escape(checkpointId) + " rejected: " + reason);
        this.checkpointId = checkpointId;
        this.incomplete = incomplete;
        this.untrusted = untrusted;
        this.manifest = manifest;
    }

    /** A manifest whose signature is missing or not one a trusted key with the right made: nothing it says was read. */
    public static CheckpointRejectedException untrusted(String checkpointId, String reason) {
        return new CheckpointRejectedException(checkpointId, reason, false, true, null);
    }

    /** Whether the manifest was refused for its signature, before anything in it was believed. */
    public boolean untrusted() {
        return untrusted;
    }

    /**
     * The manifest, when it was read and its payload is what is missing: a reader that
     * restarted between a checkpoint's chunks and its manifest (its committed offset kept
     * only the later chunks) may know that epoch is answered already.
     */
    public java.util.Optional<CheckpointManifest> manifest() {
        return java.util.Optional.ofNullable(manifest);
    }

    public String checkpointId() {
        return checkpointId;
    }

    /** Whether the payload was missing (in part) rather than corrupt. */
    public boolean incomplete() {
        return incomplete;
    }
}
