package io.streamtrain.trainer;

import io.streamtrain.core.checkpoint.CheckpointManifest;
import io.streamtrain.core.checkpoint.RecordsChecksum;
import io.streamtrain.core.codec.SafeTensors;
import io.streamtrain.core.codec.Tensor;
import io.streamtrain.core.control.ControlMessage;
import io.streamtrain.core.protocol.DeadLetters;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.core.topics.Topics;
import io.streamtrain.trainer.checkpoint.CheckpointPublisher;
import io.streamtrain.trainer.checkpoint.RebalancedException;
import io.streamtrain.trainer.model.ModelState;
import io.streamtrain.trainer.sync.RoundState;
import io.streamtrain.trainer.sync.SyncChannel;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.LongFunction;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What the owner of train partition 0 publishes: the checkpoint of every epoch the nodes
 * agreed on, a missing one its predecessor left behind, and snapshots on command. Errors by
 * what can be done: a rebalance during the commit leaves the checkpoint to the next
 * generation's owner; fenced means a newer owner took over, and this node stops publishing.
 *
 * <p>An epoch's checkpoint is published in the background ({@link #publishInBackground}): the
 * next epoch trains while its transaction commits (a lone node's epoch ends cost it about a
 * tenth of its time otherwise, docs/benchmarks.md). One publication at a time uses the
 * transactional producer: at most one is pending on the publisher thread, and everything else
 * that touches the producer (the next publication, a snapshot, a new assignment, the node's
 * exit) first waits for it ({@link #settle}). Its outcome is reported on the training thread, at the tick that sees it
 * done ({@link #poll}): listeners stay single-threaded. The run's last checkpoint is published
 * in the foreground: the node must not finish before it is committed.
 */
final class EpochCheckpoints implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(EpochCheckpoints.class);

    /** A committed checkpoint, and how long its publication took. */
    private record Published(CheckpointManifest manifest, long nanos) {}

    /** A publication handed to the publisher thread: its epoch, and its outcome when done. */
    private record Pending(int epoch, Future<Published> outcome) {}

    private final ExecutorService publisherThread;
    private Pending pending;

    private final RunSpec spec;
    private final ModelState state;
    private final Checkpoints checkpoints;
    private final LongFunction<RunSpec> settings;
    private final List<TrainingListener> listeners;
    private final SyncChannel sync;
    private final String node;

    /**
     * @param settings the spec step n trained with: a manifest records that of its last step
     * @param sync the sync records refused in an epoch are dead-lettered with its checkpoint
     */
    EpochCheckpoints(
            RunSpec spec,
            ModelState state,
            Checkpoints checkpoints,
            LongFunction<RunSpec> settings,
            List<TrainingListener> listeners,
            SyncChannel sync,
            String node) {
        this.sync = sync;
        this.node = node;
        this.spec = spec;
        this.state = state;
        this.checkpoints = checkpoints;
        this.settings = settings;
        this.listeners = listeners;
        this.publisherThread = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "checkpoint-publisher-" + spec.run());
            t.setDaemon(true);
            return t;
        });
    }

    /**
     * After a rollback to a generation's resume point: a node publishes from here on only while
     * it owns partition 0, and then first the checkpoints of the log's last two epochs, each if
     * the previous owner left before committing it. Two, because the epoch after one whose
     * commit failed on a rebalance can close in the old generation before its nodes see the
     * rebalance: then neither is committed, and the first would be missing for good.
     *
     * @param epochEnds the rounds that ended the log's last epochs, oldest first (none at a run's start)
     * @return false when a checkpoint was not committed (the group rebalanced meanwhile)
     */
    boolean takeOver(
            boolean ownsPartitionZero,
            List<RoundState> epochEnds,
            ConsumerGroupMetadata group,
            long epochStartedNanos) {
        settle(); // the previous generation's last publication: committed, or left to ensure() below
        checkpoints.closePublisher();
        if (!ownsPartitionZero) {
            return true;
        }
        checkpoints.openPublisher();
        return ensure(epochEnds, group, epochStartedNanos);
    }

    /**
     * The previous owner of partition 0 may have left before it published the checkpoints of
     * {@code ended}: publishes, in order, those the topic does not have (it reads the topic once).
     *
     * @return false when the group rebalanced before a missing checkpoint was committed
     */
    private boolean ensure(List<RoundState> ended, ConsumerGroupMetadata group, long epochStartedNanos) {
        List<RoundState> epochs = ended.stream().filter(e -> e.epoch() > 0).toList();
        if (epochs.isEmpty()) {
            return true;
        }
        int published = checkpoints.latest().map(c -> c.manifest().epoch()).orElse(0);
        for (RoundState e : epochs) {
            if (e.epoch() <= published) {
                continue;
            }
            log.info(
                    "epoch {} has no checkpoint (its publisher left before it was committed); publishing it",
                    e.epoch());
            if (!publish(e, group, System.nanoTime() - epochStartedNanos)) {
                return false;
            }
        }
        return true;
    }

    /**
     * Publishes the checkpoint of {@code ended} and waits for it: the run's last one, or one
     * its predecessor left behind.
     *
     * @param epochNanos how long the epoch took: its manifest's {@code seconds}
     * @return false when the group rebalanced before the checkpoint was committed (the next
     *     generation's owner of partition 0 publishes it); true when it is committed, or is
     *     another node's to publish
     */
    boolean publish(RoundState ended, ConsumerGroupMetadata group, long epochNanos) {
        settle();
        if (!checkpoints.canPublish()) {
            return true; // fenced by a newer owner of partition 0: the checkpoint is its to publish
        }
        pending = submit(ended, group, epochNanos);
        return settle();
    }

    /**
     * Hands the checkpoint of {@code ended} to the publisher thread and returns: the next epoch
     * trains meanwhile. A failure is reported by a later {@link #poll} or {@link #settle}; a
     * rebalance meanwhile is met by the rollback that follows it, which publishes the
     * checkpoint if the topic lacks it ({@link #takeOver}).
     *
     * @param epochNanos how long the epoch took: its manifest's {@code seconds}
     */
    void publishInBackground(RoundState ended, ConsumerGroupMetadata group, long epochNanos) {
        settle();
        if (checkpoints.canPublish()) {
            pending = submit(ended, group, epochNanos);
        }
    }

    /** Reports the pending publication if it is done; never waits. Called once per tick. */
    void poll() {
        if (pending != null && pending.outcome().isDone()) {
            settle();
        }
    }

    /**
     * Waits for the pending publication, if any, and reports it.
     *
     * @return false when the group rebalanced before it was committed; true otherwise
     */
    boolean settle() {
        Pending p = pending;
        if (p == null) {
            return true;
        }
        pending = null;
        try {
            Published done = p.outcome().get();
            if (done != null) {
                listeners.forEach(l -> l.onCheckpointPublishTime(done.nanos()));
                listeners.forEach(l -> l.onCheckpoint(done.manifest()));
            }
            return true;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(
                    "interrupted while the checkpoint of epoch " + p.epoch() + " was published", e);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof RebalancedException) {
                log.warn("{}; the owner of partition 0 in the next generation publishes it", cause.getMessage());
                return false;
            }
            if (cause instanceof ProducerFencedException || cause instanceof InvalidProducerEpochException) {
                log.warn(
                        "another node took over the checkpoints of run {} (it owns partition 0 now); epoch {} is its to publish",
                        spec.run(),
                        p.epoch());
                checkpoints.closePublisher();
                return true;
            }
            if (cause instanceof RuntimeException r) {
                throw r; // as if thrown here: not authorized, a store that refuses writes, the broker away past
                // --broker-wait
            }
            throw new IllegalStateException("publishing the checkpoint of epoch " + p.epoch() + " failed", cause);
        }
    }

    /** The sync records refused in the epoch {@code ended} ended, as dead letters. */
    private List<ProducerRecord<byte[], byte[]>> deadLetters(RoundState ended) {
        List<SyncChannel.Refused> refused = sync.refusedInEpoch(ended);
        if (!refused.isEmpty()) {
            log.warn(
                    "{} sync record(s) of epoch {} were refused for their signature; the epoch's checkpoint writes them"
                            + " to {}",
                    refused.size(),
                    ended.epoch(),
                    Topics.deadLetters(spec.run()));
        }
        return refused.stream()
                .map(r -> DeadLetters.record(
                        Topics.deadLetters(spec.run()),
                        r.record(),
                        DeadLetters.SIGNATURE,
                        "refused: " + r.refusal(),
                        node))
                .toList();
    }

    private Pending submit(RoundState ended, ConsumerGroupMetadata group, long epochNanos) {
        Map<String, Double> epochMetrics = new LinkedHashMap<>(ended.epochSums().metrics(spec.model()));
        double seconds = epochNanos / 1e9;
        epochMetrics.put("seconds", seconds);
        epochMetrics.put("samples_per_second", seconds > 0 ? ended.epochSums().samples() / seconds : 0);
        // the settings of the epoch's last step, read on the training thread: a SET applied since (while a lone
        // node trained on past the round, or while the transaction commits) belongs to the next epoch
        CheckpointPublisher.EpochResult result = new CheckpointPublisher.EpochResult(
                settings.apply(ended.step()),
                false,
                ended.epoch(),
                ended.step(),
                state.parameterInfos(),
                ended.endedPlan().all(),
                epochMetrics,
                group,
                ended.round(),
                new CheckpointManifest.SyncPoint(ended.nextOffset(), ended.generation()),
                RecordsChecksum.format(ended.epochSums().recordsChecksum()),
                deadLetters(ended),
                ended.endedPlan().replays());
        // the round's state is immutable: the payload is written on the publisher thread
        List<Tensor> tensors = new ArrayList<>(ended.state().tensors().values());
        Map<String, String> metadata = payloadMetadata(ended.epoch());
        return new Pending(ended.epoch(), publisherThread.submit(() -> {
            long publishing = System.nanoTime();
            CheckpointManifest m = checkpoints.publish(result, SafeTensors.write(tensors, metadata));
            return m == null ? null : new Published(m, System.nanoTime() - publishing);
        }));
    }

    /**
     * A CHECKPOINT command: the weights now, as a snapshot of the epoch in progress.
     *
     * @return the acknowledgement's outcome
     */
    String snapshot(int epoch, long round, Map<String, Double> figures) {
        settle();
        if (!checkpoints.canPublish()) {
            return "refused: this node cannot publish checkpoints now (see its log)";
        }
        byte[] payload = state.toPayload(payloadMetadata(epoch));
        try {
            CheckpointManifest m = checkpoints.publish(
                    new CheckpointPublisher.EpochResult(
                            settings.apply(state.step()),
                            true,
                            epoch,
                            state.step(),
                            state.parameterInfos(),
                            List.of(),
                            figures,
                            null,
                            round,
                            null,
                            null,
                            List.of(),
                            List.of()),
                    payload);
            return m == null ? "refused: stopping" : ControlMessage.Ack.APPLIED + ": checkpoint " + m.checkpointId();
        } catch (RebalancedException | RuntimeException e) {
            log.warn("the snapshot at step {} could not be published: {}", state.step(), e.toString());
            return "refused: could not publish it (see the trainer's log)";
        }
    }

    /** Waits for the pending publication (its failure is logged: the node is leaving) and ends the publisher thread. */
    @Override
    public void close() {
        try {
            settle();
        } catch (RuntimeException e) {
            log.warn("the checkpoint being published when the node stopped was not committed: {}", e.toString());
        } finally {
            publisherThread.shutdownNow();
        }
    }

    /** The safetensors {@code __metadata__} of a checkpoint payload. */
    private Map<String, String> payloadMetadata(int epoch) {
        return Map.of("format", "pt", "streamtrain.run", spec.run(), "streamtrain.epoch", Integer.toString(epoch));
    }
}
