package io.streamtrain.trainer;

import static io.streamtrain.core.logging.Logs.escape;

import ai.djl.engine.Engine;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.streamtrain.core.checkpoint.Checkpoint;
import io.streamtrain.core.checkpoint.CheckpointManifest;
import io.streamtrain.core.codec.SafeTensors;
import io.streamtrain.core.codec.SafeTensorsException;
import io.streamtrain.core.control.ControlMessage;
import io.streamtrain.core.djl.Engines;
import io.streamtrain.core.kafka.KafkaSettings;
import io.streamtrain.core.kafka.StartupException;
import io.streamtrain.core.metrics.Health;
import io.streamtrain.core.protocol.RoundSums;
import io.streamtrain.core.protocol.SyncCodec;
import io.streamtrain.core.signing.Right;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.core.topics.Topics;
import io.streamtrain.trainer.feed.EpochPlan;
import io.streamtrain.trainer.feed.Windowing;
import io.streamtrain.trainer.model.InitialWeights;
import io.streamtrain.trainer.model.ModelState;
import io.streamtrain.trainer.sync.Combiner;
import io.streamtrain.trainer.sync.RoundState;
import io.streamtrain.trainer.sync.SyncChannel;
import io.streamtrain.trainer.sync.SyncLog;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
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
    /** Resuming from a truncated sync log reads the latest checkpoint again; this many times in a row at most. */
    private static final int MAX_STARTS = 5;

    /** How {@link #run()} ended. */
    public enum Outcome {
        /** maxEpochs trained and checkpointed: the run is done (exit 0). */
        FINISHED,
        /** a STOP on the run's control topic (now, or before this node started): the run is done (exit 0). */
        STOPPED,
        /**
         * asked to leave ({@link #requestStop()}, SIGTERM) before the run was done: a restart
         * resumes it (exit 143, so Kubernetes does not count the pod's Job index as complete).
         */
        INTERRUPTED
    }

    private final RunSpec spec;
    private final KafkaSettings kafka;
    private final TrainerOptions options;
    private final List<TrainingListener> listeners = new CopyOnWriteArrayList<>();
    private final CountDownLatch finished = new CountDownLatch(1);
    private final StopSignal stop = new StopSignal();
    /** Commands read by the control feed's thread, applied by the training thread at its next tick. */
    private final ConcurrentLinkedQueue<ControlMessage> inbox = new ConcurrentLinkedQueue<>();

    private final Commands commands;
    private final MeterRegistry registry;
    private final Health health;
    private final TrainerMetrics metrics;
    private volatile Outcome outcome;

    /** A node whose meters nobody scrapes (tests, benchmarks, in-process use). */
    public TrainerNode(RunSpec spec, KafkaSettings kafka, TrainerOptions options) {
        this(spec, kafka, options, new SimpleMeterRegistry(), new Health(Duration.ofMinutes(2)));
    }

    /**
     * @param registry where the node's meters go (and its Kafka clients')
     * @param health what the node's {@code /healthz} and {@code /readyz} report
     */
    public TrainerNode(
            RunSpec spec, KafkaSettings kafka, TrainerOptions options, MeterRegistry registry, Health health) {
        this.spec = spec;
        this.kafka = kafka;
        this.options = options;
        this.commands = new Commands(spec);
        this.registry = registry;
        this.health = health;
        this.metrics = new TrainerMetrics(commands::current);
        metrics.bindTo(registry);
        listeners.add(new LoggingListener(spec, options.logEverySteps()));
        listeners.add(metrics);
    }

    public TrainerNode addListener(TrainingListener listener) {
        listeners.add(listener);
        return this;
    }

    /** Stops at the next step boundary; the unfinished epoch is abandoned, never half-committed. */
    public void requestStop() {
        stop.request();
    }

    /** How {@link #run()} ended; empty while it runs, or when it failed. */
    public Optional<Outcome> outcome() {
        return Optional.ofNullable(outcome);
    }

    /** Waits for {@link #run()} to return, up to {@code timeout}. */
    public boolean awaitFinished(Duration timeout) throws InterruptedException {
        return finished.await(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    /**
     * Trains until maxEpochs are checkpointed or a stop is requested: checks the run's
     * topics, replays its control history, and then trains from its latest checkpoint.
     *
     * @throws StartupException for problems the operator must fix (exit code in it)
     */
    public Outcome run() throws InterruptedException {
        try {
            outcome = start();
            return outcome;
        } finally {
            finished.countDown();
        }
    }

    private Outcome start() throws InterruptedException {
        kafka.signing().requireSigner(Right.TRAINER, "the trainer");
        Engine engine = Engines.pytorch();
        int trainMaxMessageBytes = RunSetup.prepare(kafka, spec);
        try (ControlChannel control = ControlChannel.open(
                        kafka,
                        spec.run(),
                        options.nodeId(),
                        this::onCommand,
                        spec.evaluation().holdsTrainers());
                CheckpointChannel checkpoints =
                        new CheckpointChannel(kafka, spec, options.nodeId(), options.brokerWait(), stop::requested)) {
            metrics.feeds(null, control.feed());
            Optional<ControlMessage.Stop> stopped = commands.replay(control.history());
            if (stopped.isPresent()) {
                ControlMessage.Stop s = stopped.get();
                log.info(
                        "run {} was stopped at {} by {} ({}: {}); a stopped run is not restarted",
                        spec.run(),
                        escape(s.time()),
                        escape(s.source()),
                        escape(s.reason()),
                        escape(s.explanation()));
                return Outcome.STOPPED;
            }
            commands.registeredSpec().ifPresent(checkpoints::registered);
            control.start();
            commands.unanswered().forEach(refused -> control.acknowledge(refused.id(), 0, refused.outcome()));
            listeners.forEach(l -> l.onPaused(commands.paused()));
            health.ready(true);
            try {
                return train(engine, control, checkpoints, trainMaxMessageBytes);
            } finally {
                health.ready(false);
                health.state("stopped");
            }
        }
    }

    /** On the control feed's thread: a STOP takes effect at once, the rest at the next step boundary. */
    private void onCommand(ControlMessage m) {
        if (m instanceof ControlMessage.Stop s) {
            log.info(
                    "STOP {} from {}: {} ({})",
                    escape(s.id()),
                    escape(s.source()),
                    escape(s.reason()),
                    escape(s.explanation()));
            stop.request(s);
        } else {
            inbox.add(m);
        }
    }

    /**
     * Starts from the run's latest checkpoint (or its beginning) and runs the node's loop. A
     * checkpoint read a moment before a newer one deleted the sync rounds after it is read again.
     */
    private Outcome train(
            Engine engine, ControlChannel control, CheckpointChannel checkpoints, int trainMaxMessageBytes)
            throws InterruptedException {
        for (int attempt = 1; ; attempt++) {
            Optional<Checkpoint> latest = checkpoints.latest();
            if (stop.requested()) {
                ControlMessage.Stop s = stop.command();
                if (s != null) {
                    // obeyed before the first step: still say so
                    control.acknowledge(
                            s.id(), latest.map(c -> c.manifest().step()).orElse(0L), ControlMessage.Ack.APPLIED);
                    return Outcome.STOPPED;
                }
                return Outcome.INTERRUPTED;
            }
            if (latest.isPresent() && latest.get().manifest().epoch() >= spec.maxEpochs()) {
                RunChecks.requireSameModel(spec, latest.get().manifest());
                log.info("run {} already has its {} epochs; nothing to do", spec.run(), spec.maxEpochs());
                return Outcome.FINISHED;
            }
            // a run with checkpoints of its own resumes from them: init.from only starts a run
            InitialWeights from = latest.isPresent() ? null : checkpoints.initialWeights();
            NodeLoop loop = null;
            try (ModelState state = ModelState.initialize(spec, engine, from)) {
                Start start = latest.map(c -> resumeFrom(c)).orElseGet(() -> begin(state, from));
                SyncLog syncLog = new SyncLog(
                        new Combiner(spec.sync()),
                        start.round(),
                        start.round().epochEnd() ? start.round() : null,
                        start.startedAt(),
                        Windowing.of(spec));
                try (NodePorts ports = NodePorts.open(
                        kafka, spec, options, syncLog, start.syncFrom(), trainMaxMessageBytes, checkpoints, registry)) {
                    metrics.feeds(ports.feed(), null);
                    metrics.sync(ports.sync());
                    loop = new NodeLoop(
                            spec, options, engine, state, syncLog, commands, inbox, stop, ports, control, listeners,
                            health);
                    return loop.run();
                }
            } catch (SyncChannel.TruncatedException e) {
                if (latest.isEmpty() && checkpoints.latest().isEmpty()) {
                    // rounds are deleted only below a checkpoint: one must exist, but none can be read
                    throw new IllegalStateException(
                            "the sync log " + Topics.sync(spec.run()) + " no longer holds the run's first rounds,"
                                    + " but run " + spec.run()
                                    + " has no checkpoint this node can read (see any warning above about a"
                                    + " checkpoint that did not verify): restore the checkpoints or their claim-check store, or start a new run id",
                            e);
                }
                if (attempt >= MAX_STARTS) {
                    throw e;
                }
                log.info("{}; reading the latest checkpoint again", e.getMessage());
                if (loop != null && loop.resumed()) {
                    attempt = 0; // a node that trained since its start meets a new truncation, not the same one again
                }
            }
        }
    }

    /** Where a node's loop starts: the round it resumes from, where the sync log is read from, and the run's start time. */
    private record Start(RoundState round, long syncFrom, long startedAt) {}

    private Start resumeFrom(Checkpoint latest) {
        CheckpointManifest m = latest.manifest();
        if (RunChecks.requireSameModel(spec, m)) {
            log.warn(
                    "the spec differs from the one checkpoint {} was trained with; continuing with the new one",
                    escape(m.checkpointId()));
        }
        int generation = m.sync() == null ? -1 : m.sync().generation();
        long syncFrom = m.sync() == null ? -1 : m.sync().offset();
        log.info(
                "resuming run {} from checkpoint {} (epoch {}, step {}) and the sync rounds after it",
                spec.run(),
                escape(m.checkpointId()),
                m.epoch(),
                m.step());
        // a checkpoint's offsets are the epoch it ended: the same plan again, or the window before the next
        EpochPlan next = EpochPlan.of(spec.data().train(), m.offsets())
                .windowed(Windowing.of(spec), m.epoch())
                .next();
        RoundState round = RoundState.start(
                m.round(), m.epoch(), m.step(), latest.payload(), next, generation, syncFrom, RoundSums.ZERO);
        return new Start(round, syncFrom, Instant.parse(m.time()).toEpochMilli());
    }

    private Start begin(ModelState state, InitialWeights from) {
        byte[] payload = state.toPayload(Map.of());
        // every node of a run must start from the same state: the fingerprint lets a reader of the logs compare them
        log.info(
                "starting run {} from {} (initial state crc32c {}){}",
                spec.run(),
                from == null ? "seed " + spec.init().seed() : from.source(),
                SyncCodec.crc32c(payload),
                state.frozen().isEmpty() ? "" : "; frozen (init.freeze): " + String.join(", ", state.frozen()));
        try {
            return new Start(RoundState.start(0, 0, 0, SafeTensors.read(payload), null, -1, 0, RoundSums.ZERO), -1, -1);
        } catch (SafeTensorsException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public void close() {
        requestStop();
    }
}
