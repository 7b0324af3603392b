package io.streamtrain.evaluator;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.kafka.KafkaClientMetrics;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.streamtrain.core.djl.Engines;
import io.streamtrain.core.evaluation.EvaluationRecord;
import io.streamtrain.core.kafka.KafkaSettings;
import io.streamtrain.core.kafka.Preflight;
import io.streamtrain.core.kafka.RunTopics;
import io.streamtrain.core.kafka.StartupException;
import io.streamtrain.core.logging.Logs;
import io.streamtrain.core.metrics.Health;
import io.streamtrain.core.metrics.KafkaMeters;
import io.streamtrain.core.signing.Right;
import io.streamtrain.core.signing.Signing;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.core.topics.Topics;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.acl.AclOperation;
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
    private static final Duration READ_TIMEOUT = Duration.ofSeconds(60);
    private static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(5);
    private static final Duration RETRY_BACKOFF = Duration.ofMillis(500);

    public static final long DEFAULT_VALIDATION_MEMORY_BYTES = 1L << 30;

    private final KafkaSettings kafka;
    private final long validationMemoryBytes;
    private final Set<String> runs;
    private final String instanceId;
    private final MeterRegistry registry;
    private final Health health;
    private final List<Consumer<EvaluationRecord>> listeners = new CopyOnWriteArrayList<>();
    private volatile boolean closed;
    private volatile KafkaConsumer<byte[], byte[]> consumer;

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
    public EvaluatorService(
            KafkaSettings kafka, Collection<String> runs, String instanceId, long validationMemoryBytes) {
        this(
                kafka,
                runs,
                instanceId,
                validationMemoryBytes,
                new SimpleMeterRegistry(),
                new Health(Duration.ofMinutes(2)));
    }

    /**
     * @param runs the run ids to serve; empty serves every run whose checkpoint topic exists
     * @param instanceId unique among live evaluator instances (its transactional id)
     * @param validationMemoryBytes the most decoded validation data held per run; a larger
     *     validation set is read from its topic again for every evaluation
     * @param registry where the service's meters go while it runs, and its Kafka clients'
     * @param health what its {@code /healthz} and {@code /readyz} report
     */
    public EvaluatorService(
            KafkaSettings kafka,
            Collection<String> runs,
            String instanceId,
            long validationMemoryBytes,
            MeterRegistry registry,
            Health health) {
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

    /**
     * Serves until {@link #close()}.
     *
     * @throws StartupException exit 2 when a run to serve is not a run id ({@link Topics#RUN_ID_RULE})
     */
    public void run() {
        for (String run : runs) {
            if (!Topics.isRunId(run)) {
                // a topic of that name may exist (Kafka allows dots), but no trainer writes it
                throw new StartupException(
                        StartupException.BAD_CONFIGURATION,
                        "'" + Logs.escape(run) + "' is not a run id; allowed: " + Topics.RUN_ID_RULE);
            }
        }
        try (Admin admin = Preflight.admin(kafka)) {
            Preflight.requireReachable(admin, kafka.bootstrapServers());
            // the runs it is told to serve: a missing ACL is found now, not when their next checkpoint is answered (and
            // only then: a missing Write on .evaluations left an idle evaluator looking fine). Read on the validation
            // topic is not required: without it that run's checkpoints are rejected, saying so
            Map<String, Set<AclOperation>> needs = new HashMap<>();
            for (String run : runs) {
                needs.put(Topics.checkpoints(run), Set.of(AclOperation.READ));
                needs.put(Topics.evaluations(run), Set.of(AclOperation.READ, AclOperation.WRITE));
                needs.put(Topics.control(run), Set.of(AclOperation.READ, AclOperation.WRITE));
                needs.put(Topics.deadLetters(run), Set.of(AclOperation.WRITE));
            }
            Preflight.requireOperations(admin, needs, "the evaluator");
        }
        Signing signing = kafka.signing();
        signing.requireSigner(Right.EVALUATOR, "the evaluator");
        CheckpointScorer scorer = new CheckpointScorer(Engines.pytorch());
        KafkaConsumer<byte[], byte[]> checkpoints =
                new KafkaConsumer<>(kafka.evaluatorCheckpointConsumer(Topics.EVALUATOR_GROUP, instanceId));
        KafkaConsumer<byte[], byte[]> reader = new KafkaConsumer<>(kafka.reader());
        KafkaConsumer<byte[], byte[]> control = new KafkaConsumer<>(kafka.evaluatorControlReader());
        KafkaProducer<byte[], byte[]> producer =
                new KafkaProducer<>(kafka.evaluationProducer(Topics.evaluator(instanceId)));
        Admin admin = Preflight.admin(kafka);
        KafkaClientMetrics checkpointMeters = KafkaMeters.bind(registry, checkpoints);
        KafkaClientMetrics producerMeters = KafkaMeters.bind(registry, producer);
        EvaluatorMetrics metrics = new EvaluatorMetrics();
        metrics.bindTo(registry);
        EvaluatorEvents events = new Fanout(metrics);
        try {
            consumer = checkpoints;
            EvaluatorProducer transactions =
                    new EvaluatorProducer(producer, checkpoints::groupMetadata, READ_TIMEOUT, RETRY_BACKOFF, signing);
            transactions.initTransactions();
            if (closed) {
                return;
            }
            StopFeed stops = new StopFeed(control, signing);
            CheckpointHandler handler = new CheckpointHandler(
                    new RunStateLoader(checkpoints, reader, stops, events, READ_TIMEOUT, signing),
                    stops,
                    new ValidationScoring(
                            scorer,
                            reader,
                            READ_TIMEOUT,
                            validationMemoryBytes,
                            checkpointsById(reader, READ_TIMEOUT, signing)),
                    transactions,
                    new EvaluationStep("evaluator-" + instanceId),
                    (run, spec) -> ensureTopics(admin, run, spec),
                    events,
                    READ_TIMEOUT,
                    signing);
            checkpoints.subscribe(Topics.checkpointTopics(runs), new Rebalance(handler));
            log.info("evaluator {} serving {}", instanceId, runs.isEmpty() ? "every run" : "runs " + runs);
            if (runs.isEmpty()) {
                sayWhichTopicsAreNoRuns(admin);
            }
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
                        handler.handle(r);
                    }
                    handler.noticeStops();
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
            // bounded, so SIGTERM's grace period holds with the broker away
            // a static member stays in the group when it closes unless told: leave, so the partitions move at once
            checkpoints.close(CloseOptions.groupMembershipOperation(CloseOptions.GroupMembershipOperation.LEAVE_GROUP)
                    .withTimeout(CLOSE_TIMEOUT));
            reader.close(CloseOptions.timeout(CLOSE_TIMEOUT));
            control.close(CloseOptions.timeout(CLOSE_TIMEOUT));
            producer.close(CLOSE_TIMEOUT);
            admin.close(CLOSE_TIMEOUT);
        }
    }

    /**
     * Serving every run, the evaluator reads the checkpoint topics of run ids only: a topic such
     * as {@code streamtrain.a..b.checkpoints} is not read, and the evaluator says so once, at its
     * start (one made later is ignored without a word).
     */
    private static void sayWhichTopicsAreNoRuns(Admin admin) {
        Set<String> topics;
        try {
            topics = admin.listTopics().names().get(READ_TIMEOUT.toSeconds(), java.util.concurrent.TimeUnit.SECONDS);
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            return; // only a remark: serving goes on without it
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
        }
        for (String topic : new java.util.TreeSet<>(topics)) {
            String run = Topics.runOfCheckpoints(topic);
            if (run != null && !Topics.isRunId(run)) {
                log.warn(
                        "not serving topic {}: '{}' is not a run id (allowed: {}), so no trainer writes it",
                        Logs.escape(topic),
                        Logs.escape(run),
                        Topics.RUN_ID_RULE);
            }
        }
    }

    /** A rebalance hands runs to other instances: forget them, and rebuild from the topic when they come back. */
    private static final class Rebalance implements ConsumerRebalanceListener {
        private final CheckpointHandler handler;

        Rebalance(CheckpointHandler handler) {
            this.handler = handler;
        }

        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
            partitions.forEach(handler::forget);
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
            partitions.forEach(handler::forget);
        }
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
                    log.warn(
                            "run {}: a listener failed on the evaluation of epoch {}: {}",
                            record.run(),
                            record.epoch(),
                            e.toString(),
                            e);
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

    private static void ensureTopics(Admin admin, String run, RunSpec spec) {
        List<NewTopic> topics = new ArrayList<>(
                List.of(RunTopics.evaluations(Topics.evaluations(run)), RunTopics.control(Topics.control(run))));
        String deadLetters = Topics.deadLetters(run);
        Set<String> existing = RunTopics.names(admin); // one listing decides the .dlq's room and what to make
        if (!existing.contains(deadLetters)) { // its room is decided once, by whoever makes it
            topics.add(RunTopics.deadLetters(deadLetters, deadLetterRoom(admin, spec)));
        }
        if (spec != null && spec.data().continuous()) {
            topics.add(RunTopics.models(
                    Topics.models(run))); // only continuous runs promote: bounded ones need no Create right for it
        }
        RunTopics.ensure(admin, existing, topics);
    }

    /**
     * The largest record the run's dead-letter topic must take: its trainers dead-letter whole
     * train records, so the train topic's limit when the evaluator may read it (a trainer whose
     * run's .dlq the evaluator made too small refuses to start); where the evaluator may not
     * read that (no DescribeConfigs), Kafka's default size.
     */
    private static int deadLetterRoom(Admin admin, RunSpec spec) {
        if (spec == null) {
            return RunTopics.KAFKA_DEFAULT_MAX_MESSAGE_BYTES;
        }
        try {
            return Math.max(
                    RunTopics.KAFKA_DEFAULT_MAX_MESSAGE_BYTES,
                    RunTopics.maxMessageBytes(admin, spec.data().train()));
        } catch (StartupException e) {
            if (e.exitCode() != StartupException.BAD_CONFIGURATION) {
                throw e; // a broker going away: taking the run up is tried again, the .dlq not made too small
            }
            log.info(
                    "run {}: cannot read the settings of {} ({}): its dead-letter topic gets room for Kafka's default"
                            + " record size",
                    spec.run(),
                    spec.data().train(),
                    Logs.escape(e.getMessage()));
            return RunTopics.KAFKA_DEFAULT_MAX_MESSAGE_BYTES;
        }
    }

    /**
     * Reads a run's checkpoint back by id, verified (a sliding run's promoted model, after a restart); null, and
     * why in the log, when it cannot be.
     */
    static ValidationScoring.CheckpointLookup checkpointsById(
            org.apache.kafka.clients.consumer.Consumer<byte[], byte[]> reader, Duration timeout, Signing signing) {
        return (run, id) -> {
            try {
                return io.streamtrain.core.checkpoint.RunCheckpoints.byId(
                        reader,
                        run,
                        id,
                        timeout,
                        io.streamtrain.core.checkpoint.PayloadSources.fromEnvironment(),
                        signing);
            } catch (io.streamtrain.core.checkpoint.CheckpointRejectedException | RuntimeException e) {
                // a rejection's message names the checkpoint and what a record said, escaped where it was made
                String why = e instanceof io.streamtrain.core.checkpoint.CheckpointRejectedException
                        ? e.getMessage()
                        : Logs.escape(e.getMessage());
                log.warn("run {}: checkpoint {} cannot be read: {}", run, Logs.escape(id), why);
                return null;
            }
        };
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
}
