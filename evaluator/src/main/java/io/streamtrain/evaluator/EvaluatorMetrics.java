package io.streamtrain.evaluator;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.streamtrain.core.evaluation.EvaluationRecord;
import io.streamtrain.evaluator.policy.StopReason;
import java.time.Duration;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.ToDoubleFunction;

/**
 * The evaluator's meters, per run (tag {@code run}); a run's meters appear with its first
 * evaluation or rejection. Counters by reason are registered for every reason at once.
 * Fed from the evaluation records the service commits, so what the meters say is what
 * the evaluations topic says.
 */
final class EvaluatorMetrics implements Consumer<EvaluationRecord> {
    /** Why a checkpoint was rejected, as the {@code reason} label says it. */
    enum Rejection {
        /** The payload does not verify: hash, size, or not safetensors. */
        CORRUPT,
        /** Chunks missing, or a claim-checked payload that cannot be read. */
        INCOMPLETE,
        /** It does not fit: its spec, the model, the validation data or the monitored metric. */
        MISMATCH,
        /** Anything else that kept it from being scored. */
        UNREADABLE;

        String code() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    private final MeterRegistry registry;
    private final Map<String, Run> runs = new HashMap<>();

    EvaluatorMetrics(MeterRegistry registry) {
        this.registry = registry;
    }

    /** One run's meters and the values its gauges read (held here: meters hold their state weakly). */
    private final class Run {
        final String name;
        final Counter evaluations;
        final Timer evaluationTime;
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
        boolean accuracy;
        boolean perplexity;

        Run(String name) {
            this.name = name;
            evaluations = Counter.builder("streamtrain.evaluator.evaluations").tag("run", name)
                    .description("Checkpoints evaluated (rejected ones not included)").register(registry);
            evaluationTime = Timer.builder("streamtrain.evaluator.evaluation").tag("run", name)
                    .description("Time to compute a checkpoint's validation metrics").publishPercentileHistogram()
                    .minimumExpectedValue(Duration.ofMillis(1)).maximumExpectedValue(Duration.ofMinutes(10)).register(registry);
            for (Rejection r : Rejection.values()) {
                rejected.put(r, Counter.builder("streamtrain.evaluator.checkpoints.rejected").tag("run", name).tag("reason", r.code())
                        .description("Checkpoints rejected, by reason (each also has an evaluation record and a dead letter)")
                        .register(registry));
            }
            for (StopReason s : StopReason.values()) {
                stops.put(s, Counter.builder("streamtrain.evaluator.early.stops").tag("run", name).tag("reason", s.code())
                        .description("Runs stopped, by reason").register(registry));
            }
            gauge("val.loss", "Validation loss (data loss, evaluation mode) of the last evaluated checkpoint", r -> r.valLoss);
            gauge("train.loss", "Training data loss of the last evaluated checkpoint's epoch, from its manifest", r -> r.trainLoss);
            gauge("epoch", "Epoch of the last evaluated checkpoint", r -> r.epoch);
            gauge("best.value", "Best value of the monitored metric so far", r -> r.bestValue);
            gauge("best.epoch", "Epoch of the best checkpoint so far", r -> r.bestEpoch);
            gauge("patience.remaining", "Evaluations without improvement still allowed before a stop", r -> r.patienceRemaining);
            Gauge.builder("streamtrain.evaluator.last.evaluation.timestamp", this, r -> r.lastEvaluation).tag("run", name)
                    .baseUnit("seconds").description("When the run's last evaluation was committed (Unix time)").register(registry);
            gauge("stopped", "1 once the run is stopped (by the evaluator or an operator)", r -> r.stopped ? 1 : 0);
        }

        void gauge(String name, String description, ToDoubleFunction<Run> f) {
            Gauge.builder("streamtrain.evaluator." + name, this, f).tag("run", this.name).description(description).register(registry);
        }

        /** val_accuracy and val_perplexity exist only for runs whose scorer computes them. */
        void optional(Map<String, Double> metrics) {
            if (!accuracy && metrics.containsKey(CheckpointScorer.VAL_ACCURACY)) {
                accuracy = true;
                gauge("val.accuracy", "Validation accuracy of the last evaluated checkpoint (classification)", r -> r.valAccuracy);
            }
            if (!perplexity && metrics.containsKey(CheckpointScorer.VAL_PERPLEXITY)) {
                perplexity = true;
                gauge("val.perplexity", "Validation perplexity, exp(val_loss), of the last evaluated checkpoint", r -> r.valPerplexity);
            }
        }
    }

    private Run run(String name) {
        return runs.computeIfAbsent(name, Run::new);
    }

    /** Makes a run's meters exist before its first evaluation (so dashboards show it from the start). */
    void serving(String runName) {
        run(runName);
    }

    @Override
    public void accept(EvaluationRecord e) {
        Run r = run(e.run());
        if (!e.evaluated()) {
            return; // rejections are counted with their reason by rejected(); snapshots are not part of the run's curve
        }
        show(r, e);
        r.evaluations.increment();
        r.evaluationTime.record((long) (e.evaluationSeconds() * 1e9), TimeUnit.NANOSECONDS);
        if (EvaluationRecord.STOP.equals(e.decision())) {
            stopped(e.run(), e.reason());
        }
    }

    /** A run rebuilt from its evaluations topic: its gauges show its last evaluation again (counters start at 0). */
    void restored(EvaluationRecord last) {
        show(run(last.run()), last);
    }

    private static void show(Run r, EvaluationRecord e) {
        Map<String, Double> m = e.metrics();
        r.optional(m);
        r.valLoss = m.getOrDefault(CheckpointScorer.VAL_LOSS, Double.NaN);
        r.valAccuracy = m.getOrDefault(CheckpointScorer.VAL_ACCURACY, Double.NaN);
        r.valPerplexity = m.getOrDefault(CheckpointScorer.VAL_PERPLEXITY, Double.NaN);
        r.trainLoss = e.trainLoss() == null ? Double.NaN : e.trainLoss();
        r.epoch = e.epoch();
        if (e.best() != null) {
            r.bestValue = e.best().value();
            r.bestEpoch = e.best().epoch();
        }
        r.patienceRemaining = e.patienceLeft();
        r.lastEvaluation = e.time() == null ? System.currentTimeMillis() / 1e3 : java.time.Instant.parse(e.time()).toEpochMilli() / 1e3;
    }

    void rejected(String runName, Rejection why) {
        run(runName).rejected.get(why).increment();
    }

    /** The run stopped, for a {@link StopReason} code (an operator's STOP included). */
    void stopped(String runName, String reasonCode) {
        Run r = run(runName);
        if (r.stopped) {
            return;
        }
        r.stopped = true;
        StopReason.fromCode(reasonCode).map(r.stops::get).ifPresent(Counter::increment);
    }
}
