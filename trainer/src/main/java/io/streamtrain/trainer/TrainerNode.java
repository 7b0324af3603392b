package io.streamtrain.trainer;

import ai.djl.engine.Engine;
import io.streamtrain.core.checkpoint.Checkpoint;
import io.streamtrain.core.checkpoint.CheckpointManifest;
import io.streamtrain.core.checkpoint.CheckpointReader;
import io.streamtrain.core.codec.SafeTensors;
import io.streamtrain.core.codec.SafeTensorsException;
import io.streamtrain.core.djl.Engines;
import io.streamtrain.core.kafka.KafkaSettings;
import io.streamtrain.core.kafka.Preflight;
import io.streamtrain.core.kafka.RunTopics;
import io.streamtrain.core.kafka.StartupException;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.core.topics.Topics;
import io.streamtrain.trainer.checkpoint.CheckpointPublisher;
import io.streamtrain.trainer.checkpoint.RebalancedException;
import io.streamtrain.trainer.feed.BatchFeed;
import io.streamtrain.trainer.feed.EpochPlan;
import io.streamtrain.trainer.feed.FeedItem;
import io.streamtrain.trainer.model.ModelState;
import io.streamtrain.trainer.model.StepReport;
import io.streamtrain.trainer.model.StepRunner;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A trainer node: joins the run's consumer group, trains on the batches of its partitions,
 * and publishes a checkpoint at the end of every epoch. It starts from the run's latest
 * checkpoint when there is one, and every (re)assignment rolls it back to its last
 * checkpoint, so a crash or a rebalance loses compute and never data.
 *
 * <pre>{@code
 * try (TrainerNode node = new TrainerNode(spec, kafka, TrainerOptions.defaults("node-0"))) {
 *     TrainerNode.Outcome outcome = node.run();
 * }
 * }</pre>
 */
