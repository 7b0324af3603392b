package io.streamtrain.trainer;

import ai.djl.engine.Engine;
import io.streamtrain.core.checkpoint.Checkpoint;
import io.streamtrain.core.checkpoint.CheckpointManifest;
import io.streamtrain.core.checkpoint.CheckpointReader;
import io.streamtrain.core.checkpoint.RecordsChecksum;
import io.streamtrain.core.checkpoint.RunCheckpoints;
import io.streamtrain.core.control.ControlMessage;
import io.streamtrain.core.control.Messages;
import io.streamtrain.core.codec.SafeTensors;
import io.streamtrain.core.codec.SafeTensorsException;
import io.streamtrain.core.djl.Engines;
import io.streamtrain.core.kafka.KafkaSettings;
import io.streamtrain.core.kafka.Preflight;
import io.streamtrain.core.kafka.RunTopics;
import io.streamtrain.core.kafka.StartupException;
import io.streamtrain.core.metrics.Health;
import io.streamtrain.core.metrics.KafkaMeters;
import io.streamtrain.core.spec.CheckpointRef;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.core.topics.Topics;
import io.streamtrain.trainer.checkpoint.CheckpointPublisher;
import io.streamtrain.trainer.checkpoint.RebalancedException;
import io.streamtrain.trainer.control.ControlFeed;
import io.streamtrain.trainer.control.SettingsLog;
import io.streamtrain.trainer.feed.BatchFeed;
import io.streamtrain.trainer.feed.EpochPlan;
import io.streamtrain.trainer.feed.FeedItem;
import io.streamtrain.trainer.model.InitialWeights;
import io.streamtrain.trainer.model.ModelState;
import io.streamtrain.trainer.model.StepReport;
import io.streamtrain.trainer.model.StepRunner;
import io.streamtrain.trainer.checkpoint.DeadLetters;
import io.streamtrain.trainer.sync.Combiner;
import io.streamtrain.trainer.sync.RoundState;
import io.streamtrain.trainer.sync.RoundSums;
import io.streamtrain.trainer.sync.SyncChannel;
import io.streamtrain.trainer.sync.SyncLog;
import io.streamtrain.trainer.sync.SyncMessage;
import io.streamtrain.core.checkpoint.CheckpointManifest.OffsetRange;
import org.apache.kafka.common.TopicPartition;
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
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.kafka.KafkaClientMetrics;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.RecordsToDelete;
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
    private volatile RunSpec settings;
    private final SettingsLog settingsLog;
    private boolean paused;
    private final MeterRegistry registry;
    private final Health health;
    private final TrainerMetrics metrics;
    private int trainMaxMessageBytes;

    /** A node whose meters nobody scrapes (tests, benchmarks, in-process use). */
    public TrainerNode(RunSpec spec, KafkaSettings kafka, TrainerOptions options) {
        this(spec, kafka, options, new SimpleMeterRegistry(), new Health(Duration.ofMinutes(2)));
    }

    /**
     * @param registry where the node's meters go (and its Kafka clients')
     * @param health what the node's {@code /healthz} and {@code /readyz} report
     */
    public TrainerNode(RunSpec spec, KafkaSettings kafka, TrainerOptions options, MeterRegistry registry, Health health) {
        this.spec = spec;
        this.kafka = kafka;
        this.options = options;
        this.settings = spec;
        this.settingsLog = new SettingsLog(spec);
        this.registry = registry;
        this.health = health;
        this.metrics = new TrainerMetrics(registry, () -> settings);
        listeners.add(new LoggingListener(spec, options.logEverySteps()));
        listeners.add(metrics);
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
                    RunTopics.sync(Topics.sync(spec.run()), spec.checkpoints().chunkBytes()),
                    RunTopics.deadLetters(Topics.deadLetters(spec.run()), trainMaxMessageBytes)));
            // topics made here have room by construction; an operator's may not
            if (existed.contains(Topics.checkpoints(spec.run()))) {
                requireRoomFor(admin, Topics.checkpoints(spec.run()), spec.checkpoints().chunkBytes(), "checkpoints.chunkBytes");
            }
            if (existed.contains(Topics.sync(spec.run()))) {
                requireRoomFor(admin, Topics.sync(spec.run()), spec.checkpoints().chunkBytes(), "checkpoints.chunkBytes");
            }
            if (existed.contains(Topics.deadLetters(spec.run()))) {
                requireRoomFor(admin, Topics.deadLetters(spec.run()), trainMaxMessageBytes, "the largest record of " + spec.data().train());
            }
        }
        ControlFeed control = new ControlFeed(new KafkaConsumer<>(kafka.consumer(null)), Topics.control(spec.run()), this::onCommand);
        metrics.feeds(null, control);
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
        metrics.paused(paused);
        health.ready(true);
        health.state("training");
        try {
            return train(engine, control);
        } finally {
            health.ready(false);
            health.state("stopped");
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
                outcome = snapshot.get();
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
            metrics.paused(paused);
            if (outcome.startsWith(ControlMessage.Ack.APPLIED)) {
                metrics.commandApplied(m.getClass().getSimpleName());
            }
            acknowledge(acks, m.id(), step, outcome);
        }
    }

    private Outcome train(Engine engine, ControlFeed control) throws InterruptedException {
        return train(engine, control, 1);
    }

    /** @param attempt how often the run's start was read (a newer checkpoint may have made the first read's rounds go) */
    private Outcome train(Engine engine, ControlFeed control, int attempt) throws InterruptedException {
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
        // a run with checkpoints of its own resumes from them: init.from only starts a run
        InitialWeights from = latest.isPresent() ? null : initialWeights();
        Session session = null;
        try (ModelState state = ModelState.initialize(spec, engine, from)) {
            RoundState start;
            long syncFrom = -1;
            if (latest.isPresent()) {
                CheckpointManifest m = latest.get().manifest();
                requireSameModel(m);
                int generation = m.sync() == null ? -1 : m.sync().generation();
                syncFrom = m.sync() == null ? -1 : m.sync().offset();
                start = RoundState.start(m.round(), m.epoch(), m.step(), latest.get().payload(),
                        EpochPlan.of(spec.data().train(), m.offsets()), generation, syncFrom, RoundSums.ZERO);
                log.info("resuming run {} from checkpoint {} (epoch {}, step {}) and the sync rounds after it", spec.run(),
                        m.checkpointId(), m.epoch(), m.step());
                if (m.epoch() >= spec.maxEpochs()) {
                    log.info("run {} already has its {} epochs; nothing to do", spec.run(), spec.maxEpochs());
                    return Outcome.FINISHED;
                }
            } else {
                start = RoundState.start(0, 0, 0, payloadOf(state), null, -1, 0, RoundSums.ZERO);
                log.info("starting run {} from {}{}", spec.run(), from == null ? "seed " + spec.init().seed() : from.source(),
                        state.frozen().isEmpty() ? "" : "; frozen (init.freeze): " + String.join(", ", state.frozen()));
            }
            long startedAt = latest.map(c -> java.time.Instant.parse(c.manifest().time()).toEpochMilli()).orElse(-1L);
            SyncLog syncLog = new SyncLog(new Combiner(spec.sync()), start, start.epochEnd() ? start : null, startedAt);
            session = new Session(engine, state, control, syncLog, syncFrom);
            return session.run();
        } catch (SyncChannel.TruncatedException e) {
            if (latest.isEmpty() && readLatestCheckpoint().isEmpty()) {
                // rounds are deleted only below a checkpoint: one must exist, but none can be read
                throw new IllegalStateException("the sync log " + Topics.sync(spec.run()) + " no longer holds the run's first rounds,"
                        + " but run " + spec.run() + " has no checkpoint this node can read (see any warning above about a checkpoint"
                        + " that did not verify): restore the checkpoints or their claim-check store, or start a new run id", e);
            }
            if (attempt >= 5) {
                throw e;
            }
            log.info("{}; reading the latest checkpoint again", e.getMessage());
            // a node that trained since its start meets a new truncation, not the same one again: it counts from 1
            return train(engine, control, session != null && session.resumed ? 1 : attempt + 1);
        }
    }

    /**
     * One node's part in the run, from its first assignment to its exit. The node trains
     * its partitions for a round ({@code sync.everySteps} batches, or to the end of its share
     * of the epoch), contributes, waits until the sync log closes the round, and continues
     * from the combined state. Every (re)assignment rolls it back to the round every node of
     * the new generation agrees on; the owner of partition 0 publishes the epoch checkpoints.
     */
    private final class Session {
        private final Engine engine;
        private final ModelState state;
        private final ControlFeed control;
        private final SyncLog syncLog;
        private final long syncFrom;
        private final EpochMeter meter = new EpochMeter();
        private final List<FeedItem.Rejected> deadLetters = new ArrayList<>();
        private final String dlqTopic = Topics.deadLetters(spec.run());
        private StepRunner runner;
        private SyncChannel channel;
        private KafkaProducer<byte[], byte[]> plain;
        private KafkaProducer<byte[], byte[]> checkpointer;
        private CheckpointPublisher publisher;
        private BatchFeed feed;
        /** The assignment being trained, or null before the first (or after a superseded) one. */
        private BatchFeed.Reset view;
        private List<Integer> partitions = List.of();
        /** The round this node contributes to next. */
        private long round;
        private long epochStarted = System.nanoTime();
        /** The sync points of the last two checkpoints this node published: the log before the older goes after the next. */
        private final java.util.ArrayDeque<Long> publishedSyncOffsets = new java.util.ArrayDeque<>();
        /** How long this node's last round took to close after it handed in its contribution: reported with the next. */
        private double lastRoundWaitSeconds;
        /** Whether this session has restored some generation's resume point (so it read the sync log up to there). */
        private boolean resumed;

        Session(Engine engine, ModelState state, ControlFeed control, SyncLog syncLog, long syncFrom) {
            this.engine = engine;
            this.state = state;
            this.control = control;
            this.syncLog = syncLog;
            this.syncFrom = syncFrom;
        }

        Outcome run() throws InterruptedException {
            settings = settingsLog.at(state.step());
            runner = new StepRunner(state, engine, settings);
            int recordBytes = RunTopics.RECORD_OVERHEAD_BYTES + Math.max(spec.checkpoints().chunkBytes(), trainMaxMessageBytes);
            Map<String, Object> plainConfig = kafka.producer();
            // a dead letter as large as the train topic allows must fit in one request
            plainConfig.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, recordBytes);
            plain = new KafkaProducer<>(plainConfig);
            KafkaClientMetrics plainMeters = KafkaMeters.bind(registry, plain);
            KafkaClientMetrics feedMeters = null;
            Thread feedThread = null;
            try {
                channel = new SyncChannel(kafka, Topics.sync(spec.run()), spec.checkpoints().chunkBytes(), syncLog, syncFrom,
                        options.brokerWait());
                Map<String, Object> consumerConfig = kafka.consumer(Topics.trainerGroup(spec.run()));
                // the feed seeks to the epoch plan itself; a position Kafka cannot serve must fail loudly, never jump
                consumerConfig.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "none");
                // a node that died is noticed in seconds, not the default 45 s: the others wait for it in their round
                consumerConfig.putIfAbsent(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, 10_000);
                consumerConfig.putIfAbsent(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, 3_000);
                KafkaConsumer<byte[], byte[]> trainConsumer = new KafkaConsumer<>(consumerConfig);
                feedMeters = KafkaMeters.bind(registry, trainConsumer);
                feed = new BatchFeed(trainConsumer, spec, null, options.prefetchBytes(), options.brokerWait());
                metrics.feeds(feed, null);
                feedThread = new Thread(feed, "streamtrain-feed-" + options.nodeId());
                feedThread.setDaemon(true);
                feed.pauseConsumption(paused);
                feedThread.start();
                // since the last step (or round, or rollback): the time a step waited for data
                long idleSince = System.nanoTime();
                while (!stopRequested) {
                    checkFeeds();
                    beat();
                    BatchFeed.Reset reset = feed.takeReset();
                    if (reset != null) {
                        if (rollBack(reset)) {
                            return Outcome.FINISHED;
                        }
                        idleSince = System.nanoTime();
                        continue;
                    }
                    int inProgress = syncLog.lastClosed().epoch() + 1;
                    applyCommands(plain, feed, state.step(), () -> snapshot(inProgress));
                    if (paused) {
                        Thread.sleep(20);
                        idleSince = System.nanoTime(); // a pause is not waiting for data
                        continue;
                    }
                    if (view != null && partitions.isEmpty()) {
                        // more nodes than partitions: follow the rounds, take over when a rebalance gives this one partitions
                        channel.poll(Duration.ofMillis(200));
                        if (finished(syncLog.lastClosed())) {
                            return Outcome.FINISHED;
                        }
                        continue;
                    }
                    FeedItem item = feed.next(200, TimeUnit.MILLISECONDS);
                    if (item instanceof FeedItem.Samples s) {
                        // the settings of this step: SETs take effect at their step, and a rollback takes them back
                        RunSpec now = settingsLog.at(state.step());
                        if (now != settings) {
                            settings = now;
                            runner = runner.withSettings(settings);
                        }
                        long waited = System.nanoTime() - idleSince;
                        meter.addDataWait(waited);
                        metrics.dataWait(waited);
                        StepReport report = runner.train(s.batch());
                        idleSince = System.nanoTime();
                        meter.add(report);
                        listeners.forEach(l -> l.onStep(s.epoch(), report));
                    } else if (item instanceof FeedItem.Rejected r) {
                        // a record is dead-lettered once: in the run's first epoch, unless some node's round already covered it
                        if (r.epoch() == 1 && r.record().offset() >= syncLog.deadLettersThrough(r.record().partition())) {
                            deadLetters.add(r);
                        }
                    } else if (item instanceof FeedItem.RoundEnd end) {
                        if (endRound(end)) {
                            return Outcome.FINISHED;
                        }
                        idleSince = System.nanoTime();
                    }
                }
                ControlMessage.Stop stop = stopCommand;
                RoundState last = syncLog.lastClosed();
                if (stop != null) {
                    log.info("stopped by {} ({}) at step {}; round {} (epoch {}) is the last the nodes agreed on{}", stop.source(),
                            stop.reason(), state.step(), last.round(), last.epoch(), stop.best() == null ? ""
                                    : "; the run's best checkpoint is " + stop.best().checkpointId() + " (epoch " + stop.best().epoch() + ")");
                    metrics.commandApplied("stop");
                    acknowledge(plain, stop.id(), state.step(), ControlMessage.Ack.APPLIED);
                } else {
                    log.info("stop requested: leaving at a step boundary; round {} (epoch {}) is the last the nodes agreed on",
                            last.round(), last.epoch());
                }
                return Outcome.STOPPED;
            } finally {
                if (feed != null) {
                    feed.close();
                }
                if (feedThread != null) {
                    feedThread.join(10_000);
                }
                // bounded, so SIGTERM's grace period holds even with the broker away
                if (channel != null) {
                    channel.close();
                }
                closeCheckpointer();
                plain.close(CLOSE_TIMEOUT);
                plainMeters.close();
                if (feedMeters != null) {
                    feedMeters.close();
                }
            }
        }

        /** The training thread is alive: for the feed (straggler self-eviction) and for {@code /healthz}. */
        private void beat() {
            feed.heartbeat();
            health.beat();
        }

        private void checkFeeds() {
            if (feed.failure() instanceof StartupException e) {
                throw e;
            }
            if (feed.failure() != null) {
                throw new IllegalStateException("the batch feed failed: " + feed.failure().getMessage(), feed.failure());
            }
            if (control.failure() != null) {
                throw new IllegalStateException("the control feed failed (a STOP would go unseen): "
                        + control.failure().getMessage(), control.failure());
            }
        }

        /**
         * A new assignment: announce it on the sync log, read the log up to that
         * announcement, and restore the round every node of this generation resumes from.
         *
         * @return true when that round already completes the run
         */
        private boolean rollBack(BatchFeed.Reset reset) throws InterruptedException {
            int generation = reset.group().generationId();
            List<Integer> assigned = reset.assignment().stream().map(TopicPartition::partition).sorted().toList();
            EpochPlan plan = syncLog.lastClosed().plan();
            if (plan == null) {
                plan = snapshotPlan();
            }
            String id = Messages.newId();
            channel.join(new SyncMessage.Join(id, generation, options.nodeId(), assigned, plan.all()));
            if (!readUntil(id)) {
                return false; // stopping
            }
            if (syncLog.nameTaken(id)) {
                // the later of the two joins leaves, and the run goes on with the other
                throw new StartupException(StartupException.BAD_CONFIGURATION, "another live trainer of run " + spec.run()
                        + " joined group generation " + generation + " as node " + options.nodeId() + ": give every trainer its own"
                        + " --node-id (default $STREAMTRAIN_NODE_ID, else $HOSTNAME)");
            }
            SyncLog.Resume resume = syncLog.resume(generation);
            if (resume == null) {
                log.info("group generation {} was superseded before this node started in it; waiting for the next assignment", generation);
                view = null;
                return false;
            }
            RoundState at = resume.round();
            if (at.round() == 0 && !awaitMembers(generation)) {
                return false;
            }
            state.restore(at.state(), at.step());
            resumed = true;
            settings = settingsLog.at(state.step());
            runner = new StepRunner(state, engine, settings);
            meter.reset();
            deadLetters.clear();
            view = reset;
            partitions = assigned;
            metrics.partitions(assigned.size());
            round = at.round() + 1;
            listeners.forEach(l -> l.onRollback(at.epoch() + 1, at.step()));
            log.info("group generation {}: partitions {}; continuing from round {} (epoch {} {}, step {})", generation, assigned,
                    at.round(), at.epochEnd() ? at.epoch() : at.epoch() + 1, at.epochEnd() ? "done" : "in progress", at.step());
            closeCheckpointer();
            boolean settled = true;
            if (ownsPartitionZero()) {
                openCheckpointer();
                RoundState ended = resume.lastEpochEnd();
                if (ended != null && ended.epoch() > 0) {
                    settled = ensureCheckpoint(ended);
                }
            }
            // after a republish, which reports the epoch's time from its start (kept across a failed commit)
            epochStarted = System.nanoTime();
            if (finished(at)) {
                // not finished while the last epoch has no checkpoint: the next generation's rollback publishes it
                return settled;
            }
            feed.start(reset.generation(), at.epoch() + 1, at.positions(), at.plan());
            return false;
        }

        /** Reads the sync log until the record {@code id} (this node's own) has been applied. */
        private boolean readUntil(String id) {
            long deadline = System.nanoTime() + options.brokerWait().toNanos();
            while (!stopRequested) {
                beat();
                for (SyncChannel.Read r : channel.poll(Duration.ofMillis(100))) {
                    if (r.message().id().equals(id)) {
                        return true;
                    }
                }
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("this node's own record on " + Topics.sync(spec.run()) + " did not come back within "
                            + options.brokerWait().toSeconds() + " s; a restart resumes from the last closed round");
                }
            }
            return false;
        }

        /**
         * Before the run's first round: waits until sync.minNodes nodes joined this generation,
         * unless some generation already had that many (the run started; a node lost since
         * does not hold the rest back). @return false if the generation ended first
         */
        private boolean awaitMembers(int generation) {
            int want = spec.sync().minNodes();
            long lastLog = 0;
            while (syncLog.members(generation).size() < want && syncLog.mostMembers() < want) {
                if (stopRequested || feed.resetPending() || syncLog.generation() != generation) {
                    view = null;
                    return false;
                }
                if (System.nanoTime() - lastLog > TimeUnit.SECONDS.toNanos(10)) {
                    lastLog = System.nanoTime();
                    log.info("waiting for {} trainer nodes before the run's first round (sync.minNodes); joined: {}", want,
                            syncLog.members(generation));
                }
                beat();
                channel.poll(Duration.ofMillis(100));
            }
            return true;
        }

        private boolean ownsPartitionZero() {
            return partitions.contains(0);
        }

        private boolean finished(RoundState at) {
            if (at.epochEnd() && at.epoch() >= spec.maxEpochs()) {
                log.info("run {}: all {} epochs trained", spec.run(), spec.maxEpochs());
                return true;
            }
            return false;
        }

        /**
         * This node's share of a round is trained: write its dead letters, contribute, and
         * wait for the round to close. A node whose partitions are at the end of the epoch
         * takes part in the epoch's remaining rounds with nothing, so they can close.
         *
         * @return true when the round completed the run
         */
        private boolean endRound(FeedItem.RoundEnd end) throws InterruptedException {
            metrics.records(end.records());
            writeDeadLetters();
            byte[] payload = meter.samples() > 0 ? state.toPayload(Map.of()) : null;
            RoundState closed = contributeAndWait(end.epoch(), meter.steps(), end.ranges(), meter.sums(end.records(), end.rejected(), end.recordsChecksum()), payload);
            while (closed != null) {
                if (afterClose(closed)) {
                    return true;
                }
                if (!end.last() || closed.epochEnd()) {
                    return false;
                }
                List<OffsetRange> nothing = end.ranges().stream()
                        .map(r -> new OffsetRange(r.topic(), r.partition(), r.to(), r.to())).toList();
                closed = contributeAndWait(end.epoch(), 0, nothing, RoundSums.ZERO, null);
            }
            return false; // a rebalance or a stop: the main loop handles it
        }

        /** @return the closed round, or null when a rebalance or a stop came first */
        private RoundState contributeAndWait(int epoch, long steps, List<OffsetRange> ranges, RoundSums sums, byte[] payload)
                throws InterruptedException {
            SyncMessage.Contribution c = new SyncMessage.Contribution(Messages.newId(), view.group().generationId(), options.nodeId(),
                    round, epoch, steps, ranges, sums.withSync(0, lastRoundWaitSeconds), null);
            long bytes = channel.contribute(c, payload);
            metrics.contributed(bytes);
            long started = System.nanoTime();
            long timeout = TimeUnit.SECONDS.toNanos(spec.sync().timeoutSeconds());
            long warned = started;
            // a node that died leaves the group within its session timeout; one that hangs within sync.timeoutSeconds
            long giveUp = Math.max(2 * timeout, options.brokerWait().toNanos());
            long pausedNanos = 0;
            while (syncLog.lastClosed().round() < round) {
                checkFeeds();
                beat();
                if (stopRequested || feed.resetPending()) {
                    return null;
                }
                // a PAUSE holds every node of the run, those waiting for the paused ones included: the wait is not a straggler's
                applyCommands(plain, feed, state.step(), () -> snapshot(epoch));
                long polled = System.nanoTime();
                channel.poll(Duration.ofMillis(50));
                long now = System.nanoTime();
                if (paused) {
                    pausedNanos += now - polled;
                    warned += now - polled;
                    continue;
                }
                if (now - started - pausedNanos > giveUp) {
                    throw new IllegalStateException("round " + round + " did not close within " + giveUp / 1_000_000_000L
                            + " s; still missing partitions (partition=node) " + syncLog.missing()
                            + ". A restart resumes from the last closed round");
                }
                if (now - warned > timeout) {
                    warned = now;
                    log.warn("round {} has waited {} s for partitions (partition=node) {}: a straggler. A node that died leaves the"
                            + " group within its session timeout, one whose training hangs within sync.timeoutSeconds; its partitions"
                            + " then go to the others", round, (now - started - pausedNanos) / 1_000_000_000L, syncLog.missing());
                }
            }
            long waited = System.nanoTime() - started - pausedNanos;
            lastRoundWaitSeconds = waited / 1e9;
            metrics.roundClosed(lastRoundWaitSeconds);
            log.debug("round {} closed: {} bytes sent, {} ms waiting", round, bytes, waited / 1_000_000);
            return syncLog.lastClosed();
        }

        /** Continues from a closed round's state. @return true when it completed the run */
        private boolean afterClose(RoundState closed) {
            state.restore(closed.state(), closed.step());
            round = closed.round() + 1;
            meter.reset();
            deadLetters.clear();
            if (!closed.epochEnd()) {
                return false;
            }
            requireSomethingTrained(closed);
            boolean settled = !ownsPartitionZero() || publishCheckpoint(closed);
            if (!settled) {
                // the group moved on while the checkpoint was committed (a node that finished left it): the
                // owner of partition 0 in the next generation publishes it when it rolls back to this round. This
                // node must wait for that rollback even after the last epoch: if the others have all finished,
                // it is that owner, and exiting now would end the run without its last checkpoint.
                return false;
            }
            epochStarted = System.nanoTime();
            return finished(closed);
        }

        /** Epoch 1's rejected records of this round, before the contribution that says the round covered them. */
        private void writeDeadLetters() {
            if (deadLetters.isEmpty()) {
                return;
            }
            java.util.concurrent.Future<?> last = null;
            for (FeedItem.Rejected r : deadLetters) {
                last = plain.send(DeadLetters.record(dlqTopic, r, options.nodeId()));
                metrics.deadLetter(r.reason());
            }
            try {
                last.get(options.brokerWait().toMillis(), TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
                throw new IllegalStateException("could not write " + deadLetters.size() + " dead letters to " + dlqTopic + ": " + e.getMessage(), e);
            }
            deadLetters.clear();
        }

        /** A first epoch in which every record was rejected means the spec does not fit the data. */
        private void requireSomethingTrained(RoundState closed) {
            RoundSums s = closed.epochSums();
            if (closed.epoch() == 1 && s.samples() == 0 && s.rejected() > 0) {
                throw new StartupException(StartupException.BAD_CONFIGURATION, "every one of the " + s.rejected()
                        + " records of epoch 1 was rejected (the reasons are in " + dlqTopic + "). Does the spec's model ("
                        + spec.model().type() + ", inputs " + spec.model().inputs() + ", classes " + spec.model().classes()
                        + ") match the data?");
            }
        }

        private EpochPlan snapshotPlan() {
            try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(kafka.consumer(null))) {
                EpochPlan plan = EpochPlan.snapshot(c, spec.data().train());
                log.info("epoch plan: {} records over {} partitions of {} (end offsets snapshotted now)", plan.records(),
                        plan.ranges().size(), spec.data().train());
                return plan;
            }
        }

        /** The checkpoint publisher's producer: one transactional id per run, so a new owner of partition 0 fences the old. */
        private void openCheckpointer() {
            Map<String, Object> config = kafka.transactionalProducer(Topics.checkpointer(spec.run()));
            config.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, RunTopics.RECORD_OVERHEAD_BYTES + spec.checkpoints().chunkBytes());
            checkpointer = new KafkaProducer<>(config);
            // fences the previous owner and settles its open transaction: after this, the checkpoint topic is final
            checkpointer.initTransactions();
            publisher = new CheckpointPublisher(checkpointer, spec, options.nodeId(), options.brokerWait(), () -> stopRequested);
        }

        private void closeCheckpointer() {
            if (checkpointer != null) {
                checkpointer.close(CLOSE_TIMEOUT);
                checkpointer = null;
                publisher = null;
            }
        }

        /** The previous owner of partition 0 may have left before it published the checkpoint of {@code ended}. */
        /** @return false when the group rebalanced before the missing checkpoint was committed */
        private boolean ensureCheckpoint(RoundState ended) {
            Optional<Checkpoint> latest = readLatestCheckpoint();
            if (latest.isPresent() && latest.get().manifest().epoch() >= ended.epoch()) {
                return true;
            }
            log.info("epoch {} has no checkpoint (its publisher left before it was committed); publishing it", ended.epoch());
            return publishCheckpoint(ended);
        }

        /**
         * @return false when the group rebalanced before the checkpoint was committed (the next
         *     generation's owner of partition 0 publishes it); true when it is committed, or is
         *     another node's to publish
         */
        private boolean publishCheckpoint(RoundState ended) {
            if (publisher == null) {
                return true; // fenced by a newer owner of partition 0: the checkpoint is its to publish
            }
            Map<String, Double> epochMetrics = new java.util.LinkedHashMap<>(ended.epochSums().metrics(spec.model()));
            double seconds = (System.nanoTime() - epochStarted) / 1e9;
            epochMetrics.put("seconds", seconds);
            epochMetrics.put("samples_per_second", seconds > 0 ? ended.epochSums().samples() / seconds : 0);
            byte[] payload = SafeTensors.write(new ArrayList<>(ended.state().tensors().values()), payloadMetadata(ended.epoch()));
            try {
                long publishing = System.nanoTime();
                CheckpointManifest m = publisher.publish(new CheckpointPublisher.EpochResult(settings, false, ended.epoch(), ended.step(),
                        state.parameterInfos(), ended.plan().all(), epochMetrics, view.group(), ended.round(),
                        new CheckpointManifest.SyncPoint(ended.nextOffset(), ended.generation()),
                        RecordsChecksum.format(ended.epochSums().recordsChecksum())), payload);
                if (m != null) {
                    metrics.checkpointPublished(System.nanoTime() - publishing);
                    listeners.forEach(l -> l.onCheckpoint(m));
                    truncateSyncLog(ended.nextOffset());
                }
            } catch (RebalancedException e) {
                log.warn("{}; the owner of partition 0 in the next generation publishes it", e.getMessage());
                return false;
            } catch (ProducerFencedException | InvalidProducerEpochException e) {
                log.warn("another node took over the checkpoints of run {} (it owns partition 0 now); epoch {} is its to publish",
                        spec.run(), ended.epoch());
                closeCheckpointer();
            }
            return true;
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
                admin.deleteRecords(Map.of(new TopicPartition(Topics.sync(spec.run()), 0), RecordsToDelete.beforeOffset(before)))
                        .all().get(10, TimeUnit.SECONDS);
                log.debug("deleted the sync log of run {} before offset {}", spec.run(), before);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException | RuntimeException e) {
                log.warn("could not delete the sync log of run {} before offset {} (it only grows until a later checkpoint"
                        + " succeeds): {}", spec.run(), before, e.toString());
            }
        }

        /** A CHECKPOINT command: the weights now, as a snapshot of the epoch in progress. @return the acknowledgement's outcome */
        private String snapshot(int epoch) {
            if (!ownsPartitionZero()) {
                return ControlMessage.Ack.APPLIED + ": the owner of partition 0 publishes the snapshot";
            }
            if (publisher == null) {
                return "refused: this node cannot publish checkpoints now (see its log)";
            }
            Map<String, Double> metrics = meter.metrics(spec.model(), 0, 0);
            byte[] payload = state.toPayload(payloadMetadata(epoch));
            try {
                CheckpointManifest m = publisher.publish(new CheckpointPublisher.EpochResult(settings, true, epoch, state.step(),
                        state.parameterInfos(), List.of(), metrics, null, round, null, null), payload);
                return m == null ? "refused: stopping" : ControlMessage.Ack.APPLIED + ": checkpoint " + m.checkpointId();
            } catch (RebalancedException | RuntimeException e) {
                log.warn("the snapshot at step {} could not be published: {}", state.step(), e.toString());
                return "refused: could not publish it (see the trainer's log)";
            }
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

    /**
     * The weights {@code init.from} names: a file, or a checkpoint of another run read from its
     * topic now (so {@code run:NAME} is that run's latest checkpoint when this run first starts).
     */
    private InitialWeights initialWeights() {
        Optional<CheckpointRef> ref = spec.init().checkpoint();
        if (ref.isEmpty()) {
            return spec.init().file().map(InitialWeights::read).orElse(null);
        }
        try (Admin admin = Preflight.admin(kafka); KafkaConsumer<byte[], byte[]> reader = new KafkaConsumer<>(kafka.consumer(null))) {
            RunCheckpoints.Found found = RunCheckpoints.find(admin, reader, kafka.bootstrapServers(), ref.get(), READ_TIMEOUT);
            return InitialWeights.of(found.checkpoint(), ref.get() + ", " + found.why());
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
