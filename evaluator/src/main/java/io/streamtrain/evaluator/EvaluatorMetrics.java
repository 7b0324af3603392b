package io.streamtrain.evaluator;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.MeterBinder;
import io.streamtrain.core.evaluation.EvaluationRecord;
import io.streamtrain.core.metrics.Scrapes;
import io.streamtrain.evaluator.policy.StopReason;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.ToDoubleFunction;

/**
 * The evaluator's meters, per run (tag {@code run}); a run's meters appear when the
 * instance starts serving it. Counters by reason are registered for every reason at once.
 * Fed from the evaluator's events, which follow what it commits, so what the meters say is
 * what the evaluations topic says; one evaluation's values change together (one scrape never
 * shows half of them). Nothing is counted before {@link #bindTo}; {@link #close}
 * removes every meter it registered.
 */
final class EvaluatorMetrics implements EvaluatorEvents, MeterBinder, AutoCloseable {
    private final Map<String, Run> runs = new HashMap<>();
    private final List<Meter> registered = new ArrayList<>();
    private MeterRegistry registry;

    @Override
    public synchronized void bindTo(MeterRegistry registry) {
        this.registry = registry;
        runs.values().forEach(Run::register);
    }

    /** Removes every meter {@link #bindTo} registered; later events are not counted. */
    @Override
    public synchronized void close() {
        if (registry != null) {
            registered.forEach(registry::remove);
        }
        registered.clear();
        runs.clear();
        registry = null;
    }

    /** One run's meters and the values its gauges read (held here: meters hold their state weakly). */
    private final class Run {
        final String name;
        Counter evaluations;
        Timer evaluationTime;
        final Map<Rejection, Counter> rejected = new EnumMap<>(Rejection.class);
        final Map<StopReason, Counter> stops = new EnumMap<>(StopReason.class);
        volatile double valLoss = Double.NaN;
        volatile double valAccuracy = Double.NaN;
        volatile double valPerplexity = Double.NaN;
        volatile double trainLoss = Double.NaN;
        volatile double epoch;
        volatile double bestValue = Double.NaN;
        volatile double bestEpoch;
        volatile double patienceRemaining = Double.NaN;
        volatile double lastEvaluation = Double.NaN;
        volatile boolean stopped;
        volatile boolean degrading;
        volatile double lastPromotion = Double.NaN;
        Counter promotions;
        /** val_accuracy and val_perplexity exist only for runs whose scorer computes them. */
        boolean accuracy;

        boolean perplexity;
        boolean accuracyRegistered;
        boolean perplexityRegistered;

        Run(String name) {
            this.name = name;
            register();
        }

        void register() {
            if (registry == null || evaluations != null) {
                return;
            }
            evaluations = keep(Counter.builder("streamtrain.evaluator.evaluations")
                    .tag("run", name)
                    .description("Checkpoints evaluated (rejected ones not included)")
                    .register(registry));
            evaluationTime = keep(Timer.builder("streamtrain.evaluator.evaluation")
                    .tag("run", name)
                    .description("Time to compute a checkpoint's validation metrics")
                    .publishPercentileHistogram()
                    .minimumExpectedValue(Duration.ofMillis(1))
                    .maximumExpectedValue(Duration.ofMinutes(10))
                    .register(registry));
            for (Rejection r : Rejection.values()) {
                rejected.put(
                        r,
                        keep(Counter.builder("streamtrain.evaluator.checkpoints.rejected")
                                .tag("run", name)
                                .tag("reason", r.code())
                                .description(
                                        "Checkpoints rejected, by reason (each also has an evaluation record and a dead letter)")
                                .register(registry)));
            }
            for (StopReason s : StopReason.values()) {
                stops.put(
                        s,
                        keep(Counter.builder("streamtrain.evaluator.early.stops")
                                .tag("run", name)
                                .tag("reason", s.code())
                                .description("Runs stopped, by reason")
                                .register(registry)));
            }
            gauge(
                    "val.loss",
                    "Validation loss (data loss, evaluation mode) of the last evaluated checkpoint",
                    r -> r.valLoss);
            gauge(
                    "train.loss",
                    "Training data loss of the last evaluated checkpoint's epoch, from its manifest",
                    r -> r.trainLoss);
            gauge("epoch", "Epoch of the last evaluated checkpoint", r -> r.epoch);
            gauge("best.value", "Best value of the monitored metric so far", r -> r.bestValue);
            gauge("best.epoch", "Epoch of the best checkpoint so far", r -> r.bestEpoch);
            gauge(
                    "patience.remaining",
                    "Evaluations without improvement still allowed before a stop",
                    r -> r.patienceRemaining);
            keep(Gauge.builder("streamtrain.evaluator.last.evaluation.timestamp", this, r -> r.lastEvaluation)
                    .tag("run", name)
                    .baseUnit("seconds")
                    .description("When the run's last evaluation was committed (Unix time)")
                    .register(registry));
            gauge("stopped", "1 once the run is stopped (by the evaluator or an operator)", r -> r.stopped ? 1 : 0);
            gauge(
                    "degrading",
                    "1 while a continuous run's last window was judged degrading (below the promoted model for patience windows in a row, or another rule fired)",
                    r -> r.degrading ? 1 : 0);
            promotions = keep(Counter.builder("streamtrain.evaluator.promotions")
                    .tag("run", name)
                    .description("Windows of a continuous run promoted (published on streamtrain.<run>.models)")
                    .register(registry));
            keep(Gauge.builder("streamtrain.evaluator.last.promotion.timestamp", this, r -> r.lastPromotion)
                    .tag("run", name)
                    .baseUnit("seconds")
                    .description("When a continuous run's model was last promoted (Unix time)")
                    .register(registry));
            registerOptional();
        }

