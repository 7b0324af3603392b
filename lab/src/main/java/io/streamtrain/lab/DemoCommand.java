package io.streamtrain.lab;

import io.streamtrain.cli.Logs;
import io.streamtrain.core.kafka.KafkaSettings;
import io.streamtrain.lab.demo.LiveView;
import io.streamtrain.testkit.EmbeddedKafka;
import io.streamtrain.testkit.SyntheticClusters;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code streamtrain demo}: the whole system on one machine, nothing to set up. Starts an
 * embedded broker, loads a data set into train and validation topics, runs trainer nodes
 * (child JVMs, as in production) and the evaluator, shows their progress live, and writes
 * a report when the evaluator has stopped the run.
 */
@Command(
        name = "demo",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = {
            "Train on an embedded Kafka broker, start to finish: several trainer nodes, the evaluator, early stopping, a report.",
            "",
            "Starts a Kafka broker (KRaft) in a temp dir and loads Fashion-MNIST (a 12,000-image sample, from the Debian package "
                    + "dataset-fashion-mnist) when it is installed, else a built-in synthetic task (Gaussian clusters, 64 features, "
                    + "10 classes, 10 %% label noise: a wide model overfits it). Then runs --nodes trainer nodes, each a JVM of "
                    + "its own with one PyTorch thread, and the evaluator, and shows each node's progress and each evaluation. "
                    + "The evaluator stops the run when val_loss has not improved for 3 epochs. The report (report.html with "
                    + "plots, evaluations.csv, spec.yaml, best.safetensors) goes to --report-dir/demo. The broker and its data "
                    + "are removed at the end.",
            "",
            "With --continuous the run is a continuous one (data.mode: continuous) on a live topic: the built-in task is "
                    + "produced at --rate records a second while the nodes train it in windows of --window records, and the "
                    + "evaluator promotes each window that beats the promoted model instead of stopping the run; the run ends "
                    + "after --epochs windows, and the report's weights are the promoted model's.",
            "",
            "Examples:",
            "  streamtrain demo",
            "  streamtrain demo --continuous --epochs 20     # a live topic: windows, promotions",
            "  streamtrain demo --regularization none --no-early-stop --epochs 30   # watch it overfit",
            "  streamtrain demo --nodes 1 --report-dir /tmp/runs"
        })
public final class DemoCommand implements Callable<Integer> {
    static final String RUN = "demo";
    static final String TRAIN = "demo.train";
    static final String VALIDATION = "demo.validation";
    static final int PARTITIONS = 4;
    static final Path FASHION_MNIST = Path.of("/usr/share/datasets/fashion-mnist");

    @Option(
            names = "--nodes",
            defaultValue = "2",
            description = "Trainer nodes, 1 to " + PARTITIONS + " (default: ${DEFAULT-VALUE}).")
    int nodes;

    @Option(names = "--epochs", defaultValue = "40", description = "Most epochs to train (default: ${DEFAULT-VALUE}).")
    int epochs;

    @Option(
            names = "--regularization",
            defaultValue = "chapter",
            paramLabel = "chapter|none",
            description =
                    "chapter: L1, L2, dropout and decoupled weight decay; none: none of them (default: ${DEFAULT-VALUE}).")
    String regularization;

    @Option(names = "--no-early-stop", description = "Evaluate every epoch but never stop early.")
    boolean noEarlyStop;

    @Option(names = "--built-in", description = "Use the built-in synthetic task even when Fashion-MNIST is installed.")
    boolean builtIn;

    @Option(
            names = "--records",
            defaultValue = "100",
            description = "Train records of 32 samples of the built-in task (default: ${DEFAULT-VALUE}).")
    int records;

    @Option(
            names = "--continuous",
            description = "A continuous run on a live topic the demo keeps writing (the built-in task).")
    boolean continuous;

    @Option(
            names = "--rate",
            defaultValue = "40",
            description =
                    "With --continuous: records of 32 samples produced a second" + " (default: ${DEFAULT-VALUE}).")
    double rate;

    @Option(
            names = "--window",
            defaultValue = "40",
            description = "With --continuous: records per window (default: ${DEFAULT-VALUE}).")
    int window;

    @Option(
            names = "--report-dir",
            defaultValue = "runs",
            paramLabel = "DIR",
            description = "Where the report goes, in a directory named after the run (default: ${DEFAULT-VALUE}).")
    Path reportDir;

    @Option(names = "--verbose", description = "Show the services' and the broker's log lines too.")
    boolean verbose;

    /** What the demo trains on: its model and how many samples an epoch has. */
    private record Data(String model, int batchSize, double learningRate, long samplesPerEpoch) {}

