package io.streamtrain.trainer;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.MeterBinder;
import io.streamtrain.core.checkpoint.CheckpointManifest;
import io.streamtrain.core.codec.RejectReason;
import io.streamtrain.core.metrics.Scrapes;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.trainer.control.ControlFeed;
import io.streamtrain.trainer.feed.BatchFeed;
import io.streamtrain.trainer.model.StepReport;
import io.streamtrain.trainer.sync.SyncChannel;
import java.time.Duration;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.function.ToDoubleFunction;

/**
 * A trainer node's meters (names as Prometheus shows them are in the README's metrics
 * table). Counters count work done, including work a rollback later discards: they measure
 * throughput, the checkpoints measure progress. Meters labelled by a reason or a command are
 * registered for every value up front, so a query over them has data before the first one.
 * Meters hold their state weakly: everything they read hangs off this object, which the
 * node keeps.
 */
final class TrainerMetrics implements TrainingListener, MeterBinder, AutoCloseable {
    /** Control commands a trainer applies, by the name the metric labels them with. */
    static final java.util.List<String> COMMANDS =
            java.util.List.of("stop", "pause", "resume", "set", "revoke", "checkpoint", "rollback");

    private Counter samples;
    private Counter steps;
    private Counter skipped;
    private Counter records;
    private Counter dataWait;
    private Counter syncWait;
    private Counter syncBytes;
    private Counter syncRounds;
    private Counter rollbacks;
    private Counter checkpoints;
    private Timer step;
    private Timer checkpointPublish;
    private final Map<RejectReason, Counter> deadLetters = new EnumMap<>(RejectReason.class);
    private final Map<String, Counter> commands = new LinkedHashMap<>();
    private volatile int epoch;
    private volatile double dataLoss = Double.NaN;
    private volatile double l1;
    private volatile double l2;
    private volatile double l2sp;
    private volatile double weightNorm = Double.NaN;
    private volatile double gradNorm = Double.NaN;
    private volatile double clippedGradNorm = Double.NaN;
    private volatile double learningRate = Double.NaN;
    private volatile int partitions;
    private volatile boolean paused;
    private volatile boolean awaitingEvaluation;
    private volatile long checkpointBytes;
    /** The spec as trained now (SET commands change it). */
    private final Supplier<RunSpec> settings;

    private volatile ControlFeed control;
    private volatile BatchFeed feed;
    private volatile SyncChannel sync;

    /** What {@link #bindTo} registered, for {@link #close()} to remove. */
    private final java.util.List<Meter> registered = new java.util.ArrayList<>();

    private MeterRegistry registry;

    /** @param settings the spec as trained now (SET commands change it) */
    TrainerMetrics(Supplier<RunSpec> settings) {
        this.settings = settings;
    }

