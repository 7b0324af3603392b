package io.streamtrain.cli;

import io.streamtrain.cli.broker.EmbeddedKafka;
import io.streamtrain.cli.data.SyntheticClusters;
import io.streamtrain.cli.demo.LiveView;
import io.streamtrain.cli.demo.TrainerScrape;
import io.streamtrain.cli.report.RunOutcome;
import io.streamtrain.cli.report.RunReport;
import io.streamtrain.cli.report.RunReportWriter;
import io.streamtrain.cli.report.StepSample;
import io.streamtrain.core.checkpoint.CheckpointManifest;
import io.streamtrain.core.checkpoint.RunCheckpoints;
import io.streamtrain.core.evaluation.EvaluationRecord;
import io.streamtrain.core.kafka.KafkaSettings;
import io.streamtrain.evaluator.EvaluatorService;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code streamtrain demo}: the whole system on one machine, nothing to set up. Starts an
 * embedded broker, loads a data set into train and validation topics, runs trainer nodes
 * (child JVMs, as in production) and the evaluator, shows their progress live, and writes
 * a report when the evaluator has stopped the run.
 */
@Command(name = "demo", mixinStandardHelpOptions = true, sortOptions = false,
        description = {
            "Train on an embedded Kafka broker, start to finish: several trainer nodes, the evaluator, early stopping, a report.",
            "",
            "Starts a Kafka broker (KRaft) in a temp dir and loads Fashion-MNIST (a 12,000-image sample, from the Debian package "
                    + "dataset-fashion-mnist) when it is installed, else a built-in synthetic task (Gaussian clusters, 64 features, "
                    + "10 classes, 10 % label noise: a wide model overfits it). Then runs --nodes trainer nodes, each a JVM of "
                    + "its own with one PyTorch thread, and the evaluator, and shows each node's progress and each evaluation. "
                    + "The evaluator stops the run when val_loss has not improved for 3 epochs. The report (report.html with "
                    + "plots, evaluations.csv, spec.yaml, best.safetensors) goes to --report-dir/demo. The broker and its data "
                    + "are removed at the end.",
            "",
            "Examples:",
            "  streamtrain demo",
            "  streamtrain demo --regularization none --no-early-stop --epochs 30   # watch it overfit",
            "  streamtrain demo --nodes 1 --report-dir /tmp/runs"})
public final class DemoCommand implements Callable<Integer> {
    static final String RUN = "demo";
    static final String TRAIN = "demo.train";
    static final String VALIDATION = "demo.validation";
    static final int PARTITIONS = 4;
    static final Path FASHION_MNIST = Path.of("/usr/share/datasets/fashion-mnist");
    /** A checkpoint line of a node's log: the epoch's training figures. */
    private static final Pattern CHECKPOINTED = Pattern.compile(
            "epoch (\\d+)/\\d+ checkpointed as \\S+: train_loss ([\\d.]+) \\(data ([\\d.]+)\\), \\d+ samples at (\\d+) samples/s");
    private static final Pattern METRICS_PORT = Pattern.compile("serving /metrics, /healthz and /readyz on port (\\d+)");

    @Option(names = "--nodes", defaultValue = "2", description = "Trainer nodes, 1 to " + PARTITIONS + " (default: ${DEFAULT-VALUE}).")
    int nodes;

    @Option(names = "--epochs", defaultValue = "40", description = "Most epochs to train (default: ${DEFAULT-VALUE}).")
    int epochs;

    @Option(names = "--regularization", defaultValue = "chapter", paramLabel = "chapter|none",
            description = "chapter: L1, L2, dropout and decoupled weight decay; none: none of them (default: ${DEFAULT-VALUE}).")
    String regularization;

    @Option(names = "--no-early-stop", description = "Evaluate every epoch but never stop early.")
    boolean noEarlyStop;

    @Option(names = "--built-in", description = "Use the built-in synthetic task even when Fashion-MNIST is installed.")
    boolean builtIn;

    @Option(names = "--records", defaultValue = "100", description = "Train records of 32 samples of the built-in task (default: ${DEFAULT-VALUE}).")
    int records;

    @Option(names = "--report-dir", defaultValue = "runs", paramLabel = "DIR",
            description = "Where the report goes, in a directory named after the run (default: ${DEFAULT-VALUE}).")
    Path reportDir;

    @Option(names = "--verbose", description = "Show the services' and the broker's log lines too.")
    boolean verbose;