public final class TrainerNode implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(TrainerNode.class);
    private static final Duration READ_TIMEOUT = Duration.ofSeconds(60);

    /** How {@link #run()} ended; both are exit code 0. */
    public enum Outcome {
        /** maxEpochs trained and checkpointed. */
        FINISHED,
        /** asked to stop ({@link #requestStop()}, SIGTERM) before the end. */
        STOPPED
    }

    private final RunSpec spec;
    private final KafkaSettings kafka;
    private final TrainerOptions options;
    private final List<TrainingListener> listeners = new CopyOnWriteArrayList<>();
    private final CountDownLatch finished = new CountDownLatch(1);
    private volatile boolean stopRequested;

    public TrainerNode(RunSpec spec, KafkaSettings kafka, TrainerOptions options) {
        this.spec = spec;
        this.kafka = kafka;
        this.options = options;
        listeners.add(new LoggingListener(spec, options.logEverySteps()));
    }

    public TrainerNode addListener(TrainingListener listener) {
        listeners.add(listener);
        return this;
    }

    /** Stops at the next step boundary; the unfinished epoch is abandoned, never half-committed. */
    public void requestStop() {
        stopRequested = true;
    }

    /** Waits for {@link #run()} to return, up to {@code timeout}. */
    public boolean awaitFinished(Duration timeout) throws InterruptedException {
        return finished.await(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    /**
     * Trains until maxEpochs are checkpointed or a stop is requested.
     *
     * @throws StartupException for problems the operator must fix (exit code in it)
     */
    public Outcome run() throws InterruptedException {
        try {
            return train();
        } finally {
            finished.countDown();
        }
    }

    private Outcome train() throws InterruptedException {
        Engine engine = Engines.pytorch();
        try (Admin admin = Admin.create(kafka.admin())) {
            Preflight.requireReachable(admin, kafka.bootstrapServers());
            Preflight.requireTopics(admin, List.of(spec.data().train()), "data.train of run " + spec.run());
            RunTopics.ensure(admin, List.of(
                    RunTopics.checkpoints(Topics.checkpoints(spec.run())),
                    RunTopics.deadLetters(Topics.deadLetters(spec.run()))));
        }
        Optional<Checkpoint> latest = readLatestCheckpoint();
        try (ModelState state = ModelState.initialize(spec, engine)) {
            Committed committed;
            EpochPlan plan = null;
            if (latest.isPresent()) {
                CheckpointManifest m = latest.get().manifest();
                requireSameModel(m);
                state.restore(latest.get().payload(), m.step());
                committed = new Committed(m.epoch(), m.step(), latest.get().payload());
                plan = EpochPlan.of(spec.data().train(), m.offsets());
                log.info("resuming run {} from checkpoint {} (epoch {}, step {})", spec.run(), m.checkpointId(), m.epoch(), m.step());
                if (m.epoch() >= spec.maxEpochs()) {
                    log.info("run {} already has its {} epochs; nothing to do", spec.run(), spec.maxEpochs());
                    return Outcome.FINISHED;
                }
            } else {
                committed = new Committed(0, 0, payloadOf(state));
                log.info("starting run {} from {}", spec.run(), spec.init().from() == null ? "seed " + spec.init().seed() : spec.init().from());
            }
            return loop(engine, state, committed, plan);
        }
    }

    /** The model state as of the last committed checkpoint: what a rollback returns to. */
    private record Committed(int epoch, long step, SafeTensors.Document payload) {}

    private Outcome loop(Engine engine, ModelState state, Committed initial, EpochPlan plan) throws InterruptedException {
        StepRunner runner = new StepRunner(state, engine);
        EpochMeter meter = new EpochMeter();
        List<FeedItem.Rejected> deadLetters = new ArrayList<>();
        String transactionalId = "streamtrain." + spec.run() + ".trainer." + options.nodeId();
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(kafka.transactionalProducer(transactionalId))) {
            // fences any zombie of this node still holding an open transaction
            producer.initTransactions();
            CheckpointPublisher publisher = new CheckpointPublisher(producer, spec, options.nodeId(), options.brokerWait());
            BatchFeed feed = new BatchFeed(new KafkaConsumer<>(kafka.consumer(Topics.trainerGroup(spec.run()))), spec, plan, options.prefetchBytes(), options.brokerWait());
            Thread feedThread = new Thread(feed, "streamtrain-feed-" + options.nodeId());
            feedThread.setDaemon(true);
            feedThread.start();
            Committed committed = initial;
            boolean dirty = false;
            try {
                while (!stopRequested) {
                    if (feed.failure() != null) {
                        throw new IllegalStateException("the batch feed failed: " + feed.failure().getMessage(), feed.failure());
                    }
                    BatchFeed.Reset reset = feed.takeReset();
                    if (reset != null) {
                        if (dirty) {
                            state.restore(committed.payload(), committed.step());
                            dirty = false;
                        }
                        meter.reset();
                        deadLetters.clear();
                        int next = committed.epoch() + 1;
                        listeners.forEach(l -> l.onRollback(next, state.step()));
                        feed.start(reset.generation(), next);
                        continue;
                    }
                    FeedItem item = feed.next(200, TimeUnit.MILLISECONDS);
                    if (item instanceof FeedItem.Samples s) {
                        StepReport report = runner.train(s.batch());
                        dirty = true;
                        meter.add(report);
                        listeners.forEach(l -> l.onStep(s.epoch(), report));
                    } else if (item instanceof FeedItem.Rejected r) {
                        // a record is dead-lettered once, in the run's first epoch; later passes skip it
                        if (r.epoch() == 1) {
                            deadLetters.add(r);
                        }
                    } else if (item instanceof FeedItem.EpochEnd end) {
                        Committed next = endEpoch(state, publisher, end, meter, deadLetters);
                        if (next != null) {
                            committed = next;
                            dirty = false;
                            if (committed.epoch() >= spec.maxEpochs()) {
                                log.info("run {}: all {} epochs trained", spec.run(), spec.maxEpochs());
                                return Outcome.FINISHED;
                            }
                        }
                        meter.reset();
                        deadLetters.clear();
                    }
                }
                log.info("stop requested: leaving at a step boundary; epoch {} is the last checkpoint", committed.epoch());
                return Outcome.STOPPED;
            } finally {
                feed.close();
                feedThread.join(10_000);
            }
        }
    }

    /** @return the new committed state, or null if a rebalance aborted the checkpoint */
    private Committed endEpoch(ModelState state, CheckpointPublisher publisher, FeedItem.EpochEnd end,
            EpochMeter meter, List<FeedItem.Rejected> deadLetters) {
        Map<String, Double> metrics = meter.metrics(spec.model().classification(), end.records(), end.rejected());
        byte[] payload = state.toPayload(Map.of("format", "pt", "streamtrain.run", spec.run(), "streamtrain.epoch", Integer.toString(end.epoch())));
        try {
            CheckpointManifest m = publisher.publish(new CheckpointPublisher.EpochResult(end.epoch(), state.step(),
                    state.parameterInfos(), end.ranges(), metrics, List.copyOf(deadLetters), end.group()), payload);
            listeners.forEach(l -> l.onCheckpoint(m));
            return new Committed(end.epoch(), state.step(), SafeTensors.read(payload));
        } catch (RebalancedException e) {
            log.warn("{}; the epoch will be trained again after the rollback", e.getMessage());
            return null;
        } catch (SafeTensorsException e) {
            throw new IllegalStateException("a payload this node just wrote does not read back", e);
        }
    }

    private Optional<Checkpoint> readLatestCheckpoint() {
        try (KafkaConsumer<byte[], byte[]> reader = new KafkaConsumer<>(kafka.consumer(null))) {
            return CheckpointReader.latest(reader, Topics.checkpoints(spec.run()), READ_TIMEOUT);
        }
    }

    private void requireSameModel(CheckpointManifest m) {
        RunSpec previous = m.runSpec();
        if (!previous.model().equals(spec.model())) {
            throw new StartupException(StartupException.BAD_CONFIGURATION, "run " + spec.run() + " already has checkpoints of a different model ("
                    + previous.model() + "; this spec has " + spec.model() + "). Use a new run id, or the old model spec");
        }
        if (!previous.equals(spec)) {
            log.warn("the spec differs from the one checkpoint {} was trained with; continuing with the new one", m.checkpointId());
        }
    }

    private static SafeTensors.Document payloadOf(ModelState state) {
        try {
            return SafeTensors.read(state.toPayload(Map.of()));
        } catch (SafeTensorsException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public void close() {
        requestStop();
    }
}