    @Override
    public Integer call() throws Exception {
        PrintStream out = System.out;
        if (nodes < 1
                || nodes > PARTITIONS
                || epochs < 1
                || records < 1
                || !List.of("chapter", "none").contains(regularization)
                || !(rate > 0)
                || window < PARTITIONS) {
            System.err.println(
                    "streamtrain demo: --nodes must be 1 to " + PARTITIONS + ", --epochs and --records at least 1, "
                            + "--regularization chapter or none, --rate above 0, --window at least " + PARTITIONS);
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
                Data data = continuous ? live(broker, out) : load(broker, out);
                String specText = spec(data);
                out.printf(
                        "  %d trainer node%s (one JVM and one PyTorch thread each) and the evaluator; regularization: %s%s%n",
                        nodes, nodes == 1 ? "" : "s", regularization, noEarlyStop ? "; early stopping off" : "");
                LiveProducer producer = continuous
                        ? LiveProducer.start(
                                KafkaSettings.of(bootstrap),
                                TRAIN,
                                PARTITIONS,
                                rate,
                                i -> LIVE_TASK.records(1, 32, 1000 + i).get(0))
                        : null;
                try {
                    new WatchedRun(
                                    RUN,
                                    specText,
                                    epochs,
                                    nodes,
                                    PARTITIONS,
                                    data.samplesPerEpoch(),
                                    reportDir,
                                    view,
                                    out)
                            .run(jvms, KafkaSettings.of(bootstrap), started);
                } finally {
                    if (producer != null) {
                        producer.close();
                    }
                }
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
            String[] ingest = {
                "ingest",
                "idx",
                images.toString(),
                labels.toString(),
                "--topic",
                TRAIN,
                "--validation-topic",
                VALIDATION,
                "--validation-fraction",
                "0.15",
                "--limit",
                Integer.toString(limit),
                "--partitions",
                Integer.toString(PARTITIONS),
                "--progress",
                "none",
                "--bootstrap-servers",
                broker.bootstrapServers()
            };
            ProductRun result = ProductRun.of(ingest);
            if (!result.succeeded()) {
                throw new IllegalStateException("ingesting Fashion-MNIST failed: " + result.printed());
            }
            out.printf(
                    "  loaded Fashion-MNIST from %s: %d images for training in %s, %d for validation in %s%n",
                    FASHION_MNIST, Math.round(limit * 0.85), TRAIN, Math.round(limit * 0.15), VALIDATION);
            return new Data(
                    "{ type: mlp, inputs: 784, hidden: [256, 128], classes: 10, dropout: %s }",
                    64, 0.001, Math.round(limit * 0.85));
        }
        if (!builtIn) {
            out.println(
                    "  Fashion-MNIST is not installed (sudo apt-get install dataset-fashion-mnist); using the built-in task");
        }
        SyntheticClusters task = new SyntheticClusters(64, 10, 1.5, 0.1, 7);
        broker.createTopic(TRAIN, PARTITIONS);
        broker.createTopic(VALIDATION, 1);
        broker.produceRoundRobin(TRAIN, PARTITIONS, task.records(records, 32, 11));
        broker.produceRoundRobin(VALIDATION, 1, task.records(50, 32, 12));
        out.printf(
                "  wrote the built-in task: %d records (%d samples) to %s, 50 records (1600 samples) to %s%n",
                records, records * 32, TRAIN, VALIDATION);
        return new Data(
                "{ type: mlp, inputs: 64, hidden: [256, 128], classes: 10, dropout: %s }", 64, 0.0005, records * 32L);
    }

    /** The built-in task, produced live by {@link LiveProducer} during a --continuous demo. */
    private static final SyntheticClusters LIVE_TASK = new SyntheticClusters(64, 10, 1.5, 0.1, 7);

    /** A --continuous demo's topics: the train topic starts empty and is written while the run trains. */
    private Data live(EmbeddedKafka broker, PrintStream out) throws Exception {
        broker.createTopic(TRAIN, PARTITIONS);
        broker.createTopic(VALIDATION, 1);
        broker.produceRoundRobin(VALIDATION, 1, LIVE_TASK.records(50, 32, 12));
        out.printf(
                Locale.ROOT,
                "  a live topic: %s gets %.0f records of 32 samples a second of the built-in task while the run trains;"
                        + " windows of %d records (one every %.1f s); 50 records (1600 samples) in %s%n",
                TRAIN,
                rate,
                window,
                window / rate,
                VALIDATION);
        return new Data(
                "{ type: mlp, inputs: 64, hidden: [256, 128], classes: 10, dropout: %s }", 64, 0.0005, window * 32L);
    }

    String spec(Data data) {
        boolean chapter = regularization.equals("chapter");
        return """
                run: %s
                data: { train: %s, validation: %s%s }
                model: %s
                init: { seed: 42 }
                batchSize: %d
                maxEpochs: %d
                optimizer: { type: adamw, learningRate: %s }
                regularization: { l1: %s, l2: %s, weightDecay: %s, exclude: [bias], clipGradNorm: 1.0 }
                earlyStopping: { monitor: val_loss, patience: 3, enabled: %s }
                sync: { everySteps: 50, outer: average, minNodes: %d }
                """.formatted(
                        RUN,
                        TRAIN,
                        VALIDATION,
                        continuous ? ", mode: continuous, window: { records: " + window + " }" : "",
                        data.model().formatted(chapter ? "0.1" : "0.0"),
                        data.batchSize(),
                        epochs,
                        data.learningRate(),
                        chapter ? "0.00001" : "0.0",
                        chapter ? "0.0001" : "0.0",
                        chapter ? "0.01" : "0.0",
                        !noEarlyStop,
                        nodes);
    }
}