    @Override
    public void bindTo(MeterRegistry registry) {
        this.registry = registry;
        MeterRegistry r = registry;
        samples = counter(r, "samples", "Samples trained");
        steps = counter(r, "steps", "Optimizer steps taken");
        skipped = counter(r, "steps.skipped", "Steps whose loss or gradient was not finite: no update was made");
        records = counter(r, "records", "Train-topic records read (rejected ones included)");
        dataWait = track(Counter.builder("streamtrain.trainer.data.wait")
                .baseUnit("seconds")
                .description("Time the training thread waited for its next batch")
                .register(r));
        syncWait = track(Counter.builder("streamtrain.trainer.sync.wait")
                .baseUnit("seconds")
                .description(
                        "Time from handing a contribution to Kafka until its sync round closed (writing it included)")
                .register(r));
        syncBytes = track(Counter.builder("streamtrain.trainer.sync")
                .baseUnit("bytes")
                .description("Bytes this node wrote to the run's sync topic")
                .register(r));
        syncRounds = counter(r, "sync.rounds", "Sync rounds closed");
        rollbacks = counter(
                r, "rollbacks", "Roll-backs to the last closed round (every assignment: start, join, leave, crash)");
        checkpoints = counter(r, "checkpoints", "Checkpoints this node published");
        track(FunctionCounter.builder(
                        "streamtrain.trainer.evictions", this, m -> m.feed == null ? 0 : m.feed.evictions())
                .description(
                        "Times this node left the group because its training thread stalled longer than sync.timeoutSeconds")
                .register(r));
        track(FunctionCounter.builder(
                        "streamtrain.trainer.control.ignored", this, m -> m.control == null ? 0 : m.control.ignored())
                .description(
                        "Control messages ignored: malformed, of a type this version does not know, or a replay of one read before")
                .register(r));
        track(FunctionCounter.builder(
                        "streamtrain.trainer.sync.refused", this, m -> m.sync == null ? 0 : m.sync.refused())
                .description(
                        "Sync records (joins, contributions) refused for their signature (signatures checked): in no round")
                .register(r));
        track(FunctionCounter.builder(
                        "streamtrain.trainer.control.refused", this, m -> m.control == null ? 0 : m.control.refused())
                .description(
                        "Control messages and evaluations refused for their signature (signatures checked): never acted on")
                .register(r));
        for (RejectReason reason : RejectReason.values()) {
            deadLetters.put(
                    reason,
                    track(Counter.builder("streamtrain.trainer.dlq.records")
                            .tag("reason", reason.code())
                            .description("Train records sent to the run's dead-letter topic, by reason")
                            .register(r)));
        }
        for (String command : COMMANDS) {
            commands.put(
                    command,
                    track(Counter.builder("streamtrain.trainer.control.commands")
                            .tag("command", command)
                            .description("Control commands applied")
                            .register(r)));
        }
        step = track(Timer.builder("streamtrain.trainer.step")
                .description("Time of one training step (forward, backward, update)")
                .publishPercentileHistogram()
                .minimumExpectedValue(Duration.ofMillis(1))
                .maximumExpectedValue(Duration.ofMinutes(1))
                .register(r));
        checkpointPublish = track(Timer.builder("streamtrain.trainer.checkpoint.publish")
                .description("Time to publish a checkpoint (payload, manifest, offsets, in one transaction)")
                .publishPercentileHistogram()
                .minimumExpectedValue(Duration.ofMillis(10))
                .maximumExpectedValue(Duration.ofMinutes(5))
                .register(r));
        gauge(r, "epoch", "Epoch being trained", m -> m.epoch);
        gauge(r, "loss", "data", "Last step's loss without penalties", m -> m.dataLoss);
        gauge(r, "loss", "l1", "Last step's L1 penalty (scaled)", m -> m.l1);
        gauge(r, "loss", "l2", "Last step's L2 penalty (scaled)", m -> m.l2);
        gauge(r, "loss", "l2sp", "Last step's L2-SP penalty (scaled)", m -> m.l2sp);
        gauge(
                r,
                "loss",
                "total",
                "Last step's minimized loss: data loss plus every penalty",
                m -> m.dataLoss + m.l1 + m.l2 + m.l2sp);
        gauge(r, "weight.norm", "Global L2 norm of the parameters at the start of the last step", m -> m.weightNorm);
        track(Gauge.builder("streamtrain.trainer.grad.norm", this, m -> m.gradNorm)
                .tag("stage", "raw")
                .description("Global gradient norm of the last step, before/after clipping")
                .register(r));
        track(Gauge.builder("streamtrain.trainer.grad.norm", this, m -> m.clippedGradNorm)
                .tag("stage", "clipped")
                .description("Global gradient norm of the last step, before/after clipping")
                .register(r));
        gauge(r, "learning.rate", "Learning rate of the last step", m -> m.learningRate);
        setting(r, "l1", s -> s.regularization().l1());
        setting(r, "l2", s -> s.regularization().l2());
        setting(r, "l2sp", s -> s.regularization().l2sp());
        setting(r, "weight_decay", s -> s.regularization().weightDecay());
        setting(r, "dropout", s -> s.model().dropout());
        gauge(r, "partitions", "Train-topic partitions assigned to this node", m -> m.partitions);
        gauge(r, "paused", "1 while a PAUSE holds the node", m -> m.paused ? 1 : 0);
        gauge(
                r,
                "awaiting_evaluation",
                "1 while the node waits for the evaluator to catch up (evaluation.maxLag)",
                m -> m.awaitingEvaluation ? 1 : 0);
        gauge(
                r,
                "awaiting_data",
                "1 while a continuous run's window waits for records not produced yet (the topic is idle)",
                m -> m.feed != null && m.feed.awaitingData() ? 1 : 0);
        gauge(
                r,
                "window.lag",
                "Records of a continuous run that arrived on this node's partitions and are not trained yet",
                m -> m.feed == null ? 0 : m.feed.backlog());
        track(Gauge.builder("streamtrain.trainer.checkpoint.size", this, m -> m.checkpointBytes)
                .baseUnit("bytes")
                .description("Payload size of the last checkpoint this node published")
                .register(r));
    }

