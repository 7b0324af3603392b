package io.streamtrain.trainer;

import io.micrometer.core.instrument.Tags;
import io.streamtrain.core.djl.NativeEngineException;
import io.streamtrain.core.kafka.KafkaOptions;
import io.streamtrain.core.kafka.KafkaSettings;
import io.streamtrain.core.kafka.StartupException;
import io.streamtrain.core.logging.Logs;
import io.streamtrain.core.metrics.Health;
import io.streamtrain.core.metrics.MetricsOptions;
import io.streamtrain.core.metrics.MetricsServer;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.core.spec.RunSpecParser;
import io.streamtrain.core.spec.SpecException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code streamtrain train}: runs one trainer node until its run is done. Exit codes: 0
 * finished or stopped (SIGTERM included), 2 bad configuration (do not retry), 1 anything
 * else (retry). With {@code --when-done idle} a node whose run is done does not exit but
 * idles until SIGTERM (then exits 0), for controllers that restart every pod that ends.
 */
@Command(
        footer = {
            "",
            "Examples:",
            "  streamtrain train --spec run.yaml --bootstrap-servers kafka:9092 --node-id trainer-0",
            "  STREAMTRAIN_KAFKA_SECURITY_PROTOCOL=SSL streamtrain train --spec run.yaml --metrics-port 9400"
        },
        name = "train",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = {
            "Run a trainer node of a run.",
            "",
            "Joins the run's consumer group and trains on the batches of the partitions it is assigned. Start one per "
                    + "machine with the same spec and distinct --node-id values: the nodes combine their weights every "
                    + "sync.everySteps steps through the run's sync topic, and the owner of partition 0 publishes a checkpoint "
                    + "at the end of every epoch. Resumes from the run's latest checkpoint and the sync rounds after it. "
                    + "SIGTERM stops it at a step boundary.",
            "",
            "Exit codes: 0 finished or stopped, 2 bad configuration (do not retry), 1 retryable failure. With "
                    + "--when-done idle a node whose run is done idles until SIGTERM instead, then exits 0."
        })
public final class TrainerCommand implements Callable<Integer> {
    /** The exit code of a trainer that left before its run was done (128 + SIGTERM's 15, what a shell reports for it). */
    public static final int INTERRUPTED_EXIT = 143;

    private static final Logger log = LoggerFactory.getLogger(TrainerCommand.class);
    /** SIGTERM: finish the step and close clients within this much of Kubernetes' default 30 s grace. */
    private static final Duration GRACE = Duration.ofSeconds(25);

    private static final long MIN_PREFETCH_BYTES = 1 << 20;

    /** {@code --when-done}: a node whose run is done exits 0 (for a Job, whose pod then completes). */
    static final String WHEN_DONE_EXIT = "exit";
    /**
     * {@code --when-done}: a node whose run is done stays up until SIGTERM, then exits 0: under a
     * controller that restarts every pod that ends (a StatefulSet), exiting would only restart it
     * into a crash loop.
     */
    static final String WHEN_DONE_IDLE = "idle";
    /** How often an idle node tells {@code /healthz} it is alive: well inside the shortest stall limit (120 s). */
    private static final Duration IDLE_BEAT = Duration.ofSeconds(10);

    @Option(names = "--spec", required = true, paramLabel = "FILE", description = "The run spec (YAML).")
    Path spec;

    @Mixin
    KafkaOptions kafkaOptions;

    @Option(
            names = "--node-id",
            paramLabel = "NAME",
            defaultValue = "${env:STREAMTRAIN_NODE_ID:-${env:HOSTNAME:-node-0}}",
            description =
                    "This node's name; unique among the live trainers of the run (default: $STREAMTRAIN_NODE_ID, else $HOSTNAME, else ${DEFAULT-VALUE}).")
    String nodeId;

    @Option(
            names = "--prefetch-bytes",
            paramLabel = "BYTES",
            defaultValue = "" + TrainerOptions.DEFAULT_PREFETCH_BYTES,
            description = "Most decoded batch data held ahead of the training step (default: ${DEFAULT-VALUE}).")
    long prefetchBytes;

    @Option(
            names = "--log-every",
            paramLabel = "STEPS",
            defaultValue = "100",
            description = "A progress line every this many steps; 0 for epoch lines only (default: ${DEFAULT-VALUE}).")
    int logEvery;

    @Option(
            names = "--broker-wait",
            paramLabel = "SECONDS",
            defaultValue = "300",
            description = "How long Kafka may be unreachable mid-run (no records, or a checkpoint that cannot be"
                    + " committed) before the node exits 1 to be restarted (default: ${DEFAULT-VALUE}).")
    long brokerWaitSeconds;

    @Option(
            names = "--when-done",
            paramLabel = "exit|idle",
            defaultValue = WHEN_DONE_EXIT,
            description = "What the node does once its run is done (last epoch checkpointed, or stopped):"
                    + " exit: exit 0 (a Job's pod completes); idle: say so once, keep serving /metrics, /healthz and"
                    + " /readyz, and exit 0 on SIGTERM, so that a controller restarting every pod that ends (a"
                    + " StatefulSet) does not restart it into a crash loop (default: ${DEFAULT-VALUE}).")
    String whenDone;

    @Mixin
    MetricsOptions metricsOptions;

    @Spec
    CommandSpec command;

