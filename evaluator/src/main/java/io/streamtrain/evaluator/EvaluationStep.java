package io.streamtrain.evaluator;

import io.streamtrain.core.checkpoint.CheckpointManifest;
import io.streamtrain.core.control.ControlMessage;
import io.streamtrain.core.evaluation.BestCheckpoint;
import io.streamtrain.core.evaluation.EvaluationRecord;
import io.streamtrain.core.evaluation.PromotedModel;
import io.streamtrain.core.kafka.RunTopics;
import io.streamtrain.core.protocol.DeadLetters;
import io.streamtrain.core.protocol.Messages;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.core.topics.Topics;
import io.streamtrain.evaluator.policy.Decision;
import io.streamtrain.evaluator.policy.EarlyStopPolicy;
import io.streamtrain.evaluator.policy.Evaluation;
import io.streamtrain.evaluator.policy.StopReason;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * What the evaluator answers for one checkpoint, as functions of what it knows: the
 * checkpoint's record and manifest, the run's spec and state, and the metrics scored. No
 * Kafka client here: the {@link Outcome} is committed by the caller in one transaction and
 * applied to the run's state only then.
 */
final class EvaluationStep {
    static final String CHECKPOINT_REJECTED = "checkpoint-rejected";
    /** Values up to what any dead-letter topic takes (Kafka's default 1 MiB, less room for headers). */
    static final int DEAD_LETTER_VALUE_BYTES = (1 << 20) - RunTopics.RECORD_OVERHEAD_BYTES;

    /** What to do with a verified checkpoint before anything is scored. */
    enum Route {
        /** A mid-epoch snapshot of a running run: scored, outside the early-stopping history. */
        SNAPSHOT,
        /** Already evaluated, of a stopped run, or a snapshot nobody can score: only the offset moves past it. */
        SKIP,
        /** The spec names no validation topic: rejected. */
        NO_VALIDATION,
        /** An epoch's checkpoint to score and decide on. */
        EVALUATE
    }

    /**
     * What to publish for a checkpoint, and what the run's state learns once it is committed.
     *
     * @param evaluation the record for the run's evaluations topic
     * @param stop the STOP for its control topic, when the policy says stop
     * @param deadLetters for the run's dead-letter topic
     * @param rejection why the checkpoint was rejected; null when it was scored
     * @param counted the evaluation added to the early-stopping history; null for snapshots and rejections
     */
    record Outcome(
            EvaluationRecord evaluation,
            Optional<ControlMessage.Stop> stop,
            List<ProducerRecord<byte[], byte[]>> deadLetters,
            Rejection rejection,
            Evaluation counted) {
        Outcome {
            deadLetters = List.copyOf(deadLetters);
        }

        /** Everything but the evaluation: dead letters, then the STOP. */
        List<ProducerRecord<byte[], byte[]>> others() {
            List<ProducerRecord<byte[], byte[]>> out = new ArrayList<>(deadLetters);
            stop.ifPresent(s -> out.add(new ProducerRecord<>(Topics.control(s.run()), Messages.encode(s))));
            return out;
        }
    }

    private final String node;

    /** @param node who refused what is dead-lettered, as its header says */
    EvaluationStep(String node) {
        this.node = node;
    }

    static Route route(CheckpointManifest m, RunSpec spec, RunState state) {
        boolean validation = spec.data().validation() != null;
        if (m.snapshot() && !state.stopped && validation) {
            return Route.SNAPSHOT;
        }
        if (state.stopped || m.snapshot() || state.evaluated(m.epoch())) {
            return Route.SKIP;
        }
        return validation ? Route.EVALUATE : Route.NO_VALIDATION;
    }

