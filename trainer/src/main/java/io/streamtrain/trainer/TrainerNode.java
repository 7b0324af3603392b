package io.streamtrain.trainer;

import ai.djl.engine.Engine;
import io.streamtrain.core.checkpoint.Checkpoint;
import io.streamtrain.core.checkpoint.CheckpointManifest;
import io.streamtrain.core.checkpoint.CheckpointReader;
import io.streamtrain.core.control.ControlMessage;
import io.streamtrain.core.control.Messages;
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
import io.streamtrain.trainer.control.ControlFeed;
import io.streamtrain.trainer.control.SettingsLog;
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
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.errors.ProducerFencedException;
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
    private static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(5);
    private static final Duration ACK_TIMEOUT = Duration.ofSeconds(10);

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
    private volatile ControlMessage.Stop stopCommand;
    private final ConcurrentLinkedQueue<ControlMessage> commands = new ConcurrentLinkedQueue<>();
    /** The spec as trained now: the given one with the run's SET commands in effect at this step. */
    private RunSpec settings;
    private final SettingsLog settingsLog;
    private boolean paused;
    private int trainMaxMessageBytes;

    public TrainerNode(RunSpec spec, KafkaSettings kafka, TrainerOptions options) {
        this.spec = spec;
        this.kafka = kafka;
        this.options = options;
        this.settings = spec;
        this.settingsLog = new SettingsLog(spec);
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
        try (Admin admin = Preflight.admin(kafka)) {
            Preflight.requireReachable(admin, kafka.bootstrapServers());
            Preflight.requireTopics(admin, List.of(spec.data().train()), "data.train of run " + spec.run());
            trainMaxMessageBytes = RunTopics.maxMessageBytes(admin, spec.data().train());
            Set<String> existed = RunTopics.ensure(admin, List.of(
                    RunTopics.checkpoints(Topics.checkpoints(spec.run()), spec.checkpoints().chunkBytes()),
                    RunTopics.control(Topics.control(spec.run())),
                    RunTopics.deadLetters(Topics.deadLetters(spec.run()), trainMaxMessageBytes)));
            // topics made here have room by construction; an operator's may not
            if (existed.contains(Topics.checkpoints(spec.run()))) {
                requireRoomFor(admin, Topics.checkpoints(spec.run()), spec.checkpoints().chunkBytes(), "checkpoints.chunkBytes");
            }
            if (existed.contains(Topics.deadLetters(spec.run()))) {
                requireRoomFor(admin, Topics.deadLetters(spec.run()), trainMaxMessageBytes, "the largest record of " + spec.data().train());
            }
        }
        ControlFeed control = new ControlFeed(new KafkaConsumer<>(kafka.consumer(null)), Topics.control(spec.run()), this::onCommand);
        List<ControlMessage> history = control.catchUp(READ_TIMEOUT);
        Map<String, Long> appliedAt = new java.util.HashMap<>();
        for (ControlMessage m : history) {
            if (m instanceof ControlMessage.Ack a && a.applied() && a.command() != null) {
                appliedAt.merge(a.command(), a.step(), Math::min);
            }
        }
        for (ControlMessage m : history) {
            if (m instanceof ControlMessage.Stop s) {
                log.info("run {} was stopped at {} by {} ({}: {}); a stopped run is not restarted", spec.run(), s.time(), s.source(),
                        s.reason(), s.explanation());
                control.close();
                return Outcome.STOPPED;
            }
            replay(m, appliedAt);
        }
        Thread controlThread = new Thread(control, "streamtrain-control-" + options.nodeId());
        controlThread.setDaemon(true);
        controlThread.start();
        try {
            return train(engine, control);
        } finally {
            control.close();
        }
    }

    /** On the control feed's thread: a STOP takes effect at once, the rest at the next step boundary. */
    private void onCommand(ControlMessage m) {
        if (m instanceof ControlMessage.Stop stop) {
            log.info("STOP {} from {}: {} ({})", stop.id(), stop.source(), stop.reason(), stop.explanation());
            stopCommand = stop;
            stopRequested = true;
        } else {
            commands.add(m);
        }
    }

    /**
     * A command issued before this node started: the run's state includes it, so this node
     * does too. A SET takes effect from the step it was first applied at (its
     * acknowledgement says which), so a resumed run trains each step with the settings the
     * uninterrupted run used; a SET nobody applied yet takes effect at once.
     */
    private void replay(ControlMessage m, Map<String, Long> appliedAt) {
        if (m instanceof ControlMessage.Pause) {
            paused = true;
        } else if (m instanceof ControlMessage.Resume) {
            paused = false;
        } else if (m instanceof ControlMessage.Set set) {
            try {
                long from = appliedAt.getOrDefault(set.id(), Long.MIN_VALUE);
                settingsLog.add(from, set.values());
                log.info("replaying SET {} from the control topic: {}{}", set.id(), set.values(),
                        from == Long.MIN_VALUE ? "" : " from step " + (from + 1));
            } catch (IllegalArgumentException e) {
                log.info("SET {} on the control topic was refused: {}", set.id(), e.getMessage());
            }
        }
    }

    /** Applies the commands that arrived since the last step and acknowledges each. */
    private void applyCommands(KafkaProducer<byte[], byte[]> acks, BatchFeed feed, long step, Supplier<String> snapshot) {
        for (ControlMessage m = commands.poll(); m != null; m = commands.poll()) {
            String outcome = ControlMessage.Ack.APPLIED;
            if (m instanceof ControlMessage.Pause) {
                paused = true;
                feed.pauseConsumption(true);
                log.info("PAUSE {}: consumption and training paused at step {}", m.id(), step);
            } else if (m instanceof ControlMessage.Resume) {
                paused = false;
                feed.pauseConsumption(false);
                log.info("RESUME {}: training goes on from step {}", m.id(), step);
            } else if (m instanceof ControlMessage.Checkpoint) {
                String id = snapshot.get();
                outcome = id == null ? "refused: could not publish it (see the trainer's log)" : ControlMessage.Ack.APPLIED + ": checkpoint " + id;
                log.info("CHECKPOINT {}: {}", m.id(), outcome);
            } else if (m instanceof ControlMessage.Set set) {
                try {
                    settingsLog.add(step, set.values());
                    log.info("SET {}: {} from step {}", set.id(), set.values(), step + 1);
                } catch (IllegalArgumentException e) {
                    outcome = "refused: " + e.getMessage();
                    log.warn("SET {} refused: {}", set.id(), e.getMessage());
                }
            } else {
                continue; // acknowledgements and types this version has no use for
            }
            acknowledge(acks, m.id(), step, outcome);
        }
    }

    private Outcome train(Engine engine, ControlFeed control) throws InterruptedException {
        Optional<Checkpoint> latest = readLatestCheckpoint();
        if (stopRequested) {
            ControlMessage.Stop stop = stopCommand;
            if (stop != null) {
                // obeyed before the first step: still say so
                KafkaProducer<byte[], byte[]> acks = new KafkaProducer<>(kafka.producer());
                try {
                    acknowledge(acks, stop.id(), latest.map(c -> c.manifest().step()).orElse(0L), ControlMessage.Ack.APPLIED);
                } finally {
                    acks.close(CLOSE_TIMEOUT);
                }
            }
            return Outcome.STOPPED;
        }
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
            return loop(engine, state, committed, plan, control);
        }
    }

    /** The model state as of the last committed checkpoint: what a rollback returns to. */
    private record Committed(int epoch, long step, SafeTensors.Document payload) {}

    private Outcome loop(Engine engine, ModelState state, Committed initial, EpochPlan plan, ControlFeed control)
            throws InterruptedException {
        settings = settingsLog.at(state.step());
        StepRunner runner = new StepRunner(state, engine, settings);
        EpochMeter meter = new EpochMeter();
        List<FeedItem.Rejected> deadLetters = new ArrayList<>();
        String transactionalId = "streamtrain." + spec.run() + ".trainer." + options.nodeId();
        Map<String, Object> producerConfig = kafka.transactionalProducer(transactionalId);
        // a chunk, or a dead letter as large as the train topic allows, must fit in one request
        producerConfig.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, RunTopics.RECORD_OVERHEAD_BYTES
                + Math.max(spec.checkpoints().chunkBytes(), trainMaxMessageBytes));
        KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(producerConfig);
        KafkaProducer<byte[], byte[]> acks = new KafkaProducer<>(kafka.producer());
        try {
            // fences any zombie of this node still holding an open transaction
            producer.initTransactions();
            CheckpointPublisher publisher = new CheckpointPublisher(producer, spec, options.nodeId(), options.brokerWait(), () -> stopRequested);
            Map<String, Object> consumerConfig = kafka.consumer(Topics.trainerGroup(spec.run()));
            // the feed seeks to the epoch plan itself; a position Kafka cannot serve must fail loudly, never jump
            consumerConfig.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "none");
            BatchFeed feed = new BatchFeed(new KafkaConsumer<>(consumerConfig), spec, plan, options.prefetchBytes(), options.brokerWait());
            Thread feedThread = new Thread(feed, "streamtrain-feed-" + options.nodeId());
            feedThread.setDaemon(true);
            feed.pauseConsumption(paused);
            feedThread.start();
            Committed committed = initial;
            boolean dirty = false;
            // since the last step (or checkpoint, or rollback): the time a step waited for data
            long idleSince = System.nanoTime();
            try {
                while (!stopRequested) {
                    if (feed.failure() instanceof StartupException e) {
                        throw e;
                    }
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
                        idleSince = System.nanoTime();
                        int next = committed.epoch() + 1;
                        listeners.forEach(l -> l.onRollback(next, state.step()));
                        feed.start(reset.generation(), next);
                        continue;
                    }
                    int inProgress = committed.epoch() + 1;
                    if (control.failure() != null) {
                        throw new IllegalStateException("the control feed failed (a STOP would go unseen): "
                                + control.failure().getMessage(), control.failure());
                    }
                    applyCommands(acks, feed, state.step(), () -> snapshot(state, publisher, inProgress, meter));
                    if (paused) {
                        Thread.sleep(20);
                        idleSince = System.nanoTime(); // a pause is not waiting for data
                        continue;
                    }
                    FeedItem item = feed.next(200, TimeUnit.MILLISECONDS);
                    if (item instanceof FeedItem.Samples s) {
                        // the settings of this step: SETs take effect at their step, and a rollback takes them back
                        RunSpec now = settingsLog.at(state.step());
                        if (now != settings) {
                            settings = now;
                            runner = new StepRunner(state, engine, settings);
                        }
                        meter.addDataWait(System.nanoTime() - idleSince);
                        StepReport report = runner.train(s.batch());
                        idleSince = System.nanoTime();
                        dirty = true;
                        meter.add(report);
                        listeners.forEach(l -> l.onStep(s.epoch(), report));
                    } else if (item instanceof FeedItem.Rejected r) {
                        // a record is dead-lettered once, in the run's first epoch; later passes skip it
                        if (r.epoch() == 1) {
                            deadLetters.add(r);
                        }
                    } else if (item instanceof FeedItem.EpochEnd end) {
                        requireSomethingTrained(end, meter, deadLetters);
                        Committed next = endEpoch(state, publisher, end, meter, deadLetters);
                        if (next == null) {
                            feed.rewind(); // not committed: train the epoch again from the last checkpoint
                        } else {
                            committed = next;
                            dirty = false;
                            if (committed.epoch() >= spec.maxEpochs()) {
                                log.info("run {}: all {} epochs trained", spec.run(), spec.maxEpochs());
                                return Outcome.FINISHED;
                            }
                        }
                        meter.reset();
                        deadLetters.clear();
                        idleSince = System.nanoTime();
                    }
                }
                ControlMessage.Stop stop = stopCommand;
                if (stop != null) {
                    log.info("stopped by {} ({}) at step {}; epoch {} is the last checkpoint{}", stop.source(), stop.reason(),
                            state.step(), committed.epoch(), stop.best() == null ? ""
                                    : "; the run's best checkpoint is " + stop.best().checkpointId() + " (epoch " + stop.best().epoch() + ")");
                    acknowledge(acks, stop.id(), state.step(), ControlMessage.Ack.APPLIED);
                } else {
                    log.info("stop requested: leaving at a step boundary; epoch {} is the last checkpoint", committed.epoch());
                }
                return Outcome.STOPPED;
            } finally {
                feed.close();
                feedThread.join(10_000);
            }
        } finally {
            // bounded, so SIGTERM's grace period holds even with the broker away
            producer.close(CLOSE_TIMEOUT);
            acks.close(CLOSE_TIMEOUT);
        }
    }

    /** A CHECKPOINT command: the weights now, as a snapshot of the epoch in progress. @return its id, or null */
    private String snapshot(ModelState state, CheckpointPublisher publisher, int epoch, EpochMeter meter) {
        Map<String, Double> metrics = meter.metrics(spec.model().classification(), 0, 0);
        byte[] payload = state.toPayload(payloadMetadata(epoch));
        try {
            CheckpointManifest m = publisher.publish(new CheckpointPublisher.EpochResult(settings, true, epoch, state.step(),
                    state.parameterInfos(), List.of(), metrics, List.of(), null), payload);
            return m == null ? null : m.checkpointId();
        } catch (ProducerFencedException | InvalidProducerEpochException e) {
            throw e; // fatal, as at an epoch's end
        } catch (RebalancedException | RuntimeException e) {
            log.warn("the snapshot at step {} could not be published: {}", state.step(), e.toString());
            return null;
        }
    }

    /** The safetensors {@code __metadata__} of a checkpoint payload. */
    private Map<String, String> payloadMetadata(int epoch) {
        return Map.of("format", "pt", "streamtrain.run", spec.run(), "streamtrain.epoch", Integer.toString(epoch));
    }

    /** An existing topic (made by an operator) must still take the records this run writes to it. */
    private static void requireRoomFor(Admin admin, String topic, int valueBytes, String what) {
        int max = RunTopics.maxMessageBytes(admin, topic);
        if (max < valueBytes + RunTopics.RECORD_OVERHEAD_BYTES) {
            throw new StartupException(StartupException.BAD_CONFIGURATION, "topic " + topic + " accepts records of up to " + max
                    + " bytes (max.message.bytes), but " + what + " needs " + (valueBytes + RunTopics.RECORD_OVERHEAD_BYTES)
                    + ". Raise the topic's max.message.bytes" + (what.startsWith("checkpoints") ? " or lower " + what : ""));
        }
    }

    /**
     * Tells the run (evaluator, operators) what this node did with a command. Not in a
     * transaction: an acknowledgement needs no atomicity, and a node killed mid-transaction
     * would hold back every read_committed reader of the control topic (other nodes' STOP
     * included) until the transaction timed out.
     */
    private void acknowledge(KafkaProducer<byte[], byte[]> acks, String command, long step, String outcome) {
        ControlMessage.Ack ack = new ControlMessage.Ack(spec.run(), Messages.newId(), Messages.now(), command, options.nodeId(), step, outcome);
        try {
            acks.send(new ProducerRecord<>(Topics.control(spec.run()), Messages.encode(ack))).get(ACK_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException | RuntimeException e) {
            log.warn("could not acknowledge command {}: {}", command, e.toString());
        }
    }

    /** A first epoch in which every record was rejected means the spec does not fit the data. */
    private void requireSomethingTrained(FeedItem.EpochEnd end, EpochMeter meter, List<FeedItem.Rejected> deadLetters) {
        if (end.epoch() == 1 && meter.samples() == 0 && end.rejected() > 0 && !deadLetters.isEmpty()) {
            FeedItem.Rejected first = deadLetters.get(0);
            throw new StartupException(StartupException.BAD_CONFIGURATION, "every one of the " + end.rejected()
                    + " records of epoch 1 was rejected; the first (" + first.record().topic() + "-" + first.record().partition()
                    + "@" + first.record().offset() + ") for " + first.reason().code() + ": " + first.detail()
                    + ". Does the spec's model (inputs " + spec.model().inputs() + ", classes " + spec.model().classes()
                    + ") match the data? Nothing was written to the DLQ");
        }
    }

    /** @return the new committed state, or null if a rebalance aborted the checkpoint */
    private Committed endEpoch(ModelState state, CheckpointPublisher publisher, FeedItem.EpochEnd end,
            EpochMeter meter, List<FeedItem.Rejected> deadLetters) {
        Map<String, Double> metrics = meter.metrics(spec.model().classification(), end.records(), end.rejected());
        byte[] payload = state.toPayload(payloadMetadata(end.epoch()));
        try {
            CheckpointManifest m = publisher.publish(new CheckpointPublisher.EpochResult(settings, false, end.epoch(), state.step(),
                    state.parameterInfos(), end.ranges(), metrics, List.copyOf(deadLetters), end.group()), payload);
            if (m == null) {
                return null; // abandoned: a stop was requested while the broker was away
            }
            listeners.forEach(l -> l.onCheckpoint(m));
            return new Committed(end.epoch(), state.step(), SafeTensors.read(payload));
        } catch (RebalancedException e) {
            log.warn("{}; the epoch will be trained again after the rollback", e.getMessage());
            return null;
        } catch (ProducerFencedException | InvalidProducerEpochException e) {
            throw new StartupException(StartupException.BAD_CONFIGURATION, "another trainer with node id " + options.nodeId()
                    + " took over run " + spec.run() + " (it fenced this one's transactions); this one stops. Node ids must be"
                    + " unique among the live trainers of a run", e);
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
        if (!previous.data().train().equals(spec.data().train())) {
            throw new StartupException(StartupException.BAD_CONFIGURATION, "run " + spec.run() + " was trained on topic "
                    + previous.data().train() + ", this spec names " + spec.data().train()
                    + " (data.train). A run's epochs are passes over one topic: use a new run id for other data");
        }
        if (!previous.model().equals(spec.model())) {
            throw new StartupException(StartupException.BAD_CONFIGURATION, "run " + spec.run() + " already has checkpoints of a different model ("
                    + previous.model() + "; this spec has " + spec.model() + "). Use a new run id, or the old model spec");
        }
        if (!previous.equals(settings)) {
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
