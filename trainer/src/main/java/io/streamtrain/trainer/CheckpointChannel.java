package io.streamtrain.trainer;

import io.streamtrain.core.checkpoint.Checkpoint;
import io.streamtrain.core.checkpoint.CheckpointManifest;
import io.streamtrain.core.checkpoint.CheckpointReader;
import io.streamtrain.core.checkpoint.PayloadSources;
import io.streamtrain.core.checkpoint.RunCheckpoints;
import io.streamtrain.core.kafka.KafkaSettings;
import io.streamtrain.core.kafka.Preflight;
import io.streamtrain.core.spec.CheckpointRef;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.core.topics.Topics;
import io.streamtrain.trainer.checkpoint.CheckpointPublisher;
import io.streamtrain.trainer.checkpoint.RebalancedException;
import io.streamtrain.trainer.model.InitialWeights;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** {@link Checkpoints} on Kafka: each read and each publisher gets its own client, built from {@link KafkaSettings}. */
final class CheckpointChannel implements Checkpoints {
    private static final Logger log = LoggerFactory.getLogger(CheckpointChannel.class);

    private final KafkaSettings kafka;
    private final RunSpec spec;
    private final String node;
    private final Duration brokerWait;
    private final BooleanSupplier stopping;
    private KafkaProducer<byte[], byte[]> producer;
    private CheckpointPublisher publisher;
    /** The sync points of the last two checkpoints this node published: the log before the older goes after the next. */
    private final ArrayDeque<Long> publishedSyncOffsets = new ArrayDeque<>();

    /** @param stopping true once the node should stop: a publish still retrying then gives up */
    CheckpointChannel(KafkaSettings kafka, RunSpec spec, String node, Duration brokerWait, BooleanSupplier stopping) {
        this.kafka = kafka;
        this.spec = spec;
        this.node = node;
        this.brokerWait = brokerWait;
        this.stopping = stopping;
    }

    /** The spec registered for the run, if any: a checkpoint that does not keep it is not the run's (see {@link #latest()}). */
    private RunSpec registered;

    /** The run's registration ({@code ctl register}), read from its control topic before the first {@link #latest()}. */
    void registered(RunSpec spec) {
        this.registered = spec;
    }

    /**
     * The run's latest checkpoint. With a registration, a manifest whose spec changes the
     * registered contract, data or model is skipped (and said): the evaluator rejects it too,
     * and without signatures anyone who may write the topic could write one of a higher epoch,
     * which would otherwise make every start of the run refuse it for good. Without one, a
     * manifest whose model or data differ from the run's first checkpoint's is skipped
     * ({@link RunChecks#keepsTheFirst}).
     */
    @Override
    public Optional<Checkpoint> latest() {
        java.util.function.Function<CheckpointManifest, String> first = RunChecks.keepsTheFirst();
        try (KafkaConsumer<byte[], byte[]> reader = new KafkaConsumer<>(kafka.reader())) {
            // its own store, and those the operator named for every process
            return CheckpointReader.latest(
                    reader,
                    Topics.checkpoints(spec.run()),
                    NodePorts.READ_TIMEOUT,
                    PayloadSources.fromEnvironment().with(spec.checkpoints().store()),
                    kafka.signing(),
                    m -> registered == null ? first.apply(m) : RunChecks.breaksRegistration(registered, m));
        }
    }

    @Override
    public Checkpoint find(String checkpointId) throws io.streamtrain.core.checkpoint.CheckpointRejectedException {
        try (KafkaConsumer<byte[], byte[]> reader = new KafkaConsumer<>(kafka.reader())) {
            return RunCheckpoints.byId(
                    reader,
                    spec.run(),
                    checkpointId,
                    NodePorts.READ_TIMEOUT,
                    PayloadSources.fromEnvironment().with(spec.checkpoints().store()),
                    kafka.signing());
        }
    }

    /**
     * The weights {@code init.from} names: a file, or a checkpoint of another run read from its
     * topic now (so {@code run:NAME} is that run's latest checkpoint when this run first starts).
     */
    InitialWeights initialWeights() {
        Optional<CheckpointRef> ref = spec.init().checkpoint();
        if (ref.isEmpty()) {
            return spec.init().file().map(InitialWeights::read).orElse(null);
        }
        try (Admin admin = Preflight.admin(kafka);
                KafkaConsumer<byte[], byte[]> reader = new KafkaConsumer<>(kafka.reader())) {
            RunCheckpoints.Found found = RunCheckpoints.find(
                    admin,
                    reader,
                    kafka.bootstrapServers(),
                    ref.get(),
                    NodePorts.READ_TIMEOUT,
                    PayloadSources.fromEnvironment(),
                    kafka.signing());
            return InitialWeights.of(found.checkpoint(), ref.get() + ", " + found.why());
        }
    }

    @Override
    public void openPublisher() {
        closePublisher();
        producer = new KafkaProducer<>(kafka.checkpointProducer(
                Topics.checkpointer(spec.run()), spec.checkpoints().chunkBytes()));
        // fences the previous owner and settles its open transaction: after this, the checkpoint topic is final
        producer.initTransactions();
        publisher = new CheckpointPublisher(producer, spec, node, brokerWait, stopping, kafka.signing());
    }

    @Override
    public void closePublisher() {
        if (producer != null) {
            producer.close(NodePorts.CLOSE_TIMEOUT);
            producer = null;
            publisher = null;
        }
    }

    @Override
    public boolean canPublish() {
        return publisher != null;
    }

    @Override
    public CheckpointManifest publish(CheckpointPublisher.EpochResult result, byte[] payload)
            throws RebalancedException {
        CheckpointManifest m = publisher.publish(result, payload);
        if (m != null && result.sync() != null) {
            truncateSyncLog(result.sync().offset());
        }
        return m;
    }

    /**
     * Rounds before the checkpoint two back's sync point are no longer needed by anyone:
     * a starting node resumes from the latest checkpoint and reads the sync log from its
     * point on. (Slack for a node that read an older one as the latest a moment ago; one
     * that finds its rounds gone reads the latest checkpoint again.)
     */
    private void truncateSyncLog(long newest) {
        publishedSyncOffsets.addLast(newest);
        if (publishedSyncOffsets.size() < 3) {
            return;
        }
        long before = publishedSyncOffsets.removeFirst();
        try (Admin admin = Preflight.admin(kafka)) {
            admin.deleteRecords(Map.of(
                            new TopicPartition(Topics.sync(spec.run()), 0), RecordsToDelete.beforeOffset(before)))
                    .all()
                    .get(10, TimeUnit.SECONDS);
            log.debug("deleted the sync log of run {} before offset {}", spec.run(), before);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException | RuntimeException e) {
            log.warn(
                    "could not delete the sync log of run {} before offset {} (it only grows until a later checkpoint"
                            + " succeeds): {}",
                    spec.run(),
                    before,
                    e.toString());
        }
    }

    @Override
    public void close() {
        closePublisher();
    }
}