    /** An epoch's checkpoint, scored: its evaluation with the policy's decision, and a STOP if it says stop. */
    Outcome evaluate(
            ConsumerRecord<byte[], byte[]> r,
            CheckpointManifest m,
            RunSpec spec,
            RunState state,
            Scoring.Scored scored) {
        String monitor = spec.earlyStopping().monitor();
        Double monitored = scored.metrics().get(monitor);
        if (monitored == null) {
            return reject(
                    r,
                    state.run,
                    m.epoch(),
                    m.checkpointId(),
                    Rejection.MISMATCH,
                    "earlyStopping.monitor is " + monitor + ", which is not computed for this model (computed: "
                            + scored.metrics().keySet() + ")",
                    state);
        }
        Double trainLoss = trainLoss(m);
        Evaluation counted =
                new Evaluation(m.epoch(), m.checkpointId(), monitored, trainLoss == null ? Double.NaN : trainLoss);
        List<Evaluation> past = spec.data().continuous() ? windowsSoFar(state, scored) : state.history;
        List<Evaluation> history = new ArrayList<>(past);
        history.add(counted);
        Decision d = spec.data().continuous()
                ? EarlyStopPolicy.decideWindows(spec.earlyStopping(), spec.maxEpochs(), history)
                : EarlyStopPolicy.decide(spec.earlyStopping(), spec.maxEpochs(), history);
        BestCheckpoint best = d.best() == null
                ? null
                : new BestCheckpoint(
                        d.best().epoch(),
                        d.best().checkpointId(),
                        monitor,
                        d.best().value());
        if (spec.data().continuous()) {
            return window(m, spec, state, scored, trainLoss, counted, d, best, past);
        }
        String reason = d.stop() ? d.reason().code() : null;
        EvaluationRecord record = EvaluationRecord.evaluated(
                        state.run,
                        m.epoch(),
                        m.checkpointId(),
                        scored.metrics(),
                        trainLoss,
                        best,
                        d.waitCount(),
                        d.patienceLeft(),
                        reason,
                        d.explanation(),
                        scored.seconds(),
                        state.plan)
                .withContract(state.contractFor(spec));
        Optional<ControlMessage.Stop> stop = d.stop()
                ? Optional.of(new ControlMessage.Stop(
                        state.run, Messages.newId(), Messages.now(), reason, d.explanation(), best, "evaluator"))
                : Optional.empty();
        return new Outcome(record, stop, validationDeadLetters(state, scored), null, counted);
    }

