package io.streamtrain.trainer.checkpoint;

import io.streamtrain.core.checkpoint.CheckpointManifest;
import io.streamtrain.core.checkpoint.PayloadStore;
import io.streamtrain.core.protocol.CheckpointCodec;
import io.streamtrain.core.signing.Signing;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.core.spec.RunSpecParser;
import io.streamtrain.core.topics.Topics;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.consumer.CommitFailedException;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.AuthorizationException;
import org.apache.kafka.common.errors.IllegalGenerationException;
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.errors.RebalanceInProgressException;
import org.apache.kafka.common.errors.TimeoutException;
import org.apache.kafka.common.errors.UnknownMemberIdException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Publishes an epoch's checkpoint in one Kafka transaction: the payload chunks (or, for a
 * claim check, nothing but the manifest), the manifest, and the train-topic offsets the epoch consumed. Either all of it becomes visible or none does, so
 * committed offsets and the latest checkpoint always agree.
 *
 * <p>Errors by what can be done: fenced or not authorized is fatal (another instance owns
 * this node id, or the ACLs are wrong); a rebalance aborts and lets the trainer roll back;
 * a timeout (broker away) is retried until {@code brokerWait} has passed.
 */
public final class CheckpointPublisher {
    private static final Logger log = LoggerFactory.getLogger(CheckpointPublisher.class);

    private final Producer<byte[], byte[]> producer;
    private final RunSpec spec;
    private final String node;
    private final String checkpointTopic;
    private final PayloadStore store;
    private final Duration brokerWait;
    private final BooleanSupplier stopping;
    private final Signing signing;

    /**
     * @param producer a transactional producer on which initTransactions() has been called
     * @param stopping true once the node should stop: a publish still retrying then gives up
     *     (aborted, nothing visible) rather than holding the shutdown for {@code brokerWait}
     * @param signing signs each manifest (it names the payload's SHA-256, so the signature covers the weights)
     */
    public CheckpointPublisher(
            Producer<byte[], byte[]> producer,
            RunSpec spec,
            String node,
            Duration brokerWait,
            BooleanSupplier stopping,
            Signing signing) {
        this.signing = signing;
        this.stopping = stopping;
        this.producer = producer;
        this.spec = spec;
        this.node = node;
        this.checkpointTopic = Topics.checkpoints(spec.run());
        this.store = spec.checkpoints().onKafka()
                ? null
                : PayloadStore.forUri(spec.checkpoints().store());
        this.brokerWait = brokerWait;
    }

    /**
     * What an epoch's checkpoint holds besides the payload.
     *
     * @param settings the spec the epoch ended with (SET commands included): recorded in the manifest
     * @param snapshot a mid-epoch snapshot (CHECKPOINT command): no offsets
     * @param round the sync round the state is from
     * @param sync where the sync log stood after that round (null for a snapshot)
     * @param recordsChecksum what the epoch trained (null for a snapshot)
     * @param deadLetters written in the checkpoint's transaction, so once: the epoch's sync
     *     records refused for their signature
     * @param replayed the earlier records a continuous run's window replayed (empty otherwise)
     */
    public record EpochResult(
            RunSpec settings,
            boolean snapshot,
            int epoch,
            long step,
            List<CheckpointManifest.ParameterInfo> parameters,
            List<CheckpointManifest.OffsetRange> offsets,
            Map<String, Double> metrics,
            ConsumerGroupMetadata group,
            long round,
            CheckpointManifest.SyncPoint sync,
            String recordsChecksum,
            List<ProducerRecord<byte[], byte[]>> deadLetters,
            List<CheckpointManifest.OffsetRange> replayed) {}