    /** What the demo trains on: its model and how many samples an epoch has. */
    private record Data(String description, String model, int batchSize, double learningRate, long samplesPerEpoch) {}

    /** One trainer node as the demo follows it. */
    private static final class Followed {
        volatile int port = -1;
        final List<StepSample> samples = new CopyOnWriteArrayList<>();
        double epochStartSamples;
        int epoch;
    }

    @Override
    public Integer call() throws Exception {
        PrintStream out = System.out;
        if (nodes < 1 || nodes > PARTITIONS || epochs < 1 || records < 1 || !List.of("chapter", "none").contains(regularization)) {
            System.err.println("streamtrain demo: --nodes must be 1 to " + PARTITIONS + ", --epochs and --records at least 1, "
                    + "--regularization chapter or none");
            return 2;
        }
        if (!verbose) {
            Logs.quiet(); // the demo prints its own lines; the logs stay for warnings
        }
        long started = System.nanoTime();
        LiveView view = new LiveView(out, LiveView.stdoutIsTerminal(), 10);
        out.println("streamtrain demo: starting an embedded Kafka broker ...");
        return TrainerJvms.run("demo", verbose, jvms -> {
            try (EmbeddedKafka broker = EmbeddedKafka.start()) {
                jvms.broker(broker);
                String bootstrap = broker.bootstrapServers();
                out.println("  broker at " + bootstrap + ", data in " + broker.dataDir());
                Data data = load(broker, out);
                String specText = spec(data);
                List<EvaluationRecord> evaluations = new CopyOnWriteArrayList<>();
                EvaluatorService evaluator = new EvaluatorService(KafkaSettings.of(bootstrap), List.of(RUN), "demo-evaluator");
                evaluator.addListener(e -> {
                    evaluations.add(e);
                    view.line(evaluationLine(e));
                });
                Thread evaluatorThread = new Thread(evaluator::run, "demo-evaluator");
                evaluatorThread.start();

                out.printf("  %d trainer node%s (one JVM and one PyTorch thread each) and the evaluator; regularization: %s%s%n", nodes,
                        nodes == 1 ? "" : "s", regularization, noEarlyStop ? "; early stopping off" : "");
                Path spec = jvms.spec(RUN, specText);
                Map<String, Followed> followed = new ConcurrentHashMap<>();
                List<TrainerJvms.Node> started0 = new ArrayList<>();
                for (int i = 0; i < nodes; i++) {
                    String id = "node-" + i;
                    Followed f = new Followed();
                    followed.put(id, f);
                    started0.add(jvms.start(spec, bootstrap, id, line -> onNodeLine(line, f, view)));
                }
                long[] lastScrape = {0};
                try {
                    TrainerJvms.awaitExit(started0, Duration.ofHours(2), () -> {
                        if (System.nanoTime() - lastScrape[0] >= 1_000_000_000L) {
                            lastScrape[0] = System.nanoTime();
                            followed.forEach((id, f) -> show(id, f, data, view));
                        }
                    });
                } finally {
                    evaluator.close();
                    evaluatorThread.join(30_000);
                }
                followed.forEach((id, f) -> view.node(id, status(f, data, "done")));
                view.finish();
                Duration wall = Duration.ofNanos(System.nanoTime() - started);
                report(bootstrap, specText, evaluations, followed, wall, out);
                return 0;
            }
        });
    }