    /**
     * A continuous run's window, scored: never a STOP (a live run does not end because it
     * stopped improving); a checkpoint that beats the promoted model is promoted instead, and
     * a window the windows' policy judges declining ({@code patience} windows in a row worse
     * than the promoted model, a divergence, ...) is degrading.
     */
    private Outcome window(
            CheckpointManifest m,
            RunSpec spec,
            RunState state,
            Scoring.Scored scored,
            Double trainLoss,
            Evaluation counted,
            Decision d,
            BestCheckpoint best,
            List<Evaluation> past) {
        String monitor = spec.earlyStopping().monitor();
        boolean promoted = best != null && best.epoch() == m.epoch();
        boolean degrading = degrading(d);
        Decision before = EarlyStopPolicy.decideWindows(spec.earlyStopping(), spec.maxEpochs(), past);
        BestCheckpoint previous = before.best() == null
                ? null
                : new BestCheckpoint(
                        before.best().epoch(),
                        before.best().checkpointId(),
                        monitor,
                        before.best().value());
        String explanation;
        if (promoted) {
            explanation = String.format(
                    Locale.ROOT,
                    "window %d is promoted: %s %.6g %s",
                    m.epoch(),
                    monitor,
                    best.value(),
                    previous == null
                            ? "(the run's first model)"
                            : String.format(Locale.ROOT, "beats window %d's %.6g", previous.epoch(), previous.value()));
        } else {
            explanation = d.explanation() + (best == null ? "" : "; window " + best.epoch() + " stays promoted");
        }
        // the first degrading window pauses the trainers (a PAUSE is not repeated while the run stays degrading)
        // the first degrading window of a stretch, by the last window's recorded decision (on a sliding set, values are
        // not comparable)
        boolean firstDegrading = degrading && !EvaluationRecord.DEGRADING.equals(state.lastWindowDecision);
        boolean pause = firstDegrading && spec.evaluation().pausesOnDegrade();
        if (pause) {
            explanation += "; the trainers are paused (evaluation.onDegrade: pause): `streamtrain ctl resume --run "
                    + state.run + "` takes them up again";
        }
        // the first degrading window returns the trainers to the
        // promoted model (not repeated while the run stays degrading)
        boolean rollback = firstDegrading && spec.evaluation().rollsBackOnDegrade() && best != null;
        if (rollback) {
            explanation +=
                    "; the trainers go back to window " + best.epoch() + "'s weights (evaluation.onDegrade: rollback)";
        }
        String decision = promoted
                ? EvaluationRecord.PROMOTE
                : degrading ? EvaluationRecord.DEGRADING : EvaluationRecord.CONTINUE;
        Map<String, Double> metrics = scored.metrics();
        if (scored.promotedValue() != null) {
            metrics = new java.util.LinkedHashMap<>(metrics);
            metrics.put(PROMOTED_PREFIX + monitor, scored.promotedValue()); // the promoted model, on the same records
        }
        EvaluationRecord record = EvaluationRecord.window(
                        state.run,
                        m.epoch(),
                        m.checkpointId(),
                        metrics,
                        trainLoss,
                        best,
                        d.waitCount(),
                        d.patienceLeft(),
                        decision,
                        degrading ? d.reason().code() : null,
                        explanation,
                        scored.seconds(),
                        scored.plan() != null ? scored.plan() : state.plan)
                .withContract(state.contractFor(spec));
        List<ProducerRecord<byte[], byte[]>> others = new ArrayList<>(validationDeadLetters(state, scored));
        if (promoted) {
            PromotedModel model = new PromotedModel(
                    PromotedModel.TYPE,
                    state.run,
                    Messages.newId(),
                    Messages.now(),
                    m.epoch(),
                    m.checkpointId(),
                    monitor,
                    best.value(),
                    scored.metrics(),
                    previous,
                    explanation);
            others.add(new ProducerRecord<>(
                    Topics.models(state.run), state.run.getBytes(StandardCharsets.UTF_8), Messages.encode(model)));
        }
        if (pause) {
            others.add(new ProducerRecord<>(
                    Topics.control(state.run),
                    Messages.encode(
                            new ControlMessage.Pause(state.run, Messages.newId(), Messages.now(), "evaluator"))));
        }
        if (rollback) {
            others.add(new ProducerRecord<>(
                    Topics.control(state.run),
                    Messages.encode(new ControlMessage.Rollback(
                            state.run,
                            Messages.newId(),
                            Messages.now(),
                            best.checkpointId(),
                            "degrading: " + d.reason().code(),
                            "evaluator"))));
        }
        return new Outcome(record, Optional.empty(), others, null, counted);
    }

    /** The metric an evaluation on a sliding validation set adds: the promoted model's monitored value on the same records. */
    static final String PROMOTED_PREFIX = "promoted_";

    /**
     * The windows before this one, as the policy compares them with it. On a fixed holdout,
     * the run's history as it is. On a sliding validation set each window was scored on other
     * records, so the values are not comparable: the promoted window stands first with its
     * value on this window's records (scored again), and each window since follows at that
     * value plus its margin over the promoted model on the records it was scored on (its
     * {@code promoted_} metric; a window without one, at that value: level). So this window is
     * promoted when it beats the promoted model on today's data, and the run degrades after
     * {@code patience} windows in a row each worse than the promoted model on its own records.
     */
    static List<Evaluation> windowsSoFar(RunState state, Scoring.Scored scored) {
        if (scored.plan() == null || state.promotedCheckpointId == null) {
            return state.history;
        }
        Evaluation promoted = state.history.stream()
                .filter(e -> e.epoch() == state.promotedEpoch)
                .findFirst()
                .orElse(null);
        if (promoted == null) {
            return state.history;
        }
        double now = scored.promotedValue() != null ? scored.promotedValue() : promoted.monitored();
        List<Evaluation> past = new ArrayList<>();
        past.add(new Evaluation(promoted.epoch(), promoted.checkpointId(), now, promoted.trainLoss()));
        for (Evaluation e : state.history) {
            if (e.epoch() > promoted.epoch()) {
                Double then = state.promotedScores.get(e.epoch());
                double value = then == null || !Double.isFinite(then) ? now : now + (e.monitored() - then);
                past.add(new Evaluation(e.epoch(), e.checkpointId(), value, e.trainLoss()));
            }
        }
        return past;
    }

