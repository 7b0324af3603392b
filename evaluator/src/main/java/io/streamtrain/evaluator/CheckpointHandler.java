package io.streamtrain.evaluator;

import io.streamtrain.core.checkpoint.Checkpoint;
import io.streamtrain.core.checkpoint.CheckpointAssembler;
import io.streamtrain.core.checkpoint.CheckpointManifest;
import io.streamtrain.core.checkpoint.CheckpointRejectedException;
import io.streamtrain.core.checkpoint.PayloadSources;
import io.streamtrain.core.evaluation.EvaluationRecord;
import io.streamtrain.core.logging.Logs;
import io.streamtrain.core.signing.Signing;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.core.spec.SpecException;
import io.streamtrain.core.topics.Topics;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;
import org.apache.kafka.clients.consumer.CommitFailedException;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The evaluator's work on each record of the checkpoint topics it is assigned: assembles
 * checkpoints from their chunks, takes each run's state up when its first checkpoint
 * arrives ({@link RunStates}), scores, lets {@link EvaluationStep} decide, and commits the
 * answer through {@link EvaluatorProducer} — one transaction per checkpoint, whose offset
 * never passes the first chunk of a payload still being assembled. Not thread-safe: the
 * service thread alone uses it.
 */
final class CheckpointHandler {
    private static final Logger log = LoggerFactory.getLogger(CheckpointHandler.class);
    private static final Logger progress = LoggerFactory.getLogger("streamtrain.progress");

    private final RunStates runs;
    private final Scoring scoring;
    private final EvaluatorProducer producer;
    private final EvaluationStep step;
    private final BiConsumer<String, RunSpec> runTopics;
    private final EvaluatorEvents events;
    private final Map<String, CheckpointAssembler> assemblers = new HashMap<>();
    private final PayloadSources sources = PayloadSources.fromEnvironment();
    private final Signing signing;

    /**
     * @param runTopics makes sure a run's evaluations, control and dead-letter topics exist (and a continuous run's
     *     models topic), given the run and its spec (null when no manifest of it could be read)
     * @param timeout how long a read of the control topic may take
     */
    CheckpointHandler(
            RunStateLoader loader,
            StopFeed stops,
            Scoring scoring,
            EvaluatorProducer producer,
            EvaluationStep step,
            BiConsumer<String, RunSpec> runTopics,
            EvaluatorEvents events,
            Duration timeout) {
        this(loader, stops, scoring, producer, step, runTopics, events, timeout, Signing.off());
    }

    /** @param signing whose manifests are believed: with signatures checked, only those signed by a key trusted with {@code manifest} */
    CheckpointHandler(
            RunStateLoader loader,
            StopFeed stops,
            Scoring scoring,
            EvaluatorProducer producer,
            EvaluationStep step,
            BiConsumer<String, RunSpec> runTopics,
            EvaluatorEvents events,
            Duration timeout,
            Signing signing) {
        this.signing = signing;
        this.runs = new RunStates(loader, stops, runTopics, events, timeout);
        this.scoring = scoring;
        this.producer = producer;
        this.step = step;
        this.runTopics = runTopics;
        this.events = events;
    }

    /**
     * A checkpoint is never fatal: whatever goes wrong with one (a manifest missing a field,
     * DJL refusing the weights, a validation topic this evaluator may not read) rejects it,
     * with the reason, and the evaluator goes on. Only what no other record could avoid is
     * thrown: a fenced or unauthorized producer ({@link EvaluatorProducer.FatalException}), a
     * group that moved on.
     */
    void handle(ConsumerRecord<byte[], byte[]> r) {
        try {
            accept(r);
        } catch (EvaluatorProducer.FatalException
                | ProducerFencedException
                | InvalidProducerEpochException
                | CommitFailedException e) {
            throw e;
        } catch (RuntimeException | Error e) {
            if ((e instanceof VirtualMachineError
                            && !(e instanceof OutOfMemoryError || e instanceof StackOverflowError))
                    || e instanceof LinkageError) {
                // the JVM is broken (InternalError), or this process is (a native library that did not load): no record
                // is to blame,
                // and rejecting every one would skip them for good; the restart tries again
                throw e;
            }
            // an Error too (out of memory, stack overflow, an assertion a record's content trips): one
            // record (a forged manifest's huge model, a deeply nested spec) must not crash-loop the evaluator and every
            // run it
            // serves; its offset is committed with the rejection, so a restart does not meet it again
            String run = Topics.runOfCheckpoints(r.topic());
            log.error(
                    "run {}: record {}@{} of {} could not be evaluated: {}",
                    run,
                    r.partition(),
                    r.offset(),
                    r.topic(),
                    Logs.escape(e.toString()),
                    e);
            reject(r, run, -1, "?", Rejection.UNREADABLE, "could not be evaluated: " + e);
        }
    }

    /**
     * STOPs written since the last look, to runs this instance holds: a run an operator
     * stops is over for the evaluator at once, as it is after a rebuild.
     */
    void noticeStops() {
        runs.noticeStops();
    }

