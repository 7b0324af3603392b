package io.streamtrain.evaluator;

import ai.djl.engine.Engine;
import io.streamtrain.core.checkpoint.Checkpoint;
import io.streamtrain.core.checkpoint.CheckpointAssembler;
import io.streamtrain.core.checkpoint.CheckpointManifest;
import io.streamtrain.core.checkpoint.CheckpointRejectedException;
import io.streamtrain.core.control.ControlMessage;
import io.streamtrain.core.control.MalformedMessageException;
import io.streamtrain.core.control.Messages;
import io.streamtrain.core.djl.Engines;
import io.streamtrain.core.dlq.DeadLetters;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.kafka.KafkaClientMetrics;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.streamtrain.core.evaluation.BestCheckpoint;
import io.streamtrain.core.evaluation.EvaluationRecord;
import io.streamtrain.core.evaluation.ValidationPlan;
import io.streamtrain.core.kafka.KafkaSettings;
import io.streamtrain.core.kafka.Preflight;
import io.streamtrain.core.kafka.RunTopics;
import io.streamtrain.core.kafka.TopicReader;
import io.streamtrain.core.metrics.Health;
import io.streamtrain.core.metrics.KafkaMeters;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.core.spec.SpecException;
import io.streamtrain.core.topics.Topics;
import io.streamtrain.evaluator.policy.Decision;
import io.streamtrain.evaluator.policy.EarlyStopPolicy;
import io.streamtrain.evaluator.policy.Evaluation;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.clients.consumer.CommitFailedException;
import org.apache.kafka.common.errors.AuthorizationException;
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.errors.WakeupException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The evaluator: consumes every checkpoint of the runs it serves, computes validation
 * metrics, applies the run's early-stopping policy and, when it says stop, sends STOP on
 * the run's control topic.
 *
 * <p>Each checkpoint is answered in one Kafka transaction: its evaluation record, the STOP
 * if any, dead letters, and the consumer offset past its manifest. So a crash at any point
 * leaves either all of it or none, and a restarted evaluator rebuilds its state from the
 * evaluations topic and takes up exactly where the committed offsets say: the same
 * decision, at the same epoch, never a duplicate evaluation.
 */
