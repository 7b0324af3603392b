package io.streamtrain.evaluator;

import io.streamtrain.core.checkpoint.Checkpoint;
import io.streamtrain.core.evaluation.ValidationPlan;
import io.streamtrain.core.logging.Logs;
import io.streamtrain.core.spec.RunSpec;
import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.Map;
import org.apache.kafka.clients.consumer.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Scores checkpoints on their run's validation set: read from its topic up to the run's
 * plan the first time (or, for a run with none, up to the topic's end now, which becomes
 * the plan), then held in the run's state.
 */
final class ValidationScoring implements Scoring {
    private static final Logger log = LoggerFactory.getLogger(ValidationScoring.class);

    private final CheckpointScorer scorer;
    private final Consumer<byte[], byte[]> reader;
    private final Duration timeout;
    private final long memoryBytes;

    /**
     * @param reader outside any group, reading committed records only
     * @param memoryBytes the most decoded validation data held per run; a larger set is read
     *     from its topic again for every evaluation
     */
    ValidationScoring(CheckpointScorer scorer, Consumer<byte[], byte[]> reader, Duration timeout, long memoryBytes) {
        this(scorer, reader, timeout, memoryBytes, (run, id) -> null);
    }

    /** Reads one of a run's checkpoints by id (the promoted model, after a restart), verified; null when it cannot. */
    interface CheckpointLookup {
        Checkpoint find(String run, String checkpointId);
    }

    private final CheckpointLookup checkpoints;

    /** @param checkpoints where the promoted model of a run with a sliding validation set is read from after a restart */
    ValidationScoring(
            CheckpointScorer scorer,
            Consumer<byte[], byte[]> reader,
            Duration timeout,
            long memoryBytes,
            CheckpointLookup checkpoints) {
        this.scorer = scorer;
        this.reader = reader;
        this.timeout = timeout;
        this.memoryBytes = memoryBytes;
        this.checkpoints = checkpoints;
    }

    @Override
    public Scored score(RunState state, RunSpec spec, Checkpoint checkpoint) {
        if (spec.evaluation().sliding()) {
            return sliding(state, spec, checkpoint);
        }
        ValidationSet validation = validation(state, spec);
        long started = System.nanoTime();
        Map<String, Double> metrics = scorer.score(
                spec.model(),
                checkpoint.payload(),
                validation,
                reader,
                timeout,
                "checkpoint " + checkpoint.manifest().checkpointId());
        return new Scored(metrics, (System.nanoTime() - started) / 1e9, validation.rejected());
    }

    /**
     * A window scored on the validation topic's latest records as of the window's end (its
     * checkpoint's time), and the promoted model on the same records: whether the window beats
     * it is judged on the data of its time, and the same records whenever it is scored.
     */
    private Scored sliding(RunState state, RunSpec spec, Checkpoint checkpoint) {
        String topic = spec.data().validation();
        ValidationSet latest = ValidationSet.latest(
                reader,
                topic,
                spec.model(),
                spec.evaluation().slidingValidation(),
                windowEnd(state, checkpoint),
                timeout,
                memoryBytes);
        if (latest.samples() == 0) {
            throw new IllegalArgumentException("validation topic " + topic + " has no usable samples");
        }
        long started = System.nanoTime();
        Map<String, Double> metrics = scorer.score(
                spec.model(),
                checkpoint.payload(),
                latest,
                reader,
                timeout,
                "checkpoint " + checkpoint.manifest().checkpointId());
        double seconds = (System.nanoTime() - started) / 1e9;
        Checkpoint promoted = promoted(state);
        Double promotedValue = null;
        if (promoted != null) {
            promotedValue = scorer.score(
                            spec.model(),
                            promoted.payload(),
                            latest,
                            reader,
                            timeout,
                            "the promoted checkpoint " + promoted.manifest().checkpointId())
                    .get(spec.earlyStopping().monitor());
        }
        log.info(
                "run {}: window {} scored on the latest {} samples of {} as of its end (offsets {} to {}){}",
                state.run,
                checkpoint.manifest().epoch(),
                latest.samples(),
                topic,
                latest.plan().startOffsets(),
                latest.plan().endOffsets(),
                promoted == null
                        ? ""
                        : ", and the promoted window " + promoted.manifest().epoch() + " on them");
        return new Scored(metrics, seconds, latest.rejected(), latest.plan(), promotedValue);
    }

    /** When a window ended: its checkpoint's time; null (the validation topic's end now) when the manifest has none that parses. */
    private static Instant windowEnd(RunState state, Checkpoint checkpoint) {
        String time = checkpoint.manifest().time();
        try {
            return time == null ? null : Instant.parse(time);
        } catch (DateTimeParseException e) {
            log.warn(
                    "run {}: checkpoint {} has no time that parses ({}): its sliding validation set is the latest records"
                            + " now",
                    state.run,
                    Logs.escape(checkpoint.manifest().checkpointId()),
                    Logs.escape(time));
            return null;
        }
    }

    /** The run's promoted model: held since it was promoted, or read again after a restart; null if none (or unreadable). */
    private Checkpoint promoted(RunState state) {
        if (state.promotedCheckpointId == null) {
            return null;
        }
        if ((state.promotedCheckpoint == null
                        || !state.promotedCheckpoint.manifest().checkpointId().equals(state.promotedCheckpointId))
                && !state.promotedCheckpointId.equals(state.promotedUnreadable)) {
            state.promotedCheckpoint = checkpoints.find(state.run, state.promotedCheckpointId);
            if (state.promotedCheckpoint == null) {
                state.promotedUnreadable =
                        state.promotedCheckpointId; // not read again for every window: the next promotion replaces it
                log.warn(
                        "run {}: the promoted checkpoint {} cannot be read: this window is compared with its value when it was"
                                + " promoted",
                        state.run,
                        io.streamtrain.core.logging.Logs.escape(state.promotedCheckpointId));
            }
        }
        return state.promotedCheckpoint;
    }

    private ValidationSet validation(RunState state, RunSpec spec) {
        if (state.validation != null) {
            return state.validation;
        }
        String topic = spec.data().validation();
        // a spec naming another topic than the plan's never gets here: it breaks the run's contract (RunState.brokenBy)
        ValidationPlan plan = state.plan;
        ValidationSet loaded = ValidationSet.load(reader, topic, spec.model(), plan, timeout, memoryBytes);
        log.info(
                "run {}: validation set {}: {} samples in {} records, {} rejected, up to offsets {} ({}); {}",
                state.run,
                topic,
                loaded.samples(),
                loaded.records(),
                loaded.rejected().size(),
                loaded.plan().endOffsets(),
                plan == null ? "its end now: the run's plan from now on" : "the run's plan, from its evaluations",
                loaded.streamed()
                        ? "more than " + memoryBytes + " bytes decoded: read from the topic for each evaluation"
                        : "held in memory");
        if (loaded.samples() == 0) {
            // nothing to plan on yet: the next checkpoint looks again
            throw new IllegalArgumentException("validation topic " + topic + " has no usable samples");
        }
        state.validation = loaded;
        state.plan = loaded.plan();
        return loaded;
    }
}
