package io.streamtrain.lab;

import io.streamtrain.cli.Logs;
import io.streamtrain.core.kafka.KafkaSettings;
import io.streamtrain.core.kafka.Preflight;
import io.streamtrain.core.kafka.StartupException;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.core.spec.RunSpecParser;
import io.streamtrain.core.spec.SpecException;
import io.streamtrain.lab.demo.LiveView;
import io.streamtrain.testkit.EmbeddedKafka;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import org.apache.kafka.clients.admin.Admin;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code streamtrain local}: a user's own run on this machine, as the demo runs its own:
 * trainer nodes as child JVMs, the evaluator, the live view and the report, on a cluster's
 * topics or on an embedded broker loaded with {@code streamtrain ingest} first.
 */
@Command(
        name = "local",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = {
            "Run a spec on this machine: its trainer nodes (JVMs, one PyTorch thread each) and the evaluator, with a live view "
                    + "and a report at the end.",
            "",
            "With --bootstrap-servers (or $STREAMTRAIN_BOOTSTRAP_SERVERS) the run trains on that cluster's topics, which must "
                    + "hold the data. Without, it starts an embedded Kafka broker (KRaft, temp dir, removed at the end) and loads "
                    + "the spec's data.train and data.validation topics with `streamtrain ingest` arguments given by --ingest "
                    + "(the --topic and --validation-topic options and --bootstrap-servers are added from the spec). The "
                    + "report (report.html, evaluations.csv, spec.yaml, best.safetensors) goes to --report-dir/<run>.",
            "",
            "Exit codes: 0 the run stopped or finished, 2 bad spec or options, 1 a node or the broker failed.",
            "",
            "Examples:",
            "  streamtrain local --spec run.yaml --bootstrap-servers kafka:9092 --nodes 2",
            "  streamtrain local --spec fashion.yaml --ingest 'idx /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
                    + " /usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz --validation-fraction 0.1'"
        })
public final class LocalCommand implements Callable<Integer> {
    @Option(names = "--spec", required = true, paramLabel = "FILE", description = "The run spec (YAML).")
    Path spec;

    @Option(
            names = "--bootstrap-servers",
            paramLabel = "HOST:PORT",
            description =
                    "Kafka bootstrap servers of the cluster to train on (default: $STREAMTRAIN_BOOTSTRAP_SERVERS, else an embedded broker).")
    String bootstrapServers;

    @Option(
            names = "--ingest",
            paramLabel = "ARGS",
            description =
                    "With the embedded broker: the `streamtrain ingest` arguments that load the run's data, as one string "
                            + "(format, files and options, e.g. 'csv data.csv --label y --validation-fraction 0.2').")
    String ingest;

    @Option(names = "--nodes", paramLabel = "N", description = "Trainer nodes (default: the spec's sync.minNodes).")
    Integer nodes;

    @Option(
            names = "--report-dir",
            defaultValue = "runs",
            paramLabel = "DIR",
            description = "Where the report goes, in a directory named after the run (default: ${DEFAULT-VALUE}).")
    Path reportDir;

    @Option(names = "--verbose", description = "Show the services' and the broker's log lines too.")
    boolean verbose;

