package io.streamtrain.testkit;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The meters streamtrain's services register, named as Prometheus scrapes them: the contract the
 * dashboard and the rules in {@code deploy/} are written against. This is the one list; a test
 * that compares it with the meters the services really register can use it as it is.
 */
public final class MetricCatalogue {
    public enum Type {
        COUNTER,
        GAUGE,
        HISTOGRAM
    }

    /**
     * One meter: its Prometheus name (a histogram by its base name), its type, the role of the
     * process that registers it, and the values of its own labels (pre-registered for every value).
     */
    public record Meter(String name, Type type, String role, Map<String, Set<String>> labels, String description) {
        /** The series names Prometheus scrapes for the meter. */
        public Set<String> seriesNames() {
            if (type != Type.HISTOGRAM) {
                return Set.of(name);
            }
            return Set.of(name + "_bucket", name + "_count", name + "_sum", name + "_max");
        }

        /** Every label a series of this meter may carry, scrape labels included. */
        public Set<String> labelNames(String series) {
            Set<String> names = new LinkedHashSet<>(COMMON_LABELS);
            names.addAll(TARGET_LABELS);
            names.addAll(labels.keySet());
            if (series.equals(name + "_bucket")) {
                names.add("le");
            }
            return names;
        }
    }

    /** Tags of every streamtrain meter: {@code role} (trainer|evaluator), {@code node} (node id), {@code run}. */
    public static final Set<String> COMMON_LABELS = Set.of("role", "node", "run");

    /** Labels Prometheus adds from the scrape configuration. */
    public static final Set<String> TARGET_LABELS = Set.of("job", "instance");

    public static final List<Meter> STREAMTRAIN = List.of(
            trainer("streamtrain_trainer_samples_total", Type.COUNTER, "samples trained"),
            trainer("streamtrain_trainer_steps_total", Type.COUNTER, "optimizer steps"),
            trainer(
                    "streamtrain_trainer_steps_skipped_total",
                    Type.COUNTER,
                    "steps whose loss or gradient was not finite"),
            trainer("streamtrain_trainer_records_total", Type.COUNTER, "train-topic records read"),
            trainer("streamtrain_trainer_epoch", Type.GAUGE, "epoch being trained"),
            trainer(
                    "streamtrain_trainer_loss",
                    Type.GAUGE,
                    "last step's loss terms (data = train loss without penalties)",
                    "term",
                    "data",
                    "l1",
                    "l2",
                    "l2sp",
                    "total"),
            trainer("streamtrain_trainer_weight_norm", Type.GAUGE, "L2 norm of all parameters"),
            trainer(
                    "streamtrain_trainer_grad_norm",
                    Type.GAUGE,
                    "gradient norm before and after clipping",
                    "stage",
                    "raw",
                    "clipped"),
            trainer("streamtrain_trainer_learning_rate", Type.GAUGE, "learning rate"),
            trainer(
                    "streamtrain_trainer_setting",
                    Type.GAUGE,
                    "current regularization settings (changed by SET)",
                    "name",
                    "l1",
                    "l2",
                    "l2sp",
                    "weight_decay",
                    "dropout"),
            trainer("streamtrain_trainer_step_seconds", Type.HISTOGRAM, "time of one training step"),
            trainer(
                    "streamtrain_trainer_data_wait_seconds_total",
                    Type.COUNTER,
                    "time the training thread waited for data"),
            trainer(
                    "streamtrain_trainer_sync_wait_seconds_total",
                    Type.COUNTER,
                    "time waiting for sync rounds to close"),
            trainer("streamtrain_trainer_sync_bytes_total", Type.COUNTER, "bytes this node wrote to the sync topic"),
            trainer("streamtrain_trainer_sync_rounds_total", Type.COUNTER, "sync rounds closed"),
            trainer("streamtrain_trainer_rollbacks_total", Type.COUNTER, "roll-backs to the last closed round"),
            trainer(
                    "streamtrain_trainer_evictions_total",
                    Type.COUNTER,
                    "times this node left the group because its training thread stalled"),
            trainer("streamtrain_trainer_partitions", Type.GAUGE, "train partitions assigned to the node"),
            trainer("streamtrain_trainer_paused", Type.GAUGE, "1 while paused"),
            trainer(
                    "streamtrain_trainer_awaiting_evaluation",
                    Type.GAUGE,
                    "1 while waiting for the evaluator (evaluation.maxLag)"),
            trainer(
                    "streamtrain_trainer_awaiting_data",
                    Type.GAUGE,
                    "1 while a continuous run's window waits for records"),
            trainer(
                    "streamtrain_trainer_window_lag",
                    Type.GAUGE,
                    "records arrived and not yet trained (continuous runs)"),
            trainer("streamtrain_trainer_checkpoints_total", Type.COUNTER, "checkpoints this node published"),
            trainer("streamtrain_trainer_checkpoint_size_bytes", Type.GAUGE, "payload size of the last checkpoint"),
            trainer("streamtrain_trainer_checkpoint_publish_seconds", Type.HISTOGRAM, "time to publish a checkpoint"),
            trainer(
                    "streamtrain_trainer_dlq_records_total",
                    Type.COUNTER,
                    "records sent to the DLQ",
                    "reason",
                    "decode",
                    "shape",
                    "dtype",
                    "non-finite",
                    "label"),
            trainer(
                    "streamtrain_trainer_control_commands_total",
                    Type.COUNTER,
                    "control commands applied",
                    "command",
                    "stop",
                    "pause",
                    "resume",
                    "set",
                    "revoke",
                    "checkpoint",
                    "rollback"),
            trainer("streamtrain_trainer_control_ignored_total", Type.COUNTER, "malformed or unknown control messages"),
            trainer(
                    "streamtrain_trainer_control_refused_total",
                    Type.COUNTER,
                    "control messages refused for their signature"),
            trainer("streamtrain_trainer_sync_refused_total", Type.COUNTER, "sync records refused for their signature"),
            evaluator("streamtrain_evaluator_val_loss", Type.GAUGE, "validation loss of the last evaluated checkpoint"),
            evaluator(
                    "streamtrain_evaluator_val_accuracy",
                    Type.GAUGE,
                    "validation accuracy of the last evaluated checkpoint (classification)"),
            evaluator(
                    "streamtrain_evaluator_val_perplexity",
                    Type.GAUGE,
                    "validation perplexity of the last evaluated checkpoint"),
            evaluator(
                    "streamtrain_evaluator_train_loss",
                    Type.GAUGE,
                    "train loss from the evaluated checkpoint's manifest"),
            evaluator("streamtrain_evaluator_epoch", Type.GAUGE, "epoch of the last evaluated checkpoint"),
            evaluator("streamtrain_evaluator_best_value", Type.GAUGE, "best value of the monitored metric"),
            evaluator("streamtrain_evaluator_best_epoch", Type.GAUGE, "epoch of the best checkpoint"),
            evaluator(
                    "streamtrain_evaluator_patience_remaining",
                    Type.GAUGE,
                    "evaluations without improvement still allowed"),
            evaluator("streamtrain_evaluator_evaluations_total", Type.COUNTER, "checkpoints evaluated"),
            evaluator("streamtrain_evaluator_evaluation_seconds", Type.HISTOGRAM, "validation compute time"),
            evaluator(
                    "streamtrain_evaluator_last_evaluation_timestamp_seconds",
                    Type.GAUGE,
                    "unix time of the last evaluation"),
            evaluator("streamtrain_evaluator_stopped", Type.GAUGE, "1 once the run is stopped"),
            evaluator("streamtrain_evaluator_promotions_total", Type.COUNTER, "windows of a continuous run promoted"),
            evaluator(
                    "streamtrain_evaluator_last_promotion_timestamp_seconds",
                    Type.GAUGE,
                    "unix time of the last promotion"),
            evaluator("streamtrain_evaluator_degrading", Type.GAUGE, "1 while a continuous run degrades"),
            evaluator(
                    "streamtrain_evaluator_checkpoints_rejected_total",
                    Type.COUNTER,
                    "checkpoints rejected",
                    "reason",
                    "corrupt",
                    "incomplete",
                    "mismatch",
                    "untrusted",
                    "unreadable"),
            evaluator(
                    "streamtrain_evaluator_early_stops_total",
                    Type.COUNTER,
                    "early stops",
                    "reason",
                    "patience-exhausted",
                    "threshold-reached",
                    "divergence",
                    "non-finite",
                    "max-epochs",
                    "generalization-loss",
                    "progress-quotient",
                    "successive-increases",
                    "operator"));