public final class EvaluatorService implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(EvaluatorService.class);
    private static final Logger progress = LoggerFactory.getLogger("streamtrain.progress");
    private static final Duration READ_TIMEOUT = Duration.ofSeconds(60);
    private static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(5);
    private static final Duration RETRY_BACKOFF = Duration.ofMillis(500);
    /** Values up to what any dead-letter topic takes (Kafka's default 1 MiB, less room for headers). */
    private static final int DEAD_LETTER_VALUE_BYTES = (1 << 20) - RunTopics.RECORD_OVERHEAD_BYTES;
    static final String CHECKPOINT_REJECTED = "checkpoint-rejected";

    public static final long DEFAULT_VALIDATION_MEMORY_BYTES = 1L << 30;

    private final KafkaSettings kafka;
    private final long validationMemoryBytes;
    private final Set<String> runs;
    private final String instanceId;
    private final Map<String, RunState> states = new HashMap<>();
    private final Map<String, CheckpointAssembler> assemblers = new HashMap<>();
    /** Per checkpoint topic, the metadata of the offset last committed: kept when a commit has no evaluation. */
    private final Map<String, String> committedMetadata = new HashMap<>();
    private final List<Consumer<EvaluationRecord>> listeners = new CopyOnWriteArrayList<>();
    private volatile boolean closed;
    private volatile KafkaConsumer<byte[], byte[]> consumer;
    private final MeterRegistry registry;
    private final Health health;
    /** The meters and the listeners, while {@link #run()} runs. */
    private EvaluatorEvents events = new EvaluatorEvents() {};

    /**
     * An evaluator whose meters nobody scrapes, for tests and in-process use.
     *
     * @param runs the run ids to serve; empty serves every run whose checkpoint topic exists
     * @param instanceId unique among live evaluator instances (its transactional id)
     */
    public EvaluatorService(KafkaSettings kafka, Collection<String> runs, String instanceId) {
        this(kafka, runs, instanceId, DEFAULT_VALIDATION_MEMORY_BYTES);
    }

    /** As {@link #EvaluatorService(KafkaSettings, Collection, String)}, with a validation memory budget. */
    public EvaluatorService(KafkaSettings kafka, Collection<String> runs, String instanceId, long validationMemoryBytes) {
        this(kafka, runs, instanceId, validationMemoryBytes, new SimpleMeterRegistry(), new Health(Duration.ofMinutes(2)));
    }

    /**
     * @param runs the run ids to serve; empty serves every run whose checkpoint topic exists
     * @param instanceId unique among live evaluator instances (its transactional id)
     * @param validationMemoryBytes the most decoded validation data held per run; a larger
     *     validation set is read from its topic again for every evaluation
     * @param registry where the service's meters go while it runs, and its Kafka clients'
     * @param health what its {@code /healthz} and {@code /readyz} report
     */
    public EvaluatorService(KafkaSettings kafka, Collection<String> runs, String instanceId, long validationMemoryBytes,
            MeterRegistry registry, Health health) {
        this.kafka = kafka;
        this.runs = Set.copyOf(runs);
        this.instanceId = instanceId;
        this.validationMemoryBytes = validationMemoryBytes;
        this.registry = registry;
        this.health = health;
    }

    /** Called on the service's thread for every evaluation record it commits. */
    public EvaluatorService addListener(Consumer<EvaluationRecord> listener) {
        listeners.add(listener);
        return this;
    }

    /** Serves until {@link #close()}. */
    public void run() {
        try (Admin admin = Preflight.admin(kafka)) {
            Preflight.requireReachable(admin, kafka.bootstrapServers());
        }
        Engine engine = Engines.pytorch();
        CheckpointScorer scorer = new CheckpointScorer(engine);
        EvaluatorMetrics metrics = new EvaluatorMetrics();
        metrics.bindTo(registry);
        events = new Fanout(metrics);
        KafkaConsumer<byte[], byte[]> checkpoints = new KafkaConsumer<>(kafka.evaluatorCheckpointConsumer(Topics.EVALUATOR_GROUP));
        KafkaConsumer<byte[], byte[]> reader = new KafkaConsumer<>(kafka.reader());
        KafkaConsumer<byte[], byte[]> control = new KafkaConsumer<>(kafka.evaluatorControlReader());
        KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(kafka.evaluationProducer(Topics.evaluator(instanceId)));
        Admin admin = Preflight.admin(kafka);
        KafkaClientMetrics checkpointMeters = KafkaMeters.bind(registry, checkpoints);
        KafkaClientMetrics producerMeters = KafkaMeters.bind(registry, producer);
        try {
            consumer = checkpoints;
            EvaluatorProducer transactions = new EvaluatorProducer(producer, checkpoints::groupMetadata, READ_TIMEOUT, RETRY_BACKOFF);
            transactions.initTransactions();
            if (closed) {
                return;
            }
            Context ctx = new Context(scorer, checkpoints, reader, new StopFeed(control), transactions, admin);
            checkpoints.subscribe(Topics.checkpointTopics(runs), new Rebalance(ctx.stops()));
            log.info("evaluator {} serving {}", instanceId, runs.isEmpty() ? "every run" : "runs " + runs);
            runs.forEach(events::serving);
            health.ready(true);
            health.state("evaluating");
            while (!closed) {
                health.beat();
                try {
                    for (ConsumerRecord<byte[], byte[]> r : checkpoints.poll(Duration.ofMillis(200))) {
                        if (closed) {
                            break; // SIGTERM: the rest of the batch is read again by whoever takes the runs
                        }
                        acceptSafely(ctx, r);
                    }
                    noticeStops(ctx);
                } catch (WakeupException e) {
                    if (!closed) {
                        throw e;
                    }
                }
            }
        } finally {
            health.ready(false);
            health.state("stopped");
            consumer = null;
            checkpointMeters.close();
            producerMeters.close();
            metrics.close();
            events = new EvaluatorEvents() {};
            // bounded, so SIGTERM's grace period holds with the broker away
            checkpoints.close(CLOSE_TIMEOUT);
            reader.close(CLOSE_TIMEOUT);
            control.close(CLOSE_TIMEOUT);
            producer.close(CLOSE_TIMEOUT);
            admin.close(CLOSE_TIMEOUT);
        }
    }

    /**
     * A checkpoint is never fatal: whatever goes wrong with one (a manifest missing a field,
     * DJL refusing the weights, a validation set that cannot be read) rejects it, with the
     * reason, and the evaluator goes on. Only what no other record could avoid is thrown:
     * a fenced or unauthorized producer, a group that moved on.
     */
    private void acceptSafely(Context ctx, ConsumerRecord<byte[], byte[]> r) {
        try {
            accept(ctx, r);
        } catch (EvaluatorProducer.FatalException | ProducerFencedException | InvalidProducerEpochException | AuthorizationException
                | CommitFailedException e) {
            throw e;
        } catch (RuntimeException e) {
            log.error("run {}: record {}@{} of {} could not be evaluated: {}", Topics.runOfCheckpoints(r.topic()), r.partition(),
                    r.offset(), r.topic(), e.toString(), e);
            reject(ctx, r, Topics.runOfCheckpoints(r.topic()), -1, "?", Rejection.UNREADABLE,
                    "could not be evaluated: " + e);
        }
    }

    private record Context(CheckpointScorer scorer, KafkaConsumer<byte[], byte[]> checkpoints,
            KafkaConsumer<byte[], byte[]> reader, StopFeed stops, EvaluatorProducer transactions, Admin admin) {}

    /**
     * STOPs written since the last look, to runs this instance holds: a run an operator
     * stops is over for the evaluator at once, as it is after a rebuild.
     */
    private void noticeStops(Context ctx) {
        for (ControlMessage.Stop stop : ctx.stops().poll()) {
            RunState state = states.get(stop.run());
            if (state != null) {
                stopped(state, stop);
            }
        }
    }

    /** Records a STOP read on the run's control topic; says so once, when it is news. */
    private void stopped(RunState state, ControlMessage.Stop stop) {
        boolean news = !state.stopped;
        events.stopped(state.run, stop.reason());
        state.stop = state.stop == null ? stop : state.stop;
        state.stopped = true;
        if (news) {
            progress.info("run {}: stopped by {}; its later checkpoints are not evaluated", state.run, state.stoppedBy());
        }
    }

    /**
     * Whether a STOP reached the run's control topic while its checkpoint was being scored:
     * then the checkpoint is one that arrived after the stop, and is skipped like those.
     */
    private boolean stoppedWhileScoring(Context ctx, ConsumerRecord<byte[], byte[]> r, CheckpointManifest m, RunState state) {
        ctx.stops().readToEnd(state.run, READ_TIMEOUT).ifPresent(stop -> stopped(state, stop));
        if (state.stopped) {
            skip(ctx, r, m, state);
        }
        return state.stopped;
    }

    /** A checkpoint not to evaluate: only the consumer offset moves past it. */
    private void skip(Context ctx, ConsumerRecord<byte[], byte[]> r, CheckpointManifest m, RunState state) {
        log.info("run {}: checkpoint {} (epoch {}) {}; skipping it", state.run, m.checkpointId(), m.epoch(),
                state.stopped ? "arrived after the run was stopped by " + state.stoppedBy() : "is of an epoch already evaluated");
        commit(ctx, r, null, List.of());
    }

    /** A rebalance hands runs to other instances: forget them, and rebuild from the topic when they come back. */
    private final class Rebalance implements ConsumerRebalanceListener {
        private final StopFeed stops;

        Rebalance(StopFeed stops) {
            this.stops = stops;
        }

        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
            forget(partitions);
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
            forget(partitions);
        }

        private void forget(Collection<TopicPartition> partitions) {
            for (TopicPartition tp : partitions) {
                assemblers.remove(tp.topic());
                String run = Topics.runOfCheckpoints(tp.topic());
                if (run != null) {
                    states.remove(run);
                    stops.forget(run);
                }
            }
        }
    }

    private void accept(Context ctx, ConsumerRecord<byte[], byte[]> r) {
        String run = Topics.runOfCheckpoints(r.topic());
        long received = System.nanoTime();
        Checkpoint c;
        try {
            c = assemblers.computeIfAbsent(r.topic(), t -> new CheckpointAssembler()).accept(r);
        } catch (CheckpointRejectedException e) {
            reject(ctx, r, run, -1, e.checkpointId(),
                    e.incomplete() ? Rejection.INCOMPLETE : Rejection.CORRUPT, e.getMessage());
            return;
        }
        if (c == null) {
            return; // a chunk: its manifest comes later
        }
        CheckpointManifest m = c.manifest();
        RunSpec spec;
        try {
            spec = m.runSpec();
        } catch (SpecException e) {
            reject(ctx, r, run, m.epoch(), m.checkpointId(), Rejection.MISMATCH,
                    "its run spec does not parse: " + e.getMessage());
            return;
        }
        RunState state = state(ctx, run, spec);
        if (m.snapshot() && !state.stopped && spec.data().validation() != null) {
            snapshot(ctx, r, c, spec, state);
            return;
        }
        if (state.stopped || m.snapshot() || state.evaluated(m.epoch())) {
            skip(ctx, r, m, state);
            return;
        }
        if (spec.data().validation() == null) {
            reject(ctx, r, run, m.epoch(), m.checkpointId(), Rejection.MISMATCH,
                    "the run spec names no data.validation topic");
            return;
        }
        List<ProducerRecord<byte[], byte[]>> out = new ArrayList<>();
        Scored scored = scoreOrReject(ctx, r, c, spec, state, out);
        if (scored == null || stoppedWhileScoring(ctx, r, m, state)) {
            return;
        }
        Map<String, Double> metrics = scored.metrics();
        String monitor = spec.earlyStopping().monitor();
        Double monitored = metrics.get(monitor);
        if (monitored == null) {
            reject(ctx, r, run, m.epoch(), m.checkpointId(), Rejection.MISMATCH, "earlyStopping.monitor is " + monitor + ", which is not computed for this "
                    + "model (computed: " + metrics.keySet() + ")");
            return;
        }
        Double trainLoss = m.metrics() == null ? null : m.metrics().get("data_loss");
        List<Evaluation> history = new ArrayList<>(state.history);
        history.add(new Evaluation(m.epoch(), m.checkpointId(), monitored,
                trainLoss == null ? Double.NaN : trainLoss));
        Decision d = EarlyStopPolicy.decide(spec.earlyStopping(), spec.maxEpochs(), history);
        BestCheckpoint best = d.best() == null ? null
                : new BestCheckpoint(d.best().epoch(), d.best().checkpointId(), monitor, d.best().value());
        boolean stop = d.stop();
        String reason = stop ? d.reason().code() : null;
        EvaluationRecord record = EvaluationRecord.evaluated(run, m.epoch(), m.checkpointId(), metrics, trainLoss, best, d.waitCount(),
                d.patienceLeft(), reason, d.explanation(), scored.seconds(), state.plan);
        if (stop) {
            ControlMessage.Stop stopMessage = new ControlMessage.Stop(run, Messages.newId(), Messages.now(), reason, d.explanation(), best,
                    "evaluator");
            out.add(new ProducerRecord<>(Topics.control(run), Messages.encode(stopMessage)));
        }
        long committing = System.nanoTime();
        commit(ctx, r, record, out);
        log.debug("checkpoint {}: received {} ms after it was written, scored in {} ms, committed in {} ms", m.checkpointId(),
                System.currentTimeMillis() - r.timestamp() - (System.nanoTime() - received) / 1_000_000, Math.round(scored.seconds() * 1e3),
                (System.nanoTime() - committing) / 1_000_000);
        state.history.add(history.get(history.size() - 1));
        state.deadLettersWritten = true;
        state.stopped = stop;
        progress.info(String.format(java.util.Locale.ROOT, "run %s epoch %d (%s): %s %.4f%s; best %s; %s",
                run, m.epoch(), m.checkpointId(), monitor, monitored,
                metrics.containsKey(CheckpointScorer.VAL_ACCURACY) && !monitor.equals(CheckpointScorer.VAL_ACCURACY)
                        ? String.format(java.util.Locale.ROOT, ", val_accuracy %.4f", metrics.get(CheckpointScorer.VAL_ACCURACY)) : "",
                best == null ? "none" : String.format(java.util.Locale.ROOT, "%.4f at epoch %d", best.value(), best.epoch()),
                stop ? "STOP (" + reason + "): " + d.explanation() : "continue, patience left " + d.patienceLeft()));
        events.committed(record);
    }

    /**
     * The events go to the meters, and each committed record to the listeners. A listener's
     * failure is its own: it is logged, and neither the record (already committed) nor the
     * other listeners suffer.
     */
    private final class Fanout implements EvaluatorEvents {
        private final EvaluatorMetrics metrics;

        Fanout(EvaluatorMetrics metrics) {
            this.metrics = metrics;
        }

        @Override
        public void serving(String run) {
            metrics.serving(run);
        }

        @Override
        public void restored(EvaluationRecord last) {
            metrics.restored(last);
        }

        @Override
        public void committed(EvaluationRecord record) {
            metrics.committed(record);
            for (Consumer<EvaluationRecord> l : listeners) {
                try {
                    l.accept(record);
                } catch (RuntimeException e) {
                    log.warn("run {}: a listener failed on the evaluation of epoch {}: {}", record.run(), record.epoch(), e.toString(), e);
                }
            }
        }

        @Override
        public void rejected(String run, Rejection why) {
            metrics.rejected(run, why);
        }

        @Override
        public void stopped(String run, String reasonCode) {
            metrics.stopped(run, reasonCode);
        }
    }

    /** A mid-epoch snapshot (CHECKPOINT command): scored and published, never part of the early-stopping history. */
    private void snapshot(Context ctx, ConsumerRecord<byte[], byte[]> r, Checkpoint c, RunSpec spec, RunState state) {
        CheckpointManifest m = c.manifest();
        List<ProducerRecord<byte[], byte[]>> out = new ArrayList<>();
        Scored scored = scoreOrReject(ctx, r, c, spec, state, out);
        if (scored == null || stoppedWhileScoring(ctx, r, m, state)) {
            return;
        }
        EvaluationRecord record = EvaluationRecord.snapshot(state.run, m.epoch(), m.checkpointId(), scored.metrics(),
                m.metrics() == null ? null : m.metrics().get("data_loss"), "snapshot at step " + m.step() + " (mid-epoch; not part of early stopping)",
                scored.seconds(), state.plan);
        commit(ctx, r, record, out);
        state.deadLettersWritten = true;
        progress.info(String.format(java.util.Locale.ROOT, "run %s snapshot %s (step %d): val_loss %.4f", state.run, m.checkpointId(), m.step(),
                scored.metrics().get(CheckpointScorer.VAL_LOSS)));
        events.committed(record);
    }

    /** Validation metrics and the seconds their computation took (loading the validation set excluded). */
    private record Scored(Map<String, Double> metrics, double seconds) {}

    /**
     * Scores a checkpoint on the run's validation set; the set's dead letters, due with the
     * run's first evaluation, are added to {@code out}.
     *
     * @return the metrics, or null when the checkpoint could not be scored and has been rejected
     */
    private Scored scoreOrReject(Context ctx, ConsumerRecord<byte[], byte[]> r, Checkpoint c, RunSpec spec, RunState state,
            List<ProducerRecord<byte[], byte[]>> out) {
        CheckpointManifest m = c.manifest();
        try {
            ValidationSet validation = validation(ctx, state, spec, out);
            long started = System.nanoTime();
            Map<String, Double> metrics = ctx.scorer().score(spec.model(), c.payload(), validation, ctx.reader(), READ_TIMEOUT,
                    "checkpoint " + m.checkpointId());
            return new Scored(metrics, (System.nanoTime() - started) / 1e9);
        } catch (IllegalArgumentException e) {
            reject(ctx, r, state.run, m.epoch(), m.checkpointId(), Rejection.MISMATCH, e.getMessage());
            return null;
        }
    }

    /** A checkpoint that cannot be evaluated: an evaluation record and a dead letter say why; the run goes on. */
    private void reject(Context ctx, ConsumerRecord<byte[], byte[]> r, String run, int epoch, String checkpointId,
            Rejection kind, String why) {
        log.warn("run {}: checkpoint {} rejected: {}", run, checkpointId, why);
        RunState state = states.get(run);
        EvaluationRecord record = EvaluationRecord.rejected(run, epoch, checkpointId, CHECKPOINT_REJECTED, why,
                state == null ? null : state.plan);
        List<ProducerRecord<byte[], byte[]>> out = List.of(
                DeadLetters.record(Topics.deadLetters(run), r, CHECKPOINT_REJECTED, why, "evaluator-" + instanceId, DEAD_LETTER_VALUE_BYTES));
        ensureTopics(ctx, run);
        commit(ctx, r, record, out);
        events.rejected(run, kind);
        events.committed(record);
    }

    /**
     * One transaction: the evaluation (if any), the other records, and the group offset past
     * {@code r}, whose metadata says where the run's evaluations have got to.
     */
    private void commit(Context ctx, ConsumerRecord<byte[], byte[]> r, EvaluationRecord evaluation, List<ProducerRecord<byte[], byte[]>> out) {
        // never past the first chunk of a payload still being assembled: a restart must see it again
        long next = r.offset() + 1;
        CheckpointAssembler assembler = assemblers.get(r.topic());
        if (assembler != null && assembler.firstPendingOffset().isPresent()) {
            next = Math.min(next, assembler.firstPendingOffset().getAsLong());
        }
        String metadata = ctx.transactions().commit(new TopicPartition(r.topic(), r.partition()), next, evaluation, out,
                committedMetadata.getOrDefault(r.topic(), ""));
        committedMetadata.put(r.topic(), metadata);
    }

    /**
     * The offset of the run's last committed evaluation, from the committed offset's
     * metadata; -1 if none. An evaluation's commit markers can reach the evaluations topic
     * after the offset's: the history must be read at least this far.
     */
    private long evaluationsThrough(Context ctx, String run) {
        TopicPartition tp = new TopicPartition(Topics.checkpoints(run), 0);
        OffsetAndMetadata committed = ctx.checkpoints().committed(java.util.Set.of(tp), READ_TIMEOUT).get(tp);
        String metadata = committed == null ? null : committed.metadata();
        if (committed != null) {
            committedMetadata.put(tp.topic(), metadata == null ? "" : metadata);
        }
        return EvaluatorProducer.evaluationsThrough(metadata);
    }

    private RunState state(Context ctx, String run, RunSpec spec) {
        RunState known = states.get(run);
        if (known != null) {
            return known;
        }
        ensureTopics(ctx, run);
        RunState s = new RunState(run);
        events.serving(run);
        EvaluationRecord lastEvaluated = null;
        String monitor = spec.earlyStopping().monitor();
        long through = evaluationsThrough(ctx, run);
        List<ConsumerRecord<byte[], byte[]>> evaluations = TopicReader.readAll(ctx.reader(), Topics.evaluations(run), READ_TIMEOUT);
        long deadline = System.nanoTime() + READ_TIMEOUT.toNanos();
        while (evaluations.stream().noneMatch(r -> r.offset() >= through) && through >= 0) {
            if (System.nanoTime() > deadline) {
                throw new org.apache.kafka.common.errors.TimeoutException("run " + run + ": its last committed evaluation (offset "
                        + through + ") is not readable after " + READ_TIMEOUT);
            }
            sleep(100); // its transaction's commit marker has not reached the evaluations topic yet
            evaluations = TopicReader.readAll(ctx.reader(), Topics.evaluations(run), READ_TIMEOUT);
        }
        for (ConsumerRecord<byte[], byte[]> r : evaluations) {
            try {
                Optional<EvaluationRecord> e = Messages.decodeEvaluation(r.value());
                if (s.plan == null && e.isPresent()) {
                    s.plan = e.get().validation(); // the first record with a plan fixed it
                }
                if (e.isPresent() && EvaluationRecord.SNAPSHOT.equals(e.get().status())) {
                    s.deadLettersWritten = true; // a snapshot's evaluation wrote them, as a first evaluation does
                }
                if (e.isEmpty() || !e.get().evaluated()) {
                    continue;
                }
                EvaluationRecord ev = e.get();
                lastEvaluated = ev;
                if (!s.evaluated(ev.epoch())) {
                    Double v = ev.metrics() == null ? null : ev.metrics().get(monitor);
                    s.history.add(new Evaluation(ev.epoch(), ev.checkpointId(), v == null ? Double.NaN : v,
                            ev.trainLoss() == null ? Double.NaN : ev.trainLoss()));
                    s.deadLettersWritten = true;
                }
                s.stopped |= EvaluationRecord.STOP.equals(ev.decision());
            } catch (MalformedMessageException e) {
                log.warn("run {}: unreadable record at offset {} of {}: {}; ignoring it", run, r.offset(), r.topic(), e.getMessage());
            }
        }
        // a run an operator stopped is over for the evaluator too: no second STOP
        ctx.stops().follow(run, READ_TIMEOUT).ifPresent(stop -> s.stop = stop);
        s.stopped |= s.stop != null;
        if (!s.history.isEmpty() || s.stopped) {
            log.info("run {}: {} evaluations so far{}", run, s.history.size(), s.stopped ? "; the run was stopped by " + s.stoppedBy() : "");
        }
        if (lastEvaluated != null) {
            events.restored(lastEvaluated);
        }
        if (s.stopped) {
            events.stopped(run, s.stop != null ? s.stop.reason() : lastEvaluated == null ? null : lastEvaluated.reason());
        }
        states.put(run, s);
        return s;
    }

    private ValidationSet validation(Context ctx, RunState state, RunSpec spec, List<ProducerRecord<byte[], byte[]>> out) {
        if (state.validation == null) {
            String topic = spec.data().validation();
            ValidationPlan plan = state.plan;
            if (plan != null && !plan.topic().equals(topic)) {
                log.warn("run {}: its evaluations were scored on validation topic {}, its spec now names {}: planning {} anew", state.run,
                        plan.topic(), topic, topic);
                plan = null;
            }
            ValidationSet loaded = ValidationSet.load(ctx.reader(), topic, spec.model(), plan, READ_TIMEOUT, validationMemoryBytes);
            log.info("run {}: validation set {}: {} samples in {} records, {} rejected, up to offsets {} ({}); {}", state.run, topic,
                    loaded.samples(), loaded.records(), loaded.rejected().size(), loaded.plan().endOffsets(),
                    plan == null ? "its end now: the run's plan from now on" : "the run's plan, from its evaluations",
                    loaded.streamed() ? "more than " + validationMemoryBytes + " bytes decoded: read from the topic for each evaluation"
                            : "held in memory");
            if (loaded.samples() == 0) {
                // nothing to plan on yet: the next checkpoint looks again
                throw new IllegalArgumentException("validation topic " + topic + " has no usable samples");
            }
            state.validation = loaded;
            state.plan = loaded.plan();
        }
        // bad validation records are dead-lettered once, with the run's first evaluation
        if (!state.deadLettersWritten) {
            for (ValidationSet.Rejected rej : state.validation.rejected()) {
                out.add(DeadLetters.record(Topics.deadLetters(state.run), rej.record(), rej.reason().reason().code(),
                        rej.reason().getMessage(), "evaluator-" + instanceId, DEAD_LETTER_VALUE_BYTES));
            }
        }
        return state.validation;
    }

    private void ensureTopics(Context ctx, String run) {
        RunTopics.ensure(ctx.admin(), List.of(
                RunTopics.evaluations(Topics.evaluations(run)),
                RunTopics.control(Topics.control(run)),
                RunTopics.deadLetters(Topics.deadLetters(run), 1 << 20)));
    }

    /** Stops the service at its next poll. */
    @Override
    public void close() {
        closed = true;
        KafkaConsumer<byte[], byte[]> c = consumer;
        if (c != null) {
            c.wakeup();
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }
}
