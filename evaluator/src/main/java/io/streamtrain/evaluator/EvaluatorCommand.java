package io.streamtrain.evaluator;

import io.micrometer.core.instrument.Tags;
import io.streamtrain.core.djl.NativeEngineException;
import io.streamtrain.core.kafka.KafkaOptions;
import io.streamtrain.core.kafka.KafkaSettings;
import io.streamtrain.core.kafka.StartupException;
import io.streamtrain.core.logging.Logs;
import io.streamtrain.core.metrics.Health;
import io.streamtrain.core.metrics.MetricsOptions;
import io.streamtrain.core.metrics.MetricsServer;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code streamtrain evaluate}: the long-lived evaluator service. Exit codes: 0 stopped by
 * SIGTERM, 2 bad configuration, 1 anything else (retry).
 */
@Command(
        footer = {
            "",
            "Examples:",
            "  streamtrain evaluate --bootstrap-servers kafka:9092                  # every run",
            "  streamtrain evaluate --run fashion-mlp-01 --instance-id evaluator-a --metrics-port 9401"
        },
        name = "evaluate",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = {
            "Run the evaluator service.",
            "",
            "Consumes the checkpoints of the runs it serves, computes validation loss and accuracy on each run's "
                    + "data.validation topic (up to its end offsets at the run's first evaluation, for every checkpoint of the run), "
                    + "publishes an evaluation per checkpoint on streamtrain.<run>.evaluations and "
                    + "sends STOP on streamtrain.<run>.control when the run's early-stopping policy says so. "
                    + "A run stopped by an operator (ctl stop) is evaluated no further. Runs until SIGTERM.",
            "",
            "Exit codes: 0 stopped by SIGTERM, 2 bad configuration (do not retry), 1 retryable failure."
        })
public final class EvaluatorCommand implements Callable<Integer> {
    private static final Logger log = LoggerFactory.getLogger(EvaluatorCommand.class);
    private static final Duration GRACE = Duration.ofSeconds(25);

    @Option(
            names = "--run",
            paramLabel = "RUN",
            description = "A run to serve; repeat for several (default: every run).")
    List<String> runs = new ArrayList<>();

    @Mixin
    KafkaOptions kafkaOptions;

    @Option(
            names = "--instance-id",
            paramLabel = "NAME",
            defaultValue = "${env:STREAMTRAIN_NODE_ID:-${env:HOSTNAME:-evaluator-0}}",
            description =
                    "This instance's name, unique among live evaluators (default: $STREAMTRAIN_NODE_ID, else $HOSTNAME, else ${DEFAULT-VALUE}).")
    String instanceId;

    @Option(
            names = "--validation-memory",
            paramLabel = "BYTES",
            defaultValue = "" + EvaluatorService.DEFAULT_VALIDATION_MEMORY_BYTES,
            description =
                    "Most decoded validation data held in memory per run; a larger validation set is read from its topic "
                            + "for each evaluation (default: ${DEFAULT-VALUE}).")
    long validationMemoryBytes;

    @Mixin
    MetricsOptions metricsOptions;

    @Spec
    CommandSpec command;

    @Override
    public Integer call() {
        // through picocli's writer, as every command prints: whoever runs the command decides where it goes
        PrintWriter err = command.commandLine().getErr();
        if (Logs.refusedFormat(System.getenv(Logs.FORMAT_ENV), System.err)) {
            return StartupException.BAD_CONFIGURATION;
        }
        KafkaSettings kafka = kafkaOptions.settings();
        if (!kafka.signing().checking()) {
            log.warn(
                    "{} is not set: manifests, STOPs and evaluations are not checked for signatures, so anyone with Write on a run's "
                            + "topics speaks for its trainers and operators (docs/operations.md, \"Signed messages\")",
                    io.streamtrain.core.signing.Signing.TRUSTED_ENV);
        }
        Health health = new Health(Duration.ofMinutes(2));
        MetricsServer metrics;
        try {
            metrics = metricsOptions.start(health, Tags.of("role", "evaluator", "node", instanceId));
        } catch (StartupException e) {
            err.println("streamtrain: " + e.getMessage());
            return e.exitCode();
        }
        EvaluatorService service =
                new EvaluatorService(kafka, runs, instanceId, validationMemoryBytes, metrics.registry(), health);
        CountDownLatch done = new CountDownLatch(1);
        Thread hook = new Thread(
                () -> {
                    service.close();
                    boolean stopped;
                    try {
                        stopped = done.await(GRACE.toSeconds(), TimeUnit.SECONDS);
                    } catch (InterruptedException e) {
                        stopped = false;
                    }
                    Runtime.getRuntime().halt(stopped ? 0 : 1);
                },
                "streamtrain-sigterm");
        Runtime.getRuntime().addShutdownHook(hook);
        try (metrics) {
            service.run();
            return 0;
        } catch (StartupException e) {
            err.println("streamtrain: " + e.getMessage());
            return e.exitCode();
        } catch (NativeEngineException e) {
            err.println("streamtrain: " + e.getMessage());
            return StartupException.BAD_CONFIGURATION;
        } catch (RuntimeException e) {
            log.error("evaluator {} failed: {}", instanceId, e.toString(), e);
            StartupException refused = StartupException.refusal(e);
            if (refused != null) {
                err.println("streamtrain: " + refused.getMessage());
                return refused.exitCode();
            }
            err.println("streamtrain: evaluator failed: " + e.getMessage()
                    + " (retryable; it resumes from what it committed)");
            return StartupException.RETRYABLE;
        } finally {
            done.countDown();
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException shuttingDown) {
                // a signal started the shutdown: the hook owns the exit code
            }
        }
    }
}