    /** The promoted model's value an evaluation on a sliding validation set recorded (its one {@code promoted_} metric); null if none. */
    static Double promotedScore(EvaluationRecord e) {
        if (e.metrics() == null) {
            return null;
        }
        return e.metrics().entrySet().stream()
                .filter(x -> x.getKey().startsWith(PROMOTED_PREFIX))
                .map(Map.Entry::getValue)
                .findFirst()
                .orElse(null);
    }

    /**
     * Whether the windows' policy judges its last window degrading: a rule fired there and the
     * window was not promoted. Reaching {@code stoppingThreshold} (the goal) and the run's last
     * window ({@code maxEpochs}, the end it was given) are no decline.
     */
    private static boolean degrading(Decision d) {
        boolean promoted = d.best() != null && d.best().epoch() == d.epoch();
        return d.stop()
                && !promoted
                && d.reason() != StopReason.MAX_EPOCHS
                && d.reason() != StopReason.THRESHOLD_REACHED;
    }

    /** A mid-epoch snapshot (CHECKPOINT command), scored: published, never part of the early-stopping history. */
    Outcome snapshot(CheckpointManifest m, RunSpec spec, RunState state, Scoring.Scored scored) {
        EvaluationRecord record = EvaluationRecord.snapshot(
                        state.run,
                        m.epoch(),
                        m.checkpointId(),
                        scored.metrics(),
                        trainLoss(m),
                        "snapshot at step " + m.step() + " (mid-epoch; not part of early stopping)",
                        scored.seconds(),
                        state.plan)
                .withContract(state.contractFor(spec));
        return new Outcome(record, Optional.empty(), validationDeadLetters(state, scored), null, null);
    }

    /**
     * A checkpoint that cannot be evaluated: its record, and a dead letter of {@code r}, say why.
     *
     * @param epoch -1 when the manifest could not be read
     * @param state the run's state; null when it is not known yet
     */
    Outcome reject(
            ConsumerRecord<byte[], byte[]> r,
            String run,
            int epoch,
            String checkpointId,
            Rejection kind,
            String why,
            RunState state) {
        EvaluationRecord record = EvaluationRecord.rejected(
                run, epoch, checkpointId, CHECKPOINT_REJECTED, why, state == null ? null : state.plan);
        ProducerRecord<byte[], byte[]> deadLetter =
                DeadLetters.record(Topics.deadLetters(run), r, CHECKPOINT_REJECTED, why, node, DEAD_LETTER_VALUE_BYTES);
        return new Outcome(record, Optional.empty(), List.of(deadLetter), kind, null);
    }

    /** Bad validation records are dead-lettered once, with the run's first evaluation or snapshot. */
    private List<ProducerRecord<byte[], byte[]>> validationDeadLetters(RunState state, Scoring.Scored scored) {
        if (state.deadLettersWritten) {
            return List.of();
        }
        return scored.unreadable().stream()
                .map(rej -> DeadLetters.record(
                        Topics.deadLetters(state.run),
                        rej.record(),
                        rej.reason().reason().code(),
                        rej.reason().getMessage(),
                        node,
                        DEAD_LETTER_VALUE_BYTES))
                .toList();
    }

    private static Double trainLoss(CheckpointManifest m) {
        return m.metrics() == null ? null : m.metrics().get("data_loss");
    }
}
