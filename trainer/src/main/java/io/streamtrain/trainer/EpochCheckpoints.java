package io.streamtrain.trainer;

import io.streamtrain.core.checkpoint.Checkpoint;
import io.streamtrain.core.checkpoint.CheckpointManifest;
import io.streamtrain.core.checkpoint.RecordsChecksum;
import io.streamtrain.core.codec.SafeTensors;
import io.streamtrain.core.control.ControlMessage;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.trainer.checkpoint.CheckpointPublisher;
import io.streamtrain.trainer.checkpoint.RebalancedException;
import io.streamtrain.trainer.model.ModelState;
import io.streamtrain.trainer.sync.RoundState;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Supplier;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What the owner of train partition 0 publishes: the checkpoint of every epoch the nodes
 * agreed on, a missing one its predecessor left behind, and snapshots on command. Errors by
 * what can be done: a rebalance during the commit leaves the checkpoint to the next
 * generation's owner; fenced means a newer owner took over, and this node stops publishing.
 */
final class EpochCheckpoints {
    private static final Logger log = LoggerFactory.getLogger(EpochCheckpoints.class);

    private final RunSpec spec;
    private final ModelState state;
    private final Checkpoints checkpoints;
    private final Supplier<RunSpec> settings;
    private final List<TrainingListener> listeners;

    /** @param settings the spec as trained now: the manifest records it */
    EpochCheckpoints(RunSpec spec, ModelState state, Checkpoints checkpoints, Supplier<RunSpec> settings,
            List<TrainingListener> listeners) {
        this.spec = spec;
        this.state = state;
        this.checkpoints = checkpoints;
        this.settings = settings;
        this.listeners = listeners;
    }

    /**
     * After a rollback to a generation's resume point: a node publishes from here on only while
     * it owns partition 0, and then first the checkpoint of the last epoch the log ended, if the
     * previous owner left before committing it.
     *
     * @param lastEpochEnd the round that ended the last epoch of the log; null if none did
     * @return false when that checkpoint was not committed (the group rebalanced meanwhile)
     */
    boolean takeOver(boolean ownsPartitionZero, RoundState lastEpochEnd, ConsumerGroupMetadata group, long epochStartedNanos) {
        checkpoints.closePublisher();
        if (!ownsPartitionZero) {
            return true;
        }
        checkpoints.openPublisher();
        return lastEpochEnd == null || lastEpochEnd.epoch() <= 0 || ensure(lastEpochEnd, group, epochStartedNanos);
    }

    /**
     * The previous owner of partition 0 may have left before it published the checkpoint of
     * {@code ended}: publishes it unless the topic has it.
     *
     * @return false when the group rebalanced before the missing checkpoint was committed
     */
    boolean ensure(RoundState ended, ConsumerGroupMetadata group, long epochStartedNanos) {
        Optional<Checkpoint> latest = checkpoints.latest();
        if (latest.isPresent() && latest.get().manifest().epoch() >= ended.epoch()) {
            return true;
        }
        log.info("epoch {} has no checkpoint (its publisher left before it was committed); publishing it", ended.epoch());
        return publish(ended, group, epochStartedNanos);
    }

    /**
     * @return false when the group rebalanced before the checkpoint was committed (the next
     *     generation's owner of partition 0 publishes it); true when it is committed, or is
     *     another node's to publish
     */
    boolean publish(RoundState ended, ConsumerGroupMetadata group, long epochStartedNanos) {
        if (!checkpoints.canPublish()) {
            return true; // fenced by a newer owner of partition 0: the checkpoint is its to publish
        }
        Map<String, Double> epochMetrics = new LinkedHashMap<>(ended.epochSums().metrics(spec.model()));
        double seconds = (System.nanoTime() - epochStartedNanos) / 1e9;
        epochMetrics.put("seconds", seconds);
        epochMetrics.put("samples_per_second", seconds > 0 ? ended.epochSums().samples() / seconds : 0);
        byte[] payload = SafeTensors.write(new ArrayList<>(ended.state().tensors().values()), payloadMetadata(ended.epoch()));
        try {
            long publishing = System.nanoTime();
            CheckpointManifest m = checkpoints.publish(new CheckpointPublisher.EpochResult(settings.get(), false, ended.epoch(),
                    ended.step(), state.parameterInfos(), ended.plan().previous().all(), epochMetrics, group, ended.round(),
                    new CheckpointManifest.SyncPoint(ended.nextOffset(), ended.generation()),
                    RecordsChecksum.format(ended.epochSums().recordsChecksum())), payload);
            if (m != null) {
                long took = System.nanoTime() - publishing;
                listeners.forEach(l -> l.onCheckpointPublishTime(took));
                listeners.forEach(l -> l.onCheckpoint(m));
            }
        } catch (RebalancedException e) {
            log.warn("{}; the owner of partition 0 in the next generation publishes it", e.getMessage());
            return false;
        } catch (ProducerFencedException | InvalidProducerEpochException e) {
            log.warn("another node took over the checkpoints of run {} (it owns partition 0 now); epoch {} is its to publish",
                    spec.run(), ended.epoch());
            checkpoints.closePublisher();
        }
        return true;
    }

    /**
     * A CHECKPOINT command: the weights now, as a snapshot of the epoch in progress.
     *
     * @return the acknowledgement's outcome
     */
    String snapshot(int epoch, long round, Map<String, Double> figures) {
        if (!checkpoints.canPublish()) {
            return "refused: this node cannot publish checkpoints now (see its log)";
        }
        byte[] payload = state.toPayload(payloadMetadata(epoch));
        try {
            CheckpointManifest m = checkpoints.publish(new CheckpointPublisher.EpochResult(settings.get(), true, epoch, state.step(),
                    state.parameterInfos(), List.of(), figures, null, round, null, null), payload);
            return m == null ? "refused: stopping" : ControlMessage.Ack.APPLIED + ": checkpoint " + m.checkpointId();
        } catch (RebalancedException | RuntimeException e) {
            log.warn("the snapshot at step {} could not be published: {}", state.step(), e.toString());
            return "refused: could not publish it (see the trainer's log)";
        }
    }

    /** The safetensors {@code __metadata__} of a checkpoint payload. */
    private Map<String, String> payloadMetadata(int epoch) {
        return Map.of("format", "pt", "streamtrain.run", spec.run(), "streamtrain.epoch", Integer.toString(epoch));
    }
}