    /** The partition went to another instance, or came (back) here: what was known of its run is rebuilt when needed. */
    void forget(TopicPartition tp) {
        assemblers.remove(tp.topic());
        String run = Topics.runOfCheckpoints(tp.topic());
        if (run != null) {
            runs.forget(run);
        }
    }

    private void accept(ConsumerRecord<byte[], byte[]> r) {
        String run = Topics.runOfCheckpoints(r.topic());
        long received = System.nanoTime();
        Checkpoint c;
        try {
            c = assemblers
                    .computeIfAbsent(r.topic(), t -> new CheckpointAssembler(sources, signing))
                    .accept(r);
        } catch (CheckpointRejectedException e) {
            if (answeredAlready(r, run, e)) {
                return;
            }
            RunState state = runs.get(run);
            EvaluationStep.Outcome rejection = step.reject(
                    r,
                    run,
                    -1,
                    e.checkpointId(),
                    e.untrusted() ? Rejection.UNTRUSTED : e.incomplete() ? Rejection.INCOMPLETE : Rejection.CORRUPT,
                    e.getMessage(),
                    state);
            // its message names the checkpoint and escapes what the record said where it was made: escaping it
            // again would print an id's backslashes doubled
            commitRejection(r, rejection, state, e.getMessage());
            return;
        }
        if (c == null) {
            return; // a chunk: its manifest comes later, and no offset is committed for it
        }
        CheckpointManifest m = c.manifest();
        RunSpec spec;
        try {
            spec = m.runSpec();
        } catch (SpecException e) {
            reject(
                    r,
                    run,
                    m.epoch(),
                    m.checkpointId(),
                    Rejection.MISMATCH,
                    "its run spec does not parse: " + e.getMessage());
            return;
        }
        RunState state = runs.take(run, spec);
        runs.noteRegistration(state);
        String broken = state.brokenBy(spec);
        if (broken != null && !state.stopped) {
            // who fixed the contract (a REGISTER's id and source) and what the spec changes are escaped, each cut
            // where it says so, as the explanation is made: the log shows it as it is, whole
            String why = "its spec changes what " + Logs.escape(state.contractSource)
                    + " fixed: " + Logs.escape(broken)
                    + ". A run's validation data, model and stopping policy are its own: a spec that"
                    + " changes them needs a new run id (or the manifest is forged)";
            reject(r, run, m.epoch(), m.checkpointId(), Rejection.MISMATCH, why, why);
            return;
        }
        EvaluationStep.Route route = EvaluationStep.route(m, spec, state);
        switch (route) {
            case SKIP -> skip(r, m, state);
            case NO_VALIDATION ->
                reject(
                        r,
                        run,
                        m.epoch(),
                        m.checkpointId(),
                        Rejection.MISMATCH,
                        "the run spec names no data.validation topic");
            case SNAPSHOT, EVALUATE -> {
                Scoring.Scored scored = scoreOrReject(r, c, spec, state);
                if (scored == null || stoppedWhileScoring(r, m, state)) {
                    return;
                }
                if (route == EvaluationStep.Route.SNAPSHOT) {
                    snapshot(r, m, spec, state, scored);
                } else {
                    evaluate(r, c, spec, state, scored, received);
                }
            }
        }
    }

    private void snapshot(
            ConsumerRecord<byte[], byte[]> r,
            CheckpointManifest m,
            RunSpec spec,
            RunState state,
            Scoring.Scored scored) {
        EvaluationStep.Outcome o = step.snapshot(m, spec, state, scored);
        commit(r, state, o);
        state.accepted(spec);
        progress.info(ProgressLines.snapshot(state.run, m, scored.metrics()));
        events.committed(o.evaluation());
    }

    private void evaluate(
            ConsumerRecord<byte[], byte[]> r,
            Checkpoint c,
            RunSpec spec,
            RunState state,
            Scoring.Scored scored,
            long received) {
        CheckpointManifest m = c.manifest();
        EvaluationStep.Outcome o = step.evaluate(r, m, spec, state, scored);
        if (o.rejection() != null) {
            commitRejection(r, o, state, printable(o.evaluation()));
            return;
        }
        long committing = System.nanoTime();
        commit(r, state, o);
        state.accepted(spec);
        if (EvaluationRecord.PROMOTE.equals(o.evaluation().decision())
                && spec.evaluation().sliding()) {
            state.promotedCheckpoint = c; // a sliding validation set scores it again with every window
        }
        log.debug(
                "checkpoint {}: received {} ms after it was written, scored in {} ms, committed in {} ms",
                Logs.escape(m.checkpointId()),
                System.currentTimeMillis() - r.timestamp() - (System.nanoTime() - received) / 1_000_000,
                Math.round(scored.seconds() * 1e3),
                (System.nanoTime() - committing) / 1_000_000);
        EvaluationRecord e = o.evaluation();
        progress.info(ProgressLines.evaluated(state.run, m, spec, e, o.stop().isPresent()));
        events.committed(e);
    }

