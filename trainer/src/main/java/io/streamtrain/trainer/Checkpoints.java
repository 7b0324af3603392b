package io.streamtrain.trainer;

import io.streamtrain.core.checkpoint.Checkpoint;
import io.streamtrain.core.checkpoint.CheckpointManifest;
import io.streamtrain.trainer.checkpoint.CheckpointPublisher;
import io.streamtrain.trainer.checkpoint.RebalancedException;
import java.util.Optional;

/**
 * The run's checkpoint topic as a node's loop sees it. Only the owner of train partition 0
 * publishes; opening the publisher fences the previous owner's.
 */
interface Checkpoints extends AutoCloseable {

    /** The run's latest verified epoch checkpoint, if any. */
    Optional<Checkpoint> latest();

    /**
     * One of the run's checkpoints, by id, verified (a ROLLBACK's target).
     *
     * @throws io.streamtrain.core.checkpoint.CheckpointRejectedException when it is not there or does not verify
     */
    Checkpoint find(String checkpointId) throws io.streamtrain.core.checkpoint.CheckpointRejectedException;

    /** Takes over publishing (fencing the previous publisher and settling its open transaction). */
    void openPublisher();

    /** Gives publishing up (a new assignment, or fenced by a newer owner). */
    void closePublisher();

    boolean canPublish();

    /**
     * Publishes in one transaction; after an epoch checkpoint, deletes the sync rounds no
     * reader needs any more.
     *
     * @return the committed manifest, or null if a stop was requested while retrying
     * @throws RebalancedException when the group rebalanced before the commit
     * @throws org.apache.kafka.common.errors.ProducerFencedException when a newer owner took over
     */
    CheckpointManifest publish(CheckpointPublisher.EpochResult result, byte[] payload) throws RebalancedException;

    @Override
    void close();
}