    /** @return the committed manifest, or null if a stop was requested while retrying */
    @SuppressWarnings("FutureReturnValueIgnored") // a send that fails fails the transaction's commit
    public CheckpointManifest publish(EpochResult result, byte[] payload) throws RebalancedException {
        String id = String.format(
                "%s-e%04d-%s%s",
                spec.run(),
                result.epoch(),
                result.snapshot() ? "s" + result.step() + "-" : "",
                UUID.randomUUID().toString().substring(0, 8));
        CheckpointManifest.Payload where;
        if (store == null) {
            where = new CheckpointManifest.Payload(
                    CheckpointCodec.sha256(payload),
                    payload.length,
                    "kafka",
                    null,
                    CheckpointCodec.chunkCount(
                            payload.length, spec.checkpoints().chunkBytes()));
        } else {
            try {
                String uri = store.put(spec.run(), id, payload);
                where = new CheckpointManifest.Payload(CheckpointCodec.sha256(payload), payload.length, "file", uri, 0);
            } catch (IOException e) {
                throw new UncheckedIOException(
                        "cannot write the checkpoint payload to "
                                + spec.checkpoints().store(),
                        e);
            }
        }
        CheckpointManifest manifest = new CheckpointManifest(
                CheckpointManifest.VERSION,
                CheckpointManifest.TYPE,
                spec.run(),
                id,
                result.epoch(),
                result.round(),
                result.step(),
                RunSpecParser.toJson(result.settings()),
                result.parameters(),
                where,
                result.offsets(),
                result.metrics(),
                node,
                Instant.now().toString(),
                result.snapshot() ? CheckpointManifest.SNAPSHOT : CheckpointManifest.EPOCH,
                result.sync(),
                result.recordsChecksum(),
                result.replayed());
        Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
        for (CheckpointManifest.OffsetRange r : result.offsets()) {
            offsets.put(
                    new TopicPartition(r.topic(), r.partition()),
                    new OffsetAndMetadata(r.to(), "epoch=" + result.epoch() + " checkpoint=" + id));
        }
        long deadline = System.nanoTime() + brokerWait.toNanos();
        int attempt = 0;
        while (true) {
            attempt++;
            try {
                producer.beginTransaction();
                if (store == null) {
                    for (ProducerRecord<byte[], byte[]> chunk : CheckpointCodec.chunkRecords(
                            checkpointTopic, id, payload, spec.checkpoints().chunkBytes())) {
                        producer.send(chunk);
                    }
                }
                for (ProducerRecord<byte[], byte[]> deadLetter : result.deadLetters()) {
                    producer.send(deadLetter);
                }
                producer.send(signing.sign(CheckpointCodec.manifestRecord(checkpointTopic, manifest)));
                if (!offsets.isEmpty()) {
                    producer.sendOffsetsToTransaction(offsets, result.group());
                }
                commit(deadline);
                return manifest;
            } catch (ProducerFencedException | InvalidProducerEpochException | AuthorizationException e) {
                throw e; // another instance took over this node id, or the ACLs forbid it: no retry helps
            } catch (CommitFailedException
                    | RebalanceInProgressException
                    | IllegalGenerationException
                    | UnknownMemberIdException e) {
                abortQuietly();
                throw new RebalancedException(
                        "the group rebalanced while epoch " + result.epoch() + " was committed", e);
            } catch (KafkaException e) {
                abortQuietly();
                if (stopping.getAsBoolean()) {
                    log.warn(
                            "stop requested while the checkpoint of epoch {} could not be published; abandoning it",
                            result.epoch());
                    return null;
                }
                if (System.nanoTime() > deadline) {
                    throw new KafkaException(
                            "could not publish the checkpoint of epoch " + result.epoch() + " within "
                                    + brokerWait.toSeconds() + " s (" + attempt + " attempts)",
                            e);
                }
                log.warn(
                        "publishing the checkpoint of epoch {} failed (attempt {}): {}; retrying",
                        result.epoch(),
                        attempt,
                        e.toString());
            }
        }
    }

    /** A commit that times out may be retried: the broker finishes what it started. */
    private void commit(long deadline) {
        while (true) {
            try {
                producer.commitTransaction();
                return;
            } catch (TimeoutException e) {
                if (System.nanoTime() > deadline || stopping.getAsBoolean()) {
                    throw e; // on a stop: the next initTransactions with this id settles what is pending
                }
                log.warn("committing the checkpoint transaction timed out; the broker may be away, retrying");
            }
        }
    }

    private void abortQuietly() {
        try {
            producer.abortTransaction();
        } catch (RuntimeException e) {
            log.debug("abort after a failed checkpoint: {}", e.toString());
        }
    }
}