    private Counter counter(MeterRegistry r, String name, String description) {
        return track(Counter.builder("streamtrain.trainer." + name)
                .description(description)
                .register(r));
    }

    private void gauge(MeterRegistry r, String name, String description, ToDoubleFunction<TrainerMetrics> f) {
        track(Gauge.builder("streamtrain.trainer." + name, this, f)
                .description(description)
                .register(r));
    }

    private void gauge(
            MeterRegistry r, String name, String term, String description, ToDoubleFunction<TrainerMetrics> f) {
        track(Gauge.builder("streamtrain.trainer." + name, this, f)
                .tag("term", term)
                .description(description)
                .register(r));
    }

    private void setting(MeterRegistry r, String name, ToDoubleFunction<RunSpec> f) {
        track(Gauge.builder("streamtrain.trainer.setting", this, m -> f.applyAsDouble(m.settings.get()))
                .tag("name", name)
                .description("Regularization setting in effect (the spec's, or a SET command's)")
                .register(r));
    }

    private <M extends Meter> M track(M meter) {
        registered.add(meter);
        return meter;
    }

    /** Removes every meter {@link #bindTo} registered. */
    @Override
    public void close() {
        if (registry != null) {
            registered.forEach(registry::remove);
            registered.clear();
        }
    }

    @Override
    public void onStep(int epoch, StepReport report) {
        this.epoch = epoch;
        samples.increment(report.samples());
        steps.increment();
        if (report.skipped()) {
            skipped.increment();
        }
        step.record((long) (report.seconds() * 1e9), TimeUnit.NANOSECONDS);
        Scrapes.together(
                () -> { // one step's figures in one scrape: clipped_grad_norm <= grad_norm, say
                    dataLoss = report.dataLoss();
                    l1 = report.l1();
                    l2 = report.l2();
                    l2sp = report.l2sp();
                    weightNorm = report.weightNorm();
                    gradNorm = report.gradNorm();
                    clippedGradNorm = report.clippedGradNorm();
                    learningRate = report.learningRate();
                });
    }

    @Override
    public void onCheckpoint(CheckpointManifest manifest) {
        if (manifest.payload() != null) {
            checkpointBytes = manifest.payload().size();
        }
        checkpoints.increment();
    }

    @Override
    public void onRollback(int resumeEpoch, long step) {
        epoch = resumeEpoch;
        rollbacks.increment();
    }

    /** The sync channel whose refusals the counter reads (one per start of the node's loop). */
    void sync(SyncChannel channel) {
        this.sync = channel;
    }

    /** The feeds whose own counts (evictions, ignored control messages) the counters read. */
    void feeds(BatchFeed feed, ControlFeed control) {
        if (feed != null) {
            this.feed = feed;
        }
        if (control != null) {
            this.control = control;
        }
    }

    @Override
    public void onDataWait(long nanos) {
        dataWait.increment(nanos / 1e9);
    }

    @Override
    public void onContributed(long records, long bytes) {
        this.records.increment(records);
        syncBytes.increment(bytes);
    }

    @Override
    public void onRoundClosed(double waitSeconds) {
        syncRounds.increment();
        syncWait.increment(waitSeconds);
    }

    @Override
    public void onAssignment(java.util.List<Integer> assigned) {
        partitions = assigned.size();
    }

    @Override
    public void onPaused(boolean p) {
        paused = p;
    }

    @Override
    public void onAwaitingEvaluation(boolean waiting) {
        awaitingEvaluation = waiting;
    }

    @Override
    public void onDeadLetter(RejectReason reason) {
        deadLetters.get(reason).increment();
    }

    @Override
    public void onCommand(String command, boolean applied) {
        Counter c = commands.get(command.toLowerCase(Locale.ROOT));
        if (applied && c != null) {
            c.increment();
        }
    }

    @Override
    public void onCheckpointPublishTime(long nanos) {
        checkpointPublish.record(nanos, TimeUnit.NANOSECONDS);
    }
}