    /** Loads Fashion-MNIST when it is installed (unless --built-in), else the built-in task. */
    private Data load(EmbeddedKafka broker, PrintStream out) throws Exception {
        Path images = FASHION_MNIST.resolve("train-images-idx3-ubyte.gz");
        Path labels = FASHION_MNIST.resolve("train-labels-idx1-ubyte.gz");
        if (!builtIn && Files.isReadable(images) && Files.isReadable(labels)) {
            int limit = 12_000;
            String[] ingest = {"ingest", "idx", images.toString(), labels.toString(), "--topic", TRAIN, "--validation-topic", VALIDATION,
                    "--validation-fraction", "0.15", "--limit", Integer.toString(limit), "--partitions", Integer.toString(PARTITIONS),
                    "--progress", "none", "--bootstrap-servers", broker.bootstrapServers()};
            String[] result = inProcess(ingest);
            if (!"0".equals(result[0])) {
                throw new IllegalStateException("ingesting Fashion-MNIST failed: " + result[1]);
            }
            out.printf("  loaded Fashion-MNIST from %s: %d images for training in %s, %d for validation in %s%n", FASHION_MNIST,
                    Math.round(limit * 0.85), TRAIN, Math.round(limit * 0.15), VALIDATION);
            return new Data("Fashion-MNIST", "{ type: mlp, inputs: 784, hidden: [256, 128], classes: 10, dropout: %s }", 64, 0.001,
                    Math.round(limit * 0.85));
        }
        if (!builtIn) {
            out.println("  Fashion-MNIST is not installed (sudo apt-get install dataset-fashion-mnist); using the built-in task");
        }
        SyntheticClusters task = new SyntheticClusters(64, 10, 1.5, 0.1, 7);
        broker.createTopic(TRAIN, PARTITIONS);
        broker.createTopic(VALIDATION, 1);
        broker.produceRoundRobin(TRAIN, PARTITIONS, task.records(records, 32, 11));
        broker.produceRoundRobin(VALIDATION, 1, task.records(50, 32, 12));
        out.printf("  wrote the built-in task: %d records (%d samples) to %s, 50 records (1600 samples) to %s%n", records, records * 32,
                TRAIN, VALIDATION);
        return new Data("built-in task", "{ type: mlp, inputs: 64, hidden: [256, 128], classes: 10, dropout: %s }", 64, 0.0005,
                records * 32L);
    }

    String spec(Data data) {
        boolean chapter = regularization.equals("chapter");
        return """
                run: %s
                data: { train: %s, validation: %s }
                model: %s
                init: { seed: 42 }
                batchSize: %d
                maxEpochs: %d
                optimizer: { type: adamw, learningRate: %s }
                regularization: { l1: %s, l2: %s, weightDecay: %s, exclude: [bias], clipGradNorm: 1.0 }
                earlyStopping: { monitor: val_loss, patience: 3, enabled: %s }
                sync: { everySteps: 50, outer: average, minNodes: %d }
                """.formatted(RUN, TRAIN, VALIDATION, data.model().formatted(chapter ? "0.1" : "0.0"), data.batchSize(), epochs,
                data.learningRate(), chapter ? "0.00001" : "0.0", chapter ? "0.0001" : "0.0", chapter ? "0.01" : "0.0", !noEarlyStop,
                nodes);
    }

    /** A node's log line: its metrics port, and the epoch lines of the node that publishes the checkpoints. */
    private static void onNodeLine(String line, Followed f, LiveView view) {
        Matcher port = METRICS_PORT.matcher(line);
        if (port.find()) {
            f.port = Integer.parseInt(port.group(1));
        }
        Matcher m = CHECKPOINTED.matcher(line);
        if (m.find()) {
            view.line(String.format(Locale.ROOT, "  epoch %2d  trained     train_loss %s (data %s)  %s samples/s", Integer.parseInt(m.group(1)),
                    m.group(2), m.group(3), m.group(4)));
        }
    }

    /** Scrapes a node's meters (the same an operator's Prometheus reads) and shows where it is. */
    private void show(String id, Followed f, Data data, LiveView view) {
        if (f.port < 0) {
            view.node(id, status(f, data, "starting"));
            return;
        }
        try {
            TrainerScrape s = TrainerScrape.of(f.port);
            StepSample sample = s.sample();
            if (sample.epoch() != f.epoch) {
                f.epoch = sample.epoch();
                f.epochStartSamples = sample.samplesTotal();
            }
            f.samples.add(sample);
            double share = data.samplesPerEpoch() * (Double.isNaN(s.partitions()) ? 1.0 / nodes : s.partitions() / PARTITIONS);
            view.node(id, status(f, data, s.partitions() == 0 ? "waiting" : "training",
                    share > 0 ? (sample.samplesTotal() - f.epochStartSamples) / share : Double.NaN));
        } catch (java.io.IOException | InterruptedException | RuntimeException e) {
            // the node is starting or leaving: its line stays as it was
        }
    }

    private LiveView.NodeStatus status(Followed f, Data data, String state) {
        return status(f, data, state, state.equals("done") ? 1 : Double.NaN);
    }

