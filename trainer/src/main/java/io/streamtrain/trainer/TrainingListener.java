package io.streamtrain.trainer;

import io.streamtrain.core.checkpoint.CheckpointManifest;
import io.streamtrain.trainer.model.StepReport;

/**
 * Behaviour around the step loop (logging, metrics, benchmarks, later control) is added as
 * listeners; the loop itself stays short. Called on the training thread: keep them quick.
 */
public interface TrainingListener {

    default void onStep(int epoch, StepReport report) {}

    /** The epoch's checkpoint is committed. */
    default void onCheckpoint(CheckpointManifest manifest) {}

    /** The trainer rolled back to its last checkpoint (a rebalance, or the start of the run). */
    default void onRollback(int resumeEpoch, long step) {}

    /** The group gave this node these train partitions (none: it follows the rounds). */
    default void onAssignment(java.util.List<Integer> partitions) {}

    /** The training thread waited this long for the batch it is about to train. */
    default void onDataWait(long nanos) {}

    /** The node handed in its share of a sync round: {@code records} read in it, {@code bytes} written. */
    default void onContributed(long records, long bytes) {}

    /** A sync round closed, {@code waitSeconds} after this node handed in its share. */
    default void onRoundClosed(double waitSeconds) {}

    /** A train record went to the run's dead-letter topic. */
    default void onDeadLetter(io.streamtrain.core.codec.RejectReason reason) {}

    /**
     * The node acted on a control command.
     *
     * @param command its name: {@code stop}, {@code pause}, {@code resume}, {@code set}, {@code checkpoint}
     * @param applied whether it took effect (a refused SET did not)
     */
    default void onCommand(String command, boolean applied) {}

    /** A PAUSE or a RESUME took effect (or was replayed at the start). */
    default void onPaused(boolean paused) {}

    /** The node began (true) or ended (false) waiting for the evaluator ({@code evaluation.maxLag}). */
    default void onAwaitingEvaluation(boolean waiting) {}

    /** Publishing a checkpoint (payload, manifest, offsets, one transaction) took this long. */
    default void onCheckpointPublishTime(long nanos) {}
}
