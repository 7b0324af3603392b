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
}