    private LiveView.NodeStatus status(Followed f, Data data, String state, double fraction) {
        List<StepSample> s = f.samples;
        StepSample last = s.isEmpty() ? null : s.get(s.size() - 1);
        double rate = Double.NaN;
        if (s.size() >= 2) {
            StepSample before = s.get(Math.max(0, s.size() - 6));
            double seconds = (last.timeMillis() - before.timeMillis()) / 1e3;
            rate = seconds > 0 ? (last.samplesTotal() - before.samplesTotal()) / seconds : Double.NaN;
        }
        return new LiveView.NodeStatus(last == null ? 0 : last.epoch(), epochs, fraction, last == null ? 0 : last.step(), rate,
                last == null ? Double.NaN : last.dataLoss(), state);
    }

    private static String evaluationLine(EvaluationRecord e) {
        if (!e.evaluated()) {
            return "  epoch " + e.epoch() + "  " + e.status() + ": " + e.explanation();
        }
        Double accuracy = e.metrics().get("val_accuracy");
        return String.format(Locale.ROOT, "  epoch %2d  evaluated   val_loss %.4f%s  best %.4f (epoch %d)  patience left %d%s", e.epoch(),
                e.metrics().get("val_loss"), accuracy == null ? "" : String.format(Locale.ROOT, "  val_accuracy %.3f", accuracy),
                e.best().value(), e.best().epoch(), e.patienceLeft(),
                EvaluationRecord.STOP.equals(e.decision()) ? "  -> STOP: " + e.explanation() : "");
    }

    /** Writes runs/demo/ (report, evaluations, spec, best weights) and prints the summary. */
    private void report(String bootstrap, String specText, List<EvaluationRecord> evaluations, Map<String, Followed> followed,
            Duration wall, PrintStream out) throws Exception {
        List<CheckpointManifest> manifests;
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(KafkaSettings.of(bootstrap).consumer(null))) {
            manifests = RunCheckpoints.list(c, RUN, Duration.ofSeconds(30), message -> { }).manifests();
        }
        EvaluationRecord stop = evaluations.stream().filter(e -> EvaluationRecord.STOP.equals(e.decision())).findFirst().orElse(null);
        EvaluationRecord last = evaluations.stream().filter(EvaluationRecord::evaluated).reduce((a, b) -> b).orElse(null);
        Map<String, List<StepSample>> samples = new java.util.TreeMap<>();
        followed.forEach((id, f) -> samples.put(id, List.copyOf(f.samples)));
        Path dir = reportDir.resolve(RUN);
        Path html = RunReportWriter.write(new RunReport(RUN, specText, evaluations, manifests, samples,
                new RunOutcome(stop == null ? null : stop.reason(), stop == null ? null : stop.explanation(),
                        last == null ? null : last.best(), wall)), dir);
        String exported = "";
        if (last != null && last.best() != null) {
            String[] export = inProcess("export", "--run", RUN, "--best", "-o", dir.resolve("best.safetensors").toString(),
                    "--bootstrap-servers", bootstrap);
            exported = "0".equals(export[0]) ? ", best.safetensors" : " (best.safetensors could not be written: " + export[1].strip() + ")";
        }
        int trained = manifests.stream().filter(m -> !m.snapshot()).mapToInt(CheckpointManifest::epoch).max().orElse(0);
        out.printf(Locale.ROOT, "streamtrain demo: %s after %d epochs in %.1f s%s%n", stop != null ? "stopped early" : "finished", trained,
                wall.toMillis() / 1e3, last == null || last.best() == null ? ""
                        : String.format(Locale.ROOT, "; the run's result is its best checkpoint %s (epoch %d, val_loss %.4f)",
                                last.best().checkpointId(), last.best().epoch(), last.best().value()));
        out.println("  report: " + html.toAbsolutePath() + " (with evaluations.csv, spec.yaml" + exported + ")");
    }

    /** Runs another streamtrain command in this JVM; returns its exit code and what it printed. */
    private static String[] inProcess(String... args) {
        ByteArrayOutputStream printed = new ByteArrayOutputStream();
        PrintStream stream = new PrintStream(printed, true, StandardCharsets.UTF_8);
        CommandLine cmd = Streamtrain.commandLine();
        cmd.setOut(new java.io.PrintWriter(stream, true));
        cmd.setErr(new java.io.PrintWriter(stream, true));
        PrintStream previousOut = System.out;
        PrintStream previousErr = System.err;
        synchronized (DemoCommand.class) {
            System.setOut(stream);
            System.setErr(stream);
            try {
                int code = cmd.execute(args);
                return new String[] {Integer.toString(code), printed.toString(StandardCharsets.UTF_8)};
            } finally {
                System.setOut(previousOut);
                System.setErr(previousErr);
            }
        }
    }
}
