package io.streamtrain.evaluator;

import io.streamtrain.core.checkpoint.Checkpoint;
import io.streamtrain.core.evaluation.ValidationPlan;
import io.streamtrain.core.spec.RunSpec;
import java.time.Duration;
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
        this.scorer = scorer;
        this.reader = reader;
        this.timeout = timeout;
        this.memoryBytes = memoryBytes;
    }

    @Override
    public Scored score(RunState state, RunSpec spec, Checkpoint checkpoint) {
        ValidationSet validation = validation(state, spec);
        long started = System.nanoTime();
        Map<String, Double> metrics = scorer.score(spec.model(), checkpoint.payload(), validation, reader, timeout,
                "checkpoint " + checkpoint.manifest().checkpointId());
        return new Scored(metrics, (System.nanoTime() - started) / 1e9, validation.rejected());
    }

    private ValidationSet validation(RunState state, RunSpec spec) {
        if (state.validation != null) {
            return state.validation;
        }
        String topic = spec.data().validation();
        // a spec naming another topic than the plan's never gets here: it breaks the run's contract (RunState.brokenBy)
        ValidationPlan plan = state.plan;
        ValidationSet loaded = ValidationSet.load(reader, topic, spec.model(), plan, timeout, memoryBytes);
        log.info("run {}: validation set {}: {} samples in {} records, {} rejected, up to offsets {} ({}); {}", state.run, topic,
                loaded.samples(), loaded.records(), loaded.rejected().size(), loaded.plan().endOffsets(),
                plan == null ? "its end now: the run's plan from now on" : "the run's plan, from its evaluations",
                loaded.streamed() ? "more than " + memoryBytes + " bytes decoded: read from the topic for each evaluation" : "held in memory");
        if (loaded.samples() == 0) {
            // nothing to plan on yet: the next checkpoint looks again
            throw new IllegalArgumentException("validation topic " + topic + " has no usable samples");
        }
        state.validation = loaded;
        state.plan = loaded.plan();
        return loaded;
    }
}
