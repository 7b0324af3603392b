package io.streamtrain.lab;

import ai.djl.engine.Engine;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.micrometer.core.instrument.Tags;
import io.streamtrain.core.checkpoint.CheckpointManifest;
import io.streamtrain.core.codec.Batch;
import io.streamtrain.core.codec.BatchCodec;
import io.streamtrain.core.djl.Engines;
import io.streamtrain.core.kafka.KafkaSettings;
import io.streamtrain.core.metrics.Health;
import io.streamtrain.core.metrics.MetricsServer;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.core.spec.RunSpecParser;
import io.streamtrain.testkit.EmbeddedKafka;
import io.streamtrain.testkit.SyntheticClusters;
import io.streamtrain.trainer.TrainerNode;
import io.streamtrain.trainer.TrainerOptions;
import io.streamtrain.trainer.TrainingListener;
import io.streamtrain.trainer.model.ModelState;
import io.streamtrain.trainer.model.StepReport;
import io.streamtrain.trainer.model.StepRunner;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code streamtrain bench trainer}: one MLP on one set of batches, trained by five
 * contenders in alternating rounds of one run: streamtrain's step on batches in memory, a
 * streamtrain trainer node fed from Kafka (embedded broker; sync rounds as a lone node runs
 * them, its metrics endpoint scraped every second), and the PyTorch-in-Python loop a user
 * would write instead ({@code torch_reference.py}, Debian's python3-torch), fed from memory,
 * by a plain confluent-kafka consumer on librdkafka's defaults and by one with the two
 * settings that matter tuned. Every contender's figure for a round is the median
 * samples/s of its epochs after the first (warm-up; the JVM contenders also run once,
 * uncounted, before the first round); an epoch counts from
 * its first step's start to its last step's end, so a node's waits for data are counted and
 * its checkpoint publish between epochs is not, nor its epoch-end round (a lone node's only
 * one when an epoch is shorter than 20 x sync.everySteps steps).
 */
@Command(
        name = "trainer",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = {
            "streamtrain's step and node against the PyTorch-in-Python loop a user would write instead, side by side.",
            "",
            "Trains the same MLP (dropout 0.1, L1 + L2 penalties, AdamW with decoupled decay, gradient clipping) on the same "
                    + "batches five ways in alternating rounds: streamtrain's step on batches in memory; a streamtrain node "
                    + "fed from Kafka (embedded broker, its metrics scraped every second); and the reference Python loop "
                    + "(torch_reference.py, /usr/bin/python3 with Debian's python3-torch, python3-numpy and "
                    + "python3-confluent-kafka) fed from memory, by a confluent-kafka consumer on librdkafka's defaults, and "
                    + "by one with queued.max.messages.kbytes and fetch.wait.max.ms tuned. All use the same number of PyTorch "
                    + "threads: streamtrain's (cores - 1, at least 1; STREAMTRAIN_TORCH_THREADS).",
            "Prints each round's samples/s (median of the epochs after the first) and the ratios of the medians. Targets: "
                    + "step >= 1.0 x Python in memory; node from Kafka >= 0.95 x its own in-memory step and >= 1.0 x the "
                    + "tuned Python loop. Without python3-torch the Python contenders are skipped, saying so; the rest runs."
        })
public final class TrainerBench implements Callable<Integer> {
    static final String REFERENCE_SCRIPT = "bench/torch_reference.py";
    private static final Duration SCRAPE_EVERY = Duration.ofSeconds(1);
    private static final String TOPIC = "bench.train";

    @Option(
            names = "--records",
            defaultValue = "400",
            description = "Records of --batch-size samples (default: ${DEFAULT-VALUE}).")
    int records;

    @Option(
            names = "--batch-size",
            defaultValue = "128",
            description = "Samples per batch and per record (default: ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(
            names = "--features",
            defaultValue = "784",
            description = "Inputs per sample (default: ${DEFAULT-VALUE}, Fashion-MNIST's).")
    int features;

    @Option(
            names = "--hidden",
            defaultValue = "256,128",
            split = ",",
            description = "Hidden layer widths (default: ${DEFAULT-VALUE}).")
    List<Integer> hidden;

    @Option(
            names = "--epochs",
            defaultValue = "4",
            description = "Epochs per measurement; the first is warm-up (default: ${DEFAULT-VALUE}).")
    int epochs;

    @Option(
            names = "--rounds",
            defaultValue = "3",
            description = "Alternating rounds of all contenders (default: ${DEFAULT-VALUE}).")
    int rounds;

    @Option(
            names = "--partitions",
            defaultValue = "4",
            description = "Partitions of the train topic (default: ${DEFAULT-VALUE}).")
    int partitions;

    @Option(
            names = "--python",
            defaultValue = "/usr/bin/python3",
            description =
                    "The Python that runs the reference loop (default: ${DEFAULT-VALUE}, Debian's, where python3-torch installs).")
    String python;

    /** Who trains, in the order each round runs them. */
    enum Contender {
        STEP("streamtrain step, in memory"),
        NODE("streamtrain node, from Kafka"),
        PY_MEMORY("PyTorch loop, in memory"),
        PY_KAFKA("PyTorch loop, Kafka defaults"),
        PY_TUNED("PyTorch loop, Kafka tuned");

        final String label;

        Contender(String label) {
            this.label = label;
        }

        boolean python() {
            return this == PY_MEMORY || this == PY_KAFKA || this == PY_TUNED;
        }

        String feed() {
            return switch (this) {
                case PY_MEMORY -> "memory";
                case PY_KAFKA -> "kafka";
                case PY_TUNED -> "kafka-tuned";
                default -> throw new IllegalStateException(name() + " is not the Python loop");
            };
        }
    }

    /**
     * One epoch of one contender.
     *
     * @param between the part of {@code seconds} a node's training thread spent between steps
     *     (waiting for its feed, rounds, housekeeping); 0 where not measured
     * @param before the time from the previous epoch's last step to this epoch's first, outside
     *     {@code seconds}: a node's epoch-end round and checkpoint; 0 where not measured
     */
    record Epoch(long samples, double seconds, double between, double before) {
        Epoch(long samples, double seconds) {
            this(samples, seconds, 0, 0);
        }

        double samplesPerSecond() {
            return samples / seconds;
        }
    }

    /** The Python loop cannot run here; the bench says why and goes on without it. */
    static final class PythonMissing extends Exception {
        PythonMissing(String message) {
            super(message);
        }
    }

    private RunSpec spec(String run) {
        return RunSpecParser.parse("""
                run: %s
                data: { train: %s }
                model: { type: mlp, inputs: %d, hidden: %s, classes: 10, dropout: 0.1 }
                batchSize: %d
                maxEpochs: %d
                optimizer: { type: adamw, learningRate: 0.001 }
                regularization: { l1: 0.00001, l2: 0.0001, weightDecay: 0.01, exclude: [bias], clipGradNorm: 1.0 }
                """.formatted(run, TOPIC, features, hidden, batchSize, epochs));
    }

    @Override
    public Integer call() throws Exception {
        if (epochs < 2) {
            throw new picocli.CommandLine.ParameterException(
                    new picocli.CommandLine(this),
                    "--epochs must be at least 2: the first epoch of every measurement is warm-up");
        }
        SyntheticClusters task = new SyntheticClusters(features, 10, 1.0, 0.05, 3);
        List<byte[]> values = task.records(records, batchSize, 5);
        long bytes = values.stream().mapToLong(v -> v.length).sum();
        Engine engine = Engines.pytorch();
        System.out.printf(
                Locale.ROOT,
                "bench trainer: %d records x %d samples (%.1f MB), MLP %d-%s-10, %d epochs (the first is"
                        + " warm-up), %d rounds, %d cores, %s PyTorch thread(s)%n",
                records,
                batchSize,
                bytes / 1e6,
                features,
                hidden.stream().map(String::valueOf).collect(Collectors.joining("-")),
                epochs,
                rounds,
                Runtime.getRuntime().availableProcessors(),
                System.getProperty(Engines.THREADS_PROPERTY));
        List<Batch> decoded = new ArrayList<>();
        BatchCodec codec = new BatchCodec(spec("x").model());
        for (byte[] v : values) {
            decoded.add(codec.decode(v));
        }
        Map<Contender, List<Double>> perRound = new EnumMap<>(Contender.class);
        try (EmbeddedKafka broker = EmbeddedKafka.start()) {
            KafkaSettings kafka = KafkaSettings.of(broker.bootstrapServers());
            broker.createTopic(TOPIC, partitions);
            broker.produceRoundRobin(TOPIC, partitions, values);
            Path script = extractScript();
            try {
                // JIT and allocator warm-up of the two JVM contenders,
                // not counted (Python starts a new process every time)
                inMemory(engine, decoded, spec("warmup-step"));
                kafkaFed(kafka, spec("warmup-node"));
                String pythonMissing = null;
                for (int round = 1; round <= rounds; round++) {
                    for (Contender c : Contender.values()) {
                        if (c.python() && pythonMissing != null) {
                            continue;
                        }
                        List<Epoch> measured;
                        try {
                            measured = switch (c) {
                                case STEP -> inMemory(engine, decoded, spec("bench-step-" + round));
                                case NODE -> kafkaFed(kafka, spec("bench-node-" + round));
                                default -> python(script, broker.bootstrapServers(), c);
                            };
                        } catch (PythonMissing e) {
                            pythonMissing = e.getMessage();
                            System.out.println("bench trainer: the PyTorch loop is skipped: " + pythonMissing);
                            continue;
                        }
                        List<Epoch> counted = measured.subList(1, measured.size()); // the first epoch is warm-up
                        double figure = median(
                                counted.stream().map(Epoch::samplesPerSecond).toList());
                        perRound.computeIfAbsent(c, k -> new ArrayList<>()).add(figure);
                        double inEpochs =
                                counted.stream().mapToDouble(Epoch::seconds).sum();
                        double between =
                                counted.stream().mapToDouble(Epoch::between).sum();
                        double before =
                                counted.stream().mapToDouble(Epoch::before).sum();
                        System.out.printf(
                                Locale.ROOT,
                                "round %d, %-30s %8.0f samples/s   (epochs: %s)%s%n",
                                round,
                                c.label + ":",
                                figure,
                                measured.stream()
                                        .map(e -> String.format(Locale.ROOT, "%.0f", e.samplesPerSecond()))
                                        .collect(Collectors.joining(" ")),
                                c != Contender.NODE
                                        ? ""
                                        : String.format(
                                                Locale.ROOT,
                                                "; %.1f %% of the epochs between steps; epoch ends (round, checkpoint) %.1f %% of the run",
                                                100 * between / inEpochs,
                                                100 * before / (inEpochs + before)));
                    }
                }
                report(perRound, pythonMissing);
            } finally {
                Files.deleteIfExists(script);
            }
        }
        return 0;
    }

    private static void report(Map<Contender, List<Double>> perRound, String pythonMissing) {
        Map<Contender, Double> m = new EnumMap<>(Contender.class);
        perRound.forEach((c, figures) -> m.put(c, median(figures)));
        System.out.println("result: samples/s, median of the rounds: "
                + m.entrySet().stream()
                        .map(e -> String.format(Locale.ROOT, "%s %.0f", e.getKey().label, e.getValue()))
                        .collect(Collectors.joining("; ")));
        System.out.printf(
                Locale.ROOT,
                "result: streamtrain node from Kafka / its step in memory: %.3f (target >= 0.95)%n",
                m.get(Contender.NODE) / m.get(Contender.STEP));
        if (pythonMissing != null) {
            System.out.println("result: no comparison with the PyTorch loop: " + pythonMissing);
            return;
        }
        System.out.printf(
                Locale.ROOT,
                "result: streamtrain step / PyTorch loop, both in memory: %.3f (target >= 1.0)%n",
                m.get(Contender.STEP) / m.get(Contender.PY_MEMORY));
        System.out.printf(
                Locale.ROOT,
                "result: streamtrain node / PyTorch loop, both from Kafka: %.3f against the tuned consumer"
                        + " (target >= 1.0), %.3f against librdkafka's defaults (target >= 1.5)%n",
                m.get(Contender.NODE) / m.get(Contender.PY_TUNED),
                m.get(Contender.NODE) / m.get(Contender.PY_KAFKA));
    }

    /** Steps pre-decoded batches, epoch after epoch. */
    private static List<Epoch> inMemory(Engine engine, List<Batch> batches, RunSpec spec) {
        List<Epoch> out = new ArrayList<>();
        try (ModelState state = ModelState.initialize(spec, engine)) {
            StepRunner runner = new StepRunner(state, engine);
            for (int e = 0; e < spec.maxEpochs(); e++) {
                long samples = 0;
                long t0 = System.nanoTime();
                for (Batch b : batches) {
                    samples += runner.train(b).samples();
                }
                out.add(new Epoch(samples, (System.nanoTime() - t0) / 1e9));
            }
        }
        return out;
    }

    /** A trainer node as `streamtrain train` runs it, with a metrics endpoint that is scraped every second. */
    private static List<Epoch> kafkaFed(KafkaSettings kafka, RunSpec spec) throws Exception {
        WindowMeter meter = new WindowMeter();
        Health health = new Health(Duration.ofMinutes(2));
        try (MetricsServer metrics =
                MetricsServer.start(0, health, Tags.of("role", "trainer", "node", "bench-node", "run", spec.run()))) {
            TrainerNode node = new TrainerNode(
                    spec,
                    kafka,
                    TrainerOptions.defaults("bench-node").withLogEverySteps(0),
                    metrics.registry(),
                    health);
            node.addListener(meter);
            java.util.concurrent.atomic.AtomicReference<RuntimeException> scrapeFailed =
                    new java.util.concurrent.atomic.AtomicReference<>();
            Thread scraper = new Thread(
                    () -> {
                        try {
                            scrapeUntilInterrupted(metrics.port());
                        } catch (RuntimeException e) {
                            scrapeFailed.set(e);
                        }
                    },
                    "bench-scraper");
            scraper.setDaemon(true);
            scraper.start();
            try {
                node.run();
            } finally {
                scraper.interrupt();
                scraper.join(TimeUnit.SECONDS.toMillis(5));
            }
            if (scrapeFailed.get() != null) {
                throw new IllegalStateException(
                        "scraping the node's /metrics failed: the figure would be of an unscraped node",
                        scrapeFailed.get());
            }
        }
        meter.closeWindow();
        if (meter.epochs.size() != spec.maxEpochs() || meter.checkpoints != spec.maxEpochs()) {
            throw new IllegalStateException("the node trained " + meter.epochs.size() + " and checkpointed "
                    + meter.checkpoints + " epochs of " + spec.maxEpochs());
        }
        return meter.epochs;
    }

    private static void scrapeUntilInterrupted(int port) {
        HttpClient http = HttpClient.newHttpClient();
        HttpRequest scrape = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics"))
                .build();
        try {
            while (!Thread.currentThread().isInterrupted()) {
                HttpResponse<Void> r = http.send(scrape, HttpResponse.BodyHandlers.discarding());
                if (r.statusCode() != 200) {
                    throw new IllegalStateException("/metrics answered " + r.statusCode());
                }
                Thread.sleep(SCRAPE_EVERY.toMillis());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /**
     * Each epoch's window, from its first step's start to its last step's end. An epoch's
     * window closes at the next epoch's first step (its checkpoint commits while that epoch
     * trains) or at the end of the run; the time from one epoch's last step to the next one's
     * first is the epoch end's cost to training.
     */
    private static final class WindowMeter implements TrainingListener {
        final List<Epoch> epochs = new ArrayList<>();
        int checkpoints;
        private int epoch;
        private long samples;
        private long windowStart = -1;
        private long lastEnd;
        private long between;
        private long pendingWait;
        /** The end of the last epoch's last step, or -1 before the first epoch ends. */
        private long lastEpochEnd = -1;

        @Override
        public void onDataWait(long nanos) {
            pendingWait = nanos; // counted with the step it preceded, when that step is inside an epoch's window
        }

        @Override
        public void onStep(int stepEpoch, StepReport r) {
            if (stepEpoch != epoch) {
                closeWindow();
                epoch = stepEpoch;
            }
            long now = System.nanoTime();
            if (windowStart < 0) {
                windowStart = now - (long) (r.seconds() * 1e9);
            } else {
                between += pendingWait;
            }
            pendingWait = 0;
            lastEnd = now;
            samples += r.samples();
        }

        @Override
        public void onCheckpoint(CheckpointManifest m) {
            checkpoints++;
        }

        /** Ends the open epoch's window, if any: at the next epoch's first step, or after the run. */
        void closeWindow() {
            if (windowStart < 0) {
                return;
            }
            double before = lastEpochEnd < 0 ? 0 : (windowStart - lastEpochEnd) / 1e9;
            epochs.add(new Epoch(samples, (lastEnd - windowStart) / 1e9, between / 1e9, before));
            lastEpochEnd = lastEnd;
            samples = 0;
            between = 0;
            windowStart = -1;
        }

        @Override
        public void onRollback(int resumeEpoch, long step) {
            // the start of a run rolls back to nothing; a later rollback would make the figures meaningless
            if (step > 0) {
                throw new IllegalStateException(
                        "the bench node rolled back to step " + step + ": nothing else may use its group");
            }
        }
    }

    /** The reference loop as a child process; its per-epoch JSON lines are its figures. */
    private List<Epoch> python(Path script, String bootstrap, Contender c)
            throws IOException, InterruptedException, PythonMissing {
        List<String> command = List.of(
                python,
                script.toString(),
                "--bootstrap-servers",
                bootstrap,
                "--topic",
                TOPIC,
                "--feed",
                c.feed(),
                "--epochs",
                Integer.toString(epochs),
                "--features",
                Integer.toString(features),
                "--hidden",
                hidden.stream().map(String::valueOf).collect(Collectors.joining(",")),
                // the same number of PyTorch threads as the JVM contenders
                "--threads",
                System.getProperty(Engines.THREADS_PROPERTY, "1"));
        Path errors = Files.createTempFile("torch_reference", ".err");
        String out;
        int exit;
        String stderr;
        try {
            Process p;
            try {
                p = new ProcessBuilder(command).redirectError(errors.toFile()).start();
            } catch (IOException e) {
                throw new PythonMissing(python + " cannot be run (" + e.getMessage()
                        + "): apt-get install python3 python3-torch" + " python3-numpy python3-confluent-kafka");
            }
            try {
                p.getOutputStream().close();
                out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                exit = p.waitFor();
            } finally {
                p.destroyForcibly();
            }
            stderr = Files.readString(errors).strip();
        } finally {
            Files.deleteIfExists(errors);
        }
        if (exit == 3) {
            throw new PythonMissing(stderr);
        }
        if (exit != 0) {
            throw new IllegalStateException("the PyTorch loop (" + c.feed() + ") exited " + exit + ": " + stderr);
        }
        List<Epoch> epochsRun = new ArrayList<>();
        ObjectMapper json = new ObjectMapper();
        for (String line : out.split("\n")) {
            JsonNode n = json.readTree(line);
            if (n.has("epoch")) {
                epochsRun.add(
                        new Epoch(n.get("samples").asLong(), n.get("seconds").asDouble()));
            }
        }
        if (epochsRun.size() != epochs) {
            throw new IllegalStateException("the PyTorch loop (" + c.feed() + ") reported " + epochsRun.size()
                    + " epochs of " + epochs + ": " + out + stderr);
        }
        return epochsRun;
    }

    private static Path extractScript() throws IOException {
        Path script = Files.createTempFile("torch_reference", ".py");
        try (InputStream in = TrainerBench.class.getResourceAsStream(REFERENCE_SCRIPT)) {
            if (in == null) {
                throw new IllegalStateException(REFERENCE_SCRIPT + " is missing from the streamtrain jar");
            }
            Files.write(script, in.readAllBytes());
        }
        return script;
    }

    static double median(List<Double> xs) {
        List<Double> sorted = xs.stream().sorted().toList();
        int n = sorted.size();
        return n % 2 == 1 ? sorted.get(n / 2) : (sorted.get(n / 2 - 1) + sorted.get(n / 2)) / 2;
    }
}