    @Override
    public Integer call() throws Exception {
        // through picocli\'s writer, as every command prints: whoever runs the command decides where it goes
        PrintWriter err = command.commandLine().getErr();
        if (Logs.refusedFormat(System.getenv(Logs.FORMAT_ENV), System.err)) {
            return StartupException.BAD_CONFIGURATION;
        }
        RunSpec runSpec;
        try {
            runSpec = RunSpecParser.load(spec);
        } catch (SpecException e) {
            err.println("streamtrain: bad run spec " + spec + ": " + e.getMessage());
            return StartupException.BAD_CONFIGURATION;
        }
        if (prefetchBytes < MIN_PREFETCH_BYTES || brokerWaitSeconds < 1) {
            err.println("streamtrain: --prefetch-bytes must be at least " + MIN_PREFETCH_BYTES
                    + " and --broker-wait at least 1 second");
            return StartupException.BAD_CONFIGURATION;
        }
        if (!whenDone.equals(WHEN_DONE_EXIT) && !whenDone.equals(WHEN_DONE_IDLE)) {
            err.println("streamtrain: --when-done is " + Logs.escape(whenDone) + "; allowed: " + WHEN_DONE_EXIT + ", "
                    + WHEN_DONE_IDLE);
            return StartupException.BAD_CONFIGURATION;
        }
        KafkaSettings kafka = kafkaOptions.settings();
        if (!kafka.signing().checking()) {
            log.warn(
                    "{} is not set: control commands and manifests are not checked for signatures, so anyone with Write on the run's "
                            + "control topic can stop, pause or retune it (docs/operations.md, \"Signed messages\")",
                    io.streamtrain.core.signing.Signing.TRUSTED_ENV);
        }
        TrainerOptions options = TrainerOptions.defaults(nodeId)
                .withPrefetchBytes(prefetchBytes)
                .withLogEverySteps(logEvery)
                .withBrokerWait(Duration.ofSeconds(brokerWaitSeconds));
        Health health =
                new Health(Duration.ofSeconds(Math.max(120, 2 * runSpec.sync().timeoutSeconds())));
        MetricsServer metrics;
        try {
            metrics = metricsOptions.start(health, Tags.of("role", "trainer", "node", nodeId, "run", runSpec.run()));
        } catch (StartupException e) {
            err.println("streamtrain: " + e.getMessage());
            return e.exitCode();
        }
        TrainerNode node = new TrainerNode(runSpec, kafka, options, metrics.registry(), health);
        Thread hook = new Thread(() -> stopGracefully(node), "streamtrain-sigterm");
        Runtime.getRuntime().addShutdownHook(hook);
        try (metrics) {
            TrainerNode.Outcome outcome = node.run();
            log.info("trainer {} of run {}: {}", nodeId, runSpec.run(), outcome);
            if (outcome != TrainerNode.Outcome.INTERRUPTED && whenDone.equals(WHEN_DONE_IDLE)) {
                idle(health, runSpec.run(), outcome);
            }
            return exitCode(outcome);
        } catch (StartupException e) {
            err.println("streamtrain: " + e.getMessage());
            return e.exitCode();
        } catch (SpecException e) {
            err.println("streamtrain: bad run spec " + spec + ": " + e.getMessage());
            return StartupException.BAD_CONFIGURATION;
        } catch (NativeEngineException e) {
            err.println("streamtrain: " + e.getMessage());
            return StartupException.BAD_CONFIGURATION;
        } catch (RuntimeException e) {
            log.error("trainer {} failed: {}", nodeId, e.toString(), e);
            StartupException refused = StartupException.refusal(e);
            if (refused != null) {
                err.println("streamtrain: " + refused.getMessage());
                return refused.exitCode();
            }
            err.println("streamtrain: trainer failed: " + e.getMessage()
                    + " (retryable; the run resumes from its last checkpoint)");
            return StartupException.RETRYABLE;
        } finally {
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException shuttingDown) {
                // the hook is running: it owns the exit
            }
        }
    }

    /**
     * A node whose run is done, under {@code --when-done idle}: live and ready (so neither a
     * liveness probe nor a disruption budget counts it as failing) until SIGTERM, whose hook
     * exits 0 since the run is done. Returns only if the thread is interrupted.
     */
    private static void idle(Health health, String run, TrainerNode.Outcome outcome) {
        log.info(
                "run {} is done ({}): this node idles until SIGTERM (--when-done idle), then exits 0; scale the"
                        + " trainers to 0 to end them",
                run,
                outcome);
        health.state("done");
        health.ready(true);
        try {
            while (true) {
                health.beat();
                Thread.sleep(IDLE_BEAT.toMillis());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Exit 0 means the run is done; a node that left before that exits 143, as a process ended by SIGTERM does. */
    static int exitCode(TrainerNode.Outcome outcome) {
        return outcome == TrainerNode.Outcome.INTERRUPTED ? INTERRUPTED_EXIT : 0;
    }

    /**
     * The JVM is exiting on a signal: let the node stop at a step boundary, then exit 143
     * (0 if the run was done first). Kubernetes counts an Indexed Job's index complete on exit
     * 0: a trainer deleted before its run is done must not complete its index.
     */
    private static void stopGracefully(TrainerNode node) {
        node.requestStop();
        boolean done;
        try {
            done = node.awaitFinished(GRACE);
        } catch (InterruptedException e) {
            done = false;
        }
        int exit = done ? node.outcome().map(TrainerCommand::exitCode).orElse(1) : 1;
        System.err.println("streamtrain: "
                + (done
                        ? "stopped on signal" + (exit == 0 ? " (the run is done)" : "; a restart resumes the run")
                        : "did not stop within " + GRACE.toSeconds() + " s"));
        // halt: the hook owns the exit code, whatever the main thread returns meanwhile
        Runtime.getRuntime().halt(exit);
    }
}