    @Override
    public Integer call() throws Exception {
        PrintStream out = System.out;
        RunSpec runSpec;
        String specText;
        try {
            specText = Files.readString(spec);
            runSpec = RunSpecParser.parse(specText);
        } catch (java.io.IOException | SpecException e) {
            System.err.println("streamtrain local: bad run spec " + spec + ": " + e.getMessage());
            return StartupException.BAD_CONFIGURATION;
        }
        String bootstrap = bootstrapServers != null ? bootstrapServers : System.getenv(KafkaSettings.BOOTSTRAP_ENV);
        int n = nodes != null ? nodes : runSpec.sync().minNodes();
        if (n < runSpec.sync().minNodes()) {
            System.err.println("streamtrain local: --nodes " + n + " is fewer than the spec's sync.minNodes ("
                    + runSpec.sync().minNodes() + "): the run's first round would wait for nodes that never start");
            return StartupException.BAD_CONFIGURATION;
        }
        if (bootstrap != null && ingest != null) {
            System.err.println(
                    "streamtrain local: --ingest loads the embedded broker; a cluster's topics are loaded beforehand"
                            + " (streamtrain ingest --bootstrap-servers ...)");
            return StartupException.BAD_CONFIGURATION;
        }
        if (bootstrap == null && ingest == null) {
            System.err.println(
                    "streamtrain local: without --bootstrap-servers the embedded broker starts empty: give --ingest"
                            + " '<format> <files> [options]' to load "
                            + runSpec.data().train() + " (see streamtrain ingest --help)");
            return StartupException.BAD_CONFIGURATION;
        }
        boolean signing = System.getenv(io.streamtrain.core.signing.Signing.KEY_ENV) != null
                || System.getenv(io.streamtrain.core.signing.Signing.TRUSTED_ENV) != null;
        if (signing && bootstrap != null) {
            System.err.println("streamtrain local: " + io.streamtrain.core.signing.Signing.KEY_ENV + "/"
                    + io.streamtrain.core.signing.Signing.TRUSTED_ENV
                    + " are set, but local runs the trainers, the evaluator and"
                    + " its STOPs with one environment, so one key would sign for every role. On a cluster that checks signatures,"
                    + " start each role with its own key (streamtrain train, streamtrain evaluate); or unset them to try the run"
                    + " on the embedded broker");
            return StartupException.BAD_CONFIGURATION;
        }
        if (!verbose) {
            Logs.quiet();
        }
        if (signing) {
            out.println(
                    "streamtrain local: the embedded broker is private to this run: its processes neither sign nor check"
                            + " signatures (" + io.streamtrain.core.signing.Signing.KEY_ENV + " and "
                            + io.streamtrain.core.signing.Signing.TRUSTED_ENV
                            + " are ignored)");
        }
        long started = System.nanoTime();
        LiveView view = new LiveView(out, LiveView.stdoutIsTerminal(), 10);
        return TrainerJvms.run("local", verbose, jvms -> {
            if (bootstrap != null) {
                jvms.passKafkaEnvironment();
                return train(
                        jvms,
                        KafkaSettings.fromEnvironment(System.getenv(), bootstrap),
                        runSpec,
                        specText,
                        n,
                        view,
                        out,
                        started);
            }
            out.println("streamtrain local: starting an embedded Kafka broker ...");
            try (EmbeddedKafka broker = EmbeddedKafka.start()) {
                jvms.broker(broker);
                out.println("  broker at " + broker.bootstrapServers() + ", data in " + broker.dataDir());
                List<String> args = new ArrayList<>(List.of("ingest"));
                args.addAll(List.of(ingest.trim().split("\\s+")));
                args.addAll(
                        List.of("--topic", runSpec.data().train(), "--bootstrap-servers", broker.bootstrapServers()));
                if (runSpec.data().validation() != null && !args.contains("--validation-topic")) {
                    args.addAll(List.of("--validation-topic", runSpec.data().validation()));
                }
                ProductRun result = ProductRun.of(args.toArray(String[]::new));
                out.print(result.printed().lines().map(l -> "  " + l + "\n").reduce("", String::concat));
                if (!result.succeeded()) {
                    System.err.println("streamtrain local: loading the data failed (exit " + result.exitCode()
                            + "); nothing was trained");
                    return result.exitCode();
                }
                return train(
                        jvms, KafkaSettings.of(broker.bootstrapServers()), runSpec, specText, n, view, out, started);
            }
        });
    }

    private int train(
            TrainerJvms jvms,
            KafkaSettings kafka,
            RunSpec runSpec,
            String specText,
            int n,
            LiveView view,
            PrintStream out,
            long started)
            throws Exception {
        String bootstrap = kafka.bootstrapServers();
        int partitions;
        try (Admin admin = Preflight.admin(kafka)) {
            Preflight.requireReachable(admin, bootstrap);
            partitions = Preflight.requireTopics(
                            admin, List.of(runSpec.data().train()), "data.train of run " + runSpec.run())
                    .get(runSpec.data().train())
                    .partitions()
                    .size();
        } catch (StartupException e) {
            System.err.println("streamtrain local: " + e.getMessage());
            return e.exitCode();
        }
        out.printf(
                "streamtrain local: run %s, %d trainer node%s and the evaluator on %s (%d partitions)%n",
                runSpec.run(), n, n == 1 ? "" : "s", runSpec.data().train(), partitions);
        new WatchedRun(runSpec.run(), specText, runSpec.maxEpochs(), n, partitions, 0, reportDir, view, out)
                .run(jvms, kafka, started);
        return 0;
    }
}