    /** Micrometer's {@code KafkaClientMetrics} names the dashboard and rules may use. */
    public static final Set<String> KAFKA = Set.of(
            "kafka_consumer_fetch_manager_records_lag",
            "kafka_consumer_fetch_manager_records_lag_max",
            "kafka_consumer_fetch_manager_fetch_rate",
            "kafka_producer_record_error_total");

    /** Micrometer's JVM and process binders. */
    public static final Set<String> JVM = Set.of(
            "jvm_memory_used_bytes",
            "jvm_memory_committed_bytes",
            "jvm_memory_max_bytes",
            "jvm_gc_pause_seconds_count",
            "jvm_gc_pause_seconds_sum",
            "jvm_gc_pause_seconds_max",
            "jvm_threads_live_threads",
            "process_cpu_usage",
            "process_uptime_seconds");

    /** Prometheus's own series. */
    public static final Set<String> PROMETHEUS = Set.of("up", "ALERTS", "ALERTS_FOR_STATE", "scrape_duration_seconds");

    private MetricCatalogue() {}

    /** The streamtrain meter a scraped series belongs to. */
    public static Optional<Meter> meterOf(String series) {
        return STREAMTRAIN.stream()
                .filter(m -> m.seriesNames().contains(series))
                .findFirst();
    }

    /** Whether a series name is in the catalogue or one of the known Kafka, JVM or Prometheus names. */
    public static boolean known(String series) {
        return meterOf(series).isPresent()
                || KAFKA.contains(series)
                || JVM.contains(series)
                || PROMETHEUS.contains(series);
    }

    private static Meter trainer(String name, Type type, String description, String... label) {
        return meter(name, type, "trainer", description, label);
    }

    private static Meter evaluator(String name, Type type, String description, String... label) {
        return meter(name, type, "evaluator", description, label);
    }

    /** {@code label} is empty, or a label name followed by every value it takes. */
    private static Meter meter(String name, Type type, String role, String description, String... label) {
        Map<String, Set<String>> labels = new LinkedHashMap<>();
        if (label.length > 0) {
            labels.put(
                    label[0],
                    Collections.unmodifiableSet(
                            new LinkedHashSet<>(List.of(label).subList(1, label.length))));
        }
        return new Meter(name, type, role, Collections.unmodifiableMap(labels), description);
    }
}