    /** @return the metrics, or null when the checkpoint could not be scored and has been rejected */
    private Scoring.Scored scoreOrReject(ConsumerRecord<byte[], byte[]> r, Checkpoint c, RunSpec spec, RunState state) {
        try {
            return scoring.score(state, spec, c);
        } catch (IllegalArgumentException e) {
            CheckpointManifest m = c.manifest();
            reject(r, state.run, m.epoch(), m.checkpointId(), Rejection.MISMATCH, e.getMessage());
            return null;
        }
    }

    /**
     * Whether a STOP reached the run's control topic while its checkpoint was being scored:
     * then the checkpoint is one that arrived after the stop, and is skipped like those.
     */
    private boolean stoppedWhileScoring(ConsumerRecord<byte[], byte[]> r, CheckpointManifest m, RunState state) {
        boolean stopped = runs.stoppedNow(state);
        if (stopped) {
            skip(r, m, state);
        }
        return stopped;
    }

    /**
     * An incomplete checkpoint whose epoch the run's evaluations already answer: the manifest
     * of a checkpoint whose first chunks lay before the offset this evaluator restarted from (it
     * was evaluated before the restart, and the offset was kept back for another checkpoint's
     * chunks). It is skipped, not rejected a second time.
     */
    private boolean answeredAlready(ConsumerRecord<byte[], byte[]> r, String run, CheckpointRejectedException e) {
        if (e.manifest().isEmpty() || e.manifest().get().snapshot()) {
            return false;
        }
        CheckpointManifest m = e.manifest().get();
        RunState state;
        try {
            state = runs.take(run, m.runSpec());
        } catch (SpecException bad) {
            return false;
        }
        if (!state.evaluated(m.epoch())) {
            return false;
        }
        skip(r, m, state);
        return true;
    }

    /** A checkpoint not to evaluate: only the consumer offset moves past it. */
    private void skip(ConsumerRecord<byte[], byte[]> r, CheckpointManifest m, RunState state) {
        log.info(
                "run {}: checkpoint {} (epoch {}) {}; skipping it",
                state.run,
                Logs.escape(m.checkpointId()),
                m.epoch(),
                state.stopped
                        ? "arrived after the run was stopped by " + state.stoppedBy()
                        : "is of an epoch already evaluated");
        state.committedMetadata = producer.commit(partition(r), next(r), null, List.of(), state.committedMetadata);
    }

    /**
     * A checkpoint that cannot be evaluated: an evaluation record and a dead letter say why; the run goes on.
     *
     * @param why as it was made, which may quote a record as it is: escaped for the log here
     */
    private void reject(
            ConsumerRecord<byte[], byte[]> r, String run, int epoch, String checkpointId, Rejection kind, String why) {
        reject(r, run, epoch, checkpointId, kind, why, Logs.escape(why));
    }

    /**
     * @param why as the record and the dead letter say it
     * @param printableWhy {@code why} as the log shows it: each value a record gave escaped once
     */
    private void reject(
            ConsumerRecord<byte[], byte[]> r,
            String run,
            int epoch,
            String checkpointId,
            Rejection kind,
            String why,
            String printableWhy) {
        RunState state = runs.get(run);
        EvaluationStep.Outcome rejection = step.reject(r, run, epoch, checkpointId, kind, why, state);
        commitRejection(r, rejection, state, printable(checkpointId, printableWhy));
    }

    /** A rejection's explanation for the log, which names the checkpoint: the record's id and explanation escaped. */
    private static String printable(EvaluationRecord rejected) {
        return printable(rejected.checkpointId(), Logs.escape(rejected.explanation()));
    }

    /** @param printableWhy the explanation, each value a record gave escaped once */
    private static String printable(String checkpointId, String printableWhy) {
        return "checkpoint " + Logs.escape(checkpointId) + " rejected: " + printableWhy;
    }

    /** @param printable the explanation as the log shows it: each value a record gave escaped once */
    private void commitRejection(
            ConsumerRecord<byte[], byte[]> r, EvaluationStep.Outcome rejection, RunState state, String printable) {
        EvaluationRecord e = rejection.evaluation();
        log.warn("run {}: {}", e.run(), printable);
        runTopics.accept(e.run(), null);
        commit(r, state, rejection);
        events.rejected(e.run(), rejection.rejection());
        events.committed(e);
    }

    /** @param state null for a run not taken up yet (its checkpoint was rejected before) */
    private void commit(ConsumerRecord<byte[], byte[]> r, RunState state, EvaluationStep.Outcome o) {
        String metadata = producer.commit(
                partition(r), next(r), o.evaluation(), o.others(), state == null ? "" : state.committedMetadata);
        if (state != null) {
            state.committedMetadata = metadata;
            state.committed(o);
        }
    }

    /** Past {@code r}, but never past the first chunk of a payload still being assembled: a restart must see it again. */
    private long next(ConsumerRecord<byte[], byte[]> r) {
        long next = r.offset() + 1;
        CheckpointAssembler assembler = assemblers.get(r.topic());
        if (assembler != null && assembler.firstPendingOffset().isPresent()) {
            next = Math.min(next, assembler.firstPendingOffset().getAsLong());
        }
        return next;
    }

    private static TopicPartition partition(ConsumerRecord<?, ?> r) {
        return new TopicPartition(r.topic(), r.partition());
    }
}