        void registerOptional() {
            if (registry == null) {
                return;
            }
            if (accuracy && !accuracyRegistered) {
                accuracyRegistered = true;
                gauge(
                        "val.accuracy",
                        "Validation accuracy of the last evaluated checkpoint (classification)",
                        r -> r.valAccuracy);
            }
            if (perplexity && !perplexityRegistered) {
                perplexityRegistered = true;
                gauge(
                        "val.perplexity",
                        "Validation perplexity, exp(val_loss), of the last evaluated checkpoint",
                        r -> r.valPerplexity);
            }
        }

        void gauge(String name, String description, ToDoubleFunction<Run> f) {
            keep(Gauge.builder("streamtrain.evaluator." + name, this, f)
                    .tag("run", this.name)
                    .description(description)
                    .register(registry));
        }

        void show(EvaluationRecord e) {
            Map<String, Double> m = e.metrics();
            accuracy |= m.containsKey(CheckpointScorer.VAL_ACCURACY);
            perplexity |= m.containsKey(CheckpointScorer.VAL_PERPLEXITY);
            registerOptional();
            valLoss = m.getOrDefault(CheckpointScorer.VAL_LOSS, Double.NaN);
            valAccuracy = m.getOrDefault(CheckpointScorer.VAL_ACCURACY, Double.NaN);
            valPerplexity = m.getOrDefault(CheckpointScorer.VAL_PERPLEXITY, Double.NaN);
            trainLoss = e.trainLoss() == null ? Double.NaN : e.trainLoss();
            epoch = e.epoch();
            if (e.best() != null) {
                bestValue = e.best().value();
                bestEpoch = e.best().epoch();
            }
            patienceRemaining = e.patienceLeft();
            lastEvaluation = e.time() == null
                    ? System.currentTimeMillis() / 1e3
                    : Instant.parse(e.time()).toEpochMilli() / 1e3;
            degrading = EvaluationRecord.DEGRADING.equals(e.decision());
            if (EvaluationRecord.PROMOTE.equals(e.decision())) {
                lastPromotion = lastEvaluation;
            }
        }
    }

    private <M extends Meter> M keep(M meter) {
        registered.add(meter);
        return meter;
    }

    private Run run(String name) {
        return runs.computeIfAbsent(name, Run::new);
    }

    /** Makes a run's meters exist before its first evaluation (so dashboards show it from the start). */
    @Override
    public synchronized void serving(String run) {
        run(run);
    }

    @Override
    public synchronized void committed(EvaluationRecord e) {
        Run r = run(e.run());
        if (!e.evaluated()) {
            return; // rejections are counted with their reason by rejected(); snapshots are not part of the run's curve
        }
        Scrapes.together(() -> {
            r.show(e);
            if (r.evaluations != null) {
                if (EvaluationRecord.PROMOTE.equals(e.decision())) {
                    r.promotions.increment();
                }
                r.evaluations.increment();
                r.evaluationTime.record((long) (e.evaluationSeconds() * 1e9), TimeUnit.NANOSECONDS);
            }
            if (EvaluationRecord.STOP.equals(e.decision())) {
                stopped(e.run(), e.reason());
            }
        });
    }

    /** A run rebuilt from its evaluations topic: its gauges show its last evaluation again (counters start at 0). */
    @Override
    public synchronized void restored(EvaluationRecord last) {
        Run r = run(last.run());
        Scrapes.together(() -> r.show(last));
    }

    @Override
    public synchronized void rejected(String run, Rejection why) {
        Counter c = run(run).rejected.get(why);
        if (c != null) {
            c.increment();
        }
    }

    /** The run stopped, for a {@link StopReason} code (an operator's STOP included); counted once per run. */
    @Override
    public synchronized void stopped(String run, String reasonCode) {
        Run r = run(run);
        if (r.stopped) {
            return;
        }
        r.stopped = true;
        StopReason.fromCode(reasonCode).map(r.stops::get).ifPresent(Counter::increment);
    }
}
