package io.streamtrain.lab;

import io.streamtrain.core.checkpoint.CheckpointManifest;
import io.streamtrain.core.djl.Engines;
import io.streamtrain.core.kafka.KafkaSettings;
import io.streamtrain.core.kafka.TopicReader;
import io.streamtrain.core.protocol.CheckpointCodec;
import io.streamtrain.core.protocol.SyncCodec;
import io.streamtrain.core.topics.Topics;
import io.streamtrain.lab.TrainerJvms.BenchFailedException;
import io.streamtrain.testkit.EmbeddedKafka;
import io.streamtrain.testkit.SyntheticClusters;
import io.streamtrain.trainer.feed.BatchFeed;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.function.ToDoubleFunction;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code streamtrain bench nodes}: how one run's throughput scales from one trainer node
 * to two, and what the sync rounds cost. Each node is a child JVM (DJL allows one training
 * model per JVM) with one PyTorch thread; the broker is embedded in the bench's JVM. The
 * figures come from each run's epoch checkpoints: epoch 1 (JVM and PyTorch warm-up) is left
 * out, and each figure is the median over the later epochs.
 *
 * <p>Two more measurements: one node with a round only where an epoch ends, right after the
 * first (against it, what rounds every {@code --every-steps} steps cost a lone node); and,
 * last, two separate one-node runs at the same time: two nodes that share nothing but the
 * machine and the broker. What they reach together is the most two nodes can reach on this
 * machine whatever the sync protocol does, so the 2-node run's figure can be read against it.
 */
@Command(
        name = "nodes",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = {
            "Throughput of 1 vs 2 trainer nodes of one run, side by side, and the cost of their sync rounds.",
            "",
            "Runs the same MLP on the same data (a 2-partition topic on an embedded broker) with 1 and then 2 trainer "
                    + "nodes, in rounds. Each node is a child JVM limited to one PyTorch thread "
                    + "(STREAMTRAIN_TORCH_THREADS=1); the nodes combine their weights every --every-steps steps (sync.outer "
                    + "average). The 2-node run runs three times a round: sync.mode streaming with bfloat16 outer gradients (the "
                    + "default), streaming with int8, and strict (parameters and optimizer state in float32). From the runs' "
                    + "checkpoints, leaving out epoch 1 (warm-up), prints the median per epoch of: samples/s, the bytes each node "
                    + "wrote to the sync topic per round (and their share of strict's), and the round wait: the time a node waited "
                    + "for a round to close, from handing in (strict) or from the end of its overlap steps (streaming), as a "
                    + "fraction of the nodes' wall time. Also prints the CPU used over the counted epochs: the whole machine's, each "
                    + "node's, and the bench JVM's (which runs the broker).",
            "",
            "Each round also runs two separate 1-node runs at the same time (no sync between them: nothing shared but the "
                    + "machine and the broker). Their samples/s together is the most 2 nodes can reach on this machine whatever the "
                    + "sync protocol costs: the machine's ceiling, printed with the share of it each 2-node run reached. And it "
                    + "runs one node with a round only where an epoch ends, to print what share of a lone node's samples/s its "
                    + "rounds cost (a node alone on the topic has a round every " + BatchFeed.ALONE_ROUND_FACTOR
                    + " x --every-steps steps).",
            "",
            "Targets (printed, not enforced): 2 nodes >= 97 %% of the machine's ceiling; round wait <= 3 %% of wall time with "
                    + "--every-steps 50; bytes per round per node <= 1/6 of strict's with bfloat16, <= 1/12 with int8."
        })
public final class NodesBench implements Callable<Integer> {
    static final String TOPIC = "nodesbench.train";
    /** Two partitions: two nodes split the data evenly. */
    static final int PARTITIONS = 2;

    static final int FEATURES = 784;
    static final int CLASSES = 10;
    static final String HIDDEN = "[256, 128]";
    /** A measurement that takes this long has hung: its nodes are killed and the bench fails. */
    static final Duration MEASUREMENT_TIMEOUT = Duration.ofMinutes(30);

    static final String STREAMING = "mode: streaming, encoding: bfloat16";
    static final String STREAMING_INT8 = "mode: streaming, encoding: int8";
    static final String STRICT = "mode: strict";

    @Spec
    CommandSpec command;

    // 1800 records: an epoch of several seconds, so JIT warm-up and epoch-end work weigh little (docs/benchmarks.md)
    @Option(
            names = "--records",
            defaultValue = "1800",
            description =
                    "Train records of --batch-size samples, split evenly over 2 partitions (default: ${DEFAULT-VALUE}).")
    int records;

    @Option(
            names = "--batch-size",
            defaultValue = "128",
            description = "Samples per record and per training step (default: ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(
            names = "--epochs",
            defaultValue = "6",
            description =
                    "Epochs per measurement, at least 2; epoch 1 is warm-up and not counted (default: ${DEFAULT-VALUE}).")
    int epochs;

    @Option(
            names = "--rounds",
            defaultValue = "3",
            description =
                    "Rounds of the six measurements: 1 node, 1 node with a round per epoch,"
                            + " 2 nodes streaming bfloat16, streaming int8 and strict, 2 separate runs (default: ${DEFAULT-VALUE}).")
    int rounds;

    @Option(
            names = "--every-steps",
            defaultValue = "50",
            description = "sync.everySteps of the runs (default: ${DEFAULT-VALUE}).")
    int everySteps;

    @Option(
            names = "--verbose",
            description = "Show every line the trainer nodes log (without it: their warnings and errors only).")
    boolean verbose;

    @Override
    public Integer call() throws Exception {
        check(records >= PARTITIONS, "--records must be at least " + PARTITIONS);
        check(batchSize >= 1, "--batch-size must be at least 1");
        check(epochs >= 2, "--epochs must be at least 2 (epoch 1 is warm-up)");
        check(rounds >= 1, "--rounds must be at least 1");
        check(everySteps >= 1, "--every-steps must be at least 1");
        return TrainerJvms.run("bench nodes", verbose, this::run);
    }

    @SuppressWarnings("OrphanedFormatString") // "97 % of" is a percentage in plain text, not a format
    private int run(TrainerJvms jvms) throws Exception {
        SyntheticClusters task = new SyntheticClusters(FEATURES, CLASSES, 1.0, 0.05, 3);
        List<byte[]> values = task.records(records, batchSize, 5);
        long bytes = values.stream().mapToLong(v -> v.length).sum();
        System.out.printf(
                Locale.ROOT,
                "bench nodes: %d records x %d samples (%.1f MB) on %d partitions, MLP %d-%s-%d,"
                        + " sync every %d steps (average; streaming bfloat16, streaming int8 and strict), %d epochs per measurement (epoch 1 not counted), %d rounds, %d cores%n",
                records,
                batchSize,
                bytes / 1e6,
                PARTITIONS,
                FEATURES,
                HIDDEN,
                CLASSES,
                everySteps,
                epochs,
                rounds,
                Runtime.getRuntime().availableProcessors());
        System.out.println("  each node is a child JVM with 1 PyTorch thread (" + Engines.THREADS_ENV
                + "=1); the Kafka broker runs in" + " this JVM and shares the same cores");
        System.out.println(
                "  targets: 2 nodes >= 97 % of the machine's ceiling, round wait <= 3 % of wall time with everySteps 50;"
                        + " sync bytes per round per node <= 1/6 of strict's with bfloat16, <= 1/12 with int8");
        Map<Setup, List<Measurement>> measured = new EnumMap<>(Setup.class);
        try (EmbeddedKafka broker = EmbeddedKafka.start()) {
            jvms.broker(broker);
            broker.createTopic(TOPIC, PARTITIONS);
            broker.produceRoundRobin(TOPIC, PARTITIONS, values);
            values = null; // the broker has them; the child JVMs need the memory more
            KafkaSettings kafka = KafkaSettings.of(broker.bootstrapServers());
            for (int round = 1; round <= rounds; round++) {
                Map<Setup, Measurement> m = new EnumMap<>(Setup.class);
                for (Setup setup : Setup.values()) {
                    m.put(setup, measure(kafka, jvms, round, setup));
                    measured.computeIfAbsent(setup, x -> new ArrayList<>()).add(m.get(setup));
                }
                double s1 = m.get(Setup.ONE).samplesPerSecond();
                double ss = m.get(Setup.SEPARATE).samplesPerSecond();
                System.out.printf(
                        Locale.ROOT,
                        "  round %d: the machine's ceiling %.2f x one node; 2 nodes reached %.0f %% of it (streaming,"
                                + " bfloat16), %.0f %% (streaming, int8), %.0f %% (strict); a lone node's rounds cost %.1f %% of its"
                                + " samples/s%n",
                        round,
                        ss / s1,
                        100 * m.get(Setup.TWO).samplesPerSecond() / ss,
                        100 * m.get(Setup.TWO_INT8).samplesPerSecond() / ss,
                        100 * m.get(Setup.TWO_STRICT).samplesPerSecond() / ss,
                        100 * (1 - s1 / m.get(Setup.ONE_PER_EPOCH).samplesPerSecond()));
            }
        } finally {
            jvms.broker(null);
        }
        List<Epoch> one = epochs(measured.get(Setup.ONE));
        double s1 = median(one, Epoch::samplesPerSecond);
        double ss = median(epochs(measured.get(Setup.SEPARATE)), Epoch::samplesPerSecond);
        double se = median(epochs(measured.get(Setup.ONE_PER_EPOCH)), Epoch::samplesPerSecond);
        System.out.printf(
                Locale.ROOT,
                "result: samples/s (median of %d epochs each): 1 node %.0f; the machine's ceiling (2 separate 1-node"
                        + " runs at once) %.0f together, %.2f x one node%n",
                one.size(),
                s1,
                ss,
                ss / s1);
        double strictContribution = median(measured.get(Setup.TWO_STRICT), Measurement::contributionBytes);
        double strictPerRound = median(epochs(measured.get(Setup.TWO_STRICT)), Epoch::syncBytesPerRound) / 2;
        for (Setup two : List.of(Setup.TWO, Setup.TWO_INT8, Setup.TWO_STRICT)) {
            List<Epoch> e = epochs(measured.get(two));
            double s2 = median(e, Epoch::samplesPerSecond);
            double contribution = median(measured.get(two), Measurement::contributionBytes);
            double perRound = median(e, Epoch::syncBytesPerRound) / 2;
            String target = switch (two) {
                case TWO -> "; target <= 1/6";
                case TWO_INT8 -> "; target <= 1/12";
                default -> "";
            };
            System.out.printf(
                    Locale.ROOT,
                    "result: %s: %.0f samples/s, %.2f x one node, %.1f %% of the machine's ceiling (target >= 97);"
                            + " a node's median contribution %.3f MB (1/%.1f of strict's%s), its sync bytes per round over the epoch %.3f MB"
                            + " (1/%.1f; the epoch's last round carries the optimizer state); round wait %.1f %% of wall time (target <= 3 %%"
                            + " with everySteps 50; this run: %d)%n",
                    two.label,
                    s2,
                    s2 / s1,
                    100 * s2 / ss,
                    contribution / 1e6,
                    strictContribution / contribution,
                    target,
                    perRound / 1e6,
                    strictPerRound / perRound,
                    100 * median(e, Epoch::waitFraction),
                    everySteps);
        }
        System.out.printf(
                Locale.ROOT,
                "result: a lone node's rounds (every %d steps: %d x --every-steps, as a node alone on the topic"
                        + " runs them) cost %.1f %% of its samples/s (1 node with a round only where an epoch ends: %.0f samples/s)%n",
                everySteps * BatchFeed.ALONE_ROUND_FACTOR,
                BatchFeed.ALONE_ROUND_FACTOR,
                100 * (1 - s1 / se),
                se);
        List<Cpu> cpuOne = cpus(measured.get(Setup.ONE));
        List<Cpu> cpuTwo = cpus(measured.get(Setup.TWO));
        List<Cpu> cpuSeparate = cpus(measured.get(Setup.SEPARATE));
        System.out.printf(
                Locale.ROOT,
                "result: CPU (medians of %d measurements each, %d cores): 1 node: machine %.0f %% busy, %.2f cores in"
                        + " the node, %.2f in the bench JVM (broker); 2 nodes (streaming): machine %.0f %% busy, %.2f cores per node, %.2f in"
                        + " the bench JVM; 2 separate runs: machine %.0f %% busy, %.2f cores per node, %.2f in the bench JVM%n",
                rounds,
                Runtime.getRuntime().availableProcessors(),
                100 * median(cpuOne, Cpu::machine),
                median(cpuOne, Cpu::perNode),
                median(cpuOne, Cpu::bench),
                100 * median(cpuTwo, Cpu::machine),
                median(cpuTwo, Cpu::perNode),
                median(cpuTwo, Cpu::bench),
                100 * median(cpuSeparate, Cpu::machine),
                median(cpuSeparate, Cpu::perNode),
                median(cpuSeparate, Cpu::bench));
        return 0;
    }

    /** The counted epochs of a setup's measurements, all rounds. */
    private static List<Epoch> epochs(List<Measurement> measurements) {
        return measurements.stream().flatMap(m -> m.epochs().stream()).toList();
    }

    /** The CPU use of a setup's measurements, one per round. */
    private static List<Cpu> cpus(List<Measurement> measurements) {
        return measurements.stream().map(Measurement::cpu).toList();
    }

    private String spec(String run, int nodes, int syncEverySteps, String sync) {
        // a model and optimizer like bench trainer's; minNodes = nodes, so the 2 nodes start training together
        return """
                run: %s
                data: { train: %s }
                model: { type: mlp, inputs: %d, hidden: %s, classes: %d, dropout: 0.1 }
                init: { seed: 42 }
                batchSize: %d
                maxEpochs: %d
                optimizer: { type: adamw, learningRate: 0.001 }
                regularization: { l1: 0.00001, l2: 0.0001, weightDecay: 0.01, exclude: [bias] }
                earlyStopping: { enabled: false }
                sync: { everySteps: %d, outer: average, minNodes: %d, %s }
                """.formatted(run, TOPIC, FEATURES, HIDDEN, CLASSES, batchSize, epochs, syncEverySteps, nodes, sync);
    }

    /**
     * What a measurement starts: runs of so many nodes each, all at once; in this order in a round.
     */
    @SuppressWarnings("ImmutableEnumChecker") // runNodes is never written after construction
    enum Setup {
        ONE("1 node ", false, STREAMING, 1),
        ONE_PER_EPOCH("1 node, a round per epoch", true, STREAMING, 1),
        TWO("2 nodes (streaming, bfloat16)", false, STREAMING, 2),
        TWO_INT8("2 nodes (streaming, int8)", false, STREAMING_INT8, 2),
        TWO_STRICT("2 nodes (strict)", false, STRICT, 2),
        SEPARATE("2 separate runs", false, STREAMING, 1, 1);

        final String label;
        /** Whether its runs close a round only where an epoch ends, rather than every --every-steps steps. */
        final boolean roundPerEpoch;
        /** The sync settings besides everySteps, outer and minNodes. */
        final String sync;

        /** The nodes of each run. */
        final int[] runNodes;

        Setup(String label, boolean roundPerEpoch, String sync, int... runNodes) {
            this.label = label;
            this.roundPerEpoch = roundPerEpoch;
            this.sync = sync;
            this.runNodes = runNodes;
        }

        String run(int round, int index) {
            return "nodesbench-r" + round
                    + switch (this) {
                        case ONE -> "-n1";
                        case ONE_PER_EPOCH -> "-n1-epoch";
                        case TWO -> "-n2";
                        case TWO_INT8 -> "-n2-int8";
                        case TWO_STRICT -> "-n2-strict";
                        case SEPARATE -> "-separate-" + (char) ('a' + index);
                    };
        }

        int nodes() {
            return java.util.Arrays.stream(runNodes).sum();
        }
    }

    /** The runs of a setup, from start to their last epoch, each a run of its own. */
    private Measurement measure(KafkaSettings kafka, TrainerJvms jvms, int round, Setup setup) throws Exception {
        List<String> runs = new ArrayList<>();
        List<TrainerJvms.Node> procs = new ArrayList<>();
        List<CheckpointWatch> watches = new ArrayList<>();
        CpuSampler cpu = new CpuSampler();
        try {
            for (int r = 0; r < setup.runNodes.length; r++) {
                String run = setup.run(round, r);
                runs.add(run);
                watches.add(new CheckpointWatch(kafka, run));
                Path spec = jvms.spec(
                        run,
                        spec(run, setup.runNodes[r], setup.roundPerEpoch ? Integer.MAX_VALUE : everySteps, setup.sync));
                System.out.printf(
                        Locale.ROOT,
                        "  round %d, %s: starting %d trainer JVM%s (run %s) ...%n",
                        round,
                        setup.label,
                        setup.runNodes[r],
                        setup.runNodes[r] == 1 ? "" : "s",
                        run);
                for (int i = 0; i < setup.runNodes[r]; i++) {
                    procs.add(jvms.start(spec, kafka.bootstrapServers(), run + "-node-" + i));
                }
            }
            TrainerJvms.awaitExit(procs, MEASUREMENT_TIMEOUT, () -> {
                cpu.sample(procs);
                for (int r = 0; r < watches.size(); r++) {
                    String prefix = progressPrefix(setup, r);
                    watches.get(r).poll().forEach(m -> progress(m, prefix));
                }
            });
            for (int r = 0; r < watches.size(); r++) { // the nodes are gone: their last epochs are on the topics
                String prefix = progressPrefix(setup, r);
                watches.get(r).rest(Duration.ofSeconds(30)).forEach(m -> progress(m, prefix));
            }
        } finally {
            procs.forEach(TrainerJvms.Node::kill);
            watches.forEach(CheckpointWatch::close);
        }
        List<List<CheckpointManifest>> manifests = new ArrayList<>();
        for (int r = 0; r < runs.size(); r++) {
            manifests.add(manifests(kafka, runs.get(r)));
        }
        List<Long> contributions = new ArrayList<>();
        for (String run : runs) {
            contributions.addAll(contributionBytes(kafka, run));
        }
        Measurement m = figures(manifests, setup, cpu, contributions);
        System.out.printf(
                Locale.ROOT,
                "  round %d, %s: %8.0f samples/s%s, sync %.2f MB per round (%.0f rounds per epoch),"
                        + " round wait %.1f %% of wall time; CPU: machine %.0f %% busy, %.2f cores per node, %.2f in the bench JVM"
                        + " (broker)%n",
                round,
                setup.label,
                m.samplesPerSecond(),
                setup == Setup.SEPARATE ? " together" : "",
                m.syncBytesPerRound() / 1e6,
                median(m.epochs(), Epoch::rounds),
                100 * m.waitFraction(),
                100 * m.cpu().machine(),
                m.cpu().perNode(),
                m.cpu().bench());
        return m;
    }

    /** An epoch's checkpoint, as progress (the figures are measured from all the manifests at the end). */
    /** With two runs at once, progress says whose epoch it is. */
    private static String progressPrefix(Setup setup, int run) {
        return "    " + setup.label + (setup.runNodes.length > 1 ? " (" + (char) ('a' + run) + ")" : "") + ": ";
    }

    private static void progress(CheckpointManifest m, String prefix) {
        System.out.printf(
                Locale.ROOT,
                "%sepoch %d/%d done, %.0f samples/s%s%n",
                prefix,
                m.epoch(),
                m.runSpec().maxEpochs(),
                m.metrics().getOrDefault("samples_per_second", Double.NaN),
                m.epoch() == 1 ? " (warm-up, not counted)" : "");
    }

    /**
     * The payload bytes of each contribution the run's sync log still holds (the last epochs':
     * the checkpoint owner deletes what an older checkpoint made redundant) that carries one.
     */
    private static List<Long> contributionBytes(KafkaSettings kafka, String run) throws IOException {
        List<Long> out = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> reader = new KafkaConsumer<>(kafka.consumer(null))) {
            for (ConsumerRecord<byte[], byte[]> r :
                    TopicReader.readAll(reader, Topics.sync(run), Duration.ofSeconds(30))) {
                SyncCodec.contributionOf(r)
                        .filter(c -> c.payload() != null)
                        .ifPresent(c -> out.add(c.payload().size()));
            }
        }
        return out;
    }

    /** The run's epoch checkpoints, one per epoch, in epoch order. */
    private List<CheckpointManifest> manifests(KafkaSettings kafka, String run)
            throws IOException, BenchFailedException {
        List<CheckpointManifest> manifests = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> reader = new KafkaConsumer<>(kafka.consumer(null))) {
            for (ConsumerRecord<byte[], byte[]> r :
                    TopicReader.readAll(reader, Topics.checkpoints(run), Duration.ofSeconds(30))) {
                if (CheckpointCodec.MANIFEST.equals(CheckpointCodec.typeOf(r))) {
                    CheckpointManifest m = CheckpointCodec.manifestFromJson(r.value());
                    if (!m.snapshot()) {
                        manifests.add(m);
                    }
                }
            }
        }
        manifests.sort(Comparator.comparingInt(CheckpointManifest::epoch));
        List<Integer> seen = manifests.stream().map(CheckpointManifest::epoch).toList();
        if (!seen.equals(
                java.util.stream.IntStream.rangeClosed(1, epochs).boxed().toList())) {
            throw new BenchFailedException(
                    "run " + run + " should have one checkpoint per epoch 1.." + epochs + ", has epochs " + seen);
        }
        return manifests;
    }

    /**
     * A setup's counted epochs, epoch 1 left out. With several runs at once, epoch k is the
     * runs' epochs k together (they started together and train alike): their samples/s
     * added up, their sync figures averaged.
     */
    private static Measurement figures(
            List<List<CheckpointManifest>> runs, Setup setup, CpuSampler cpu, List<Long> contributions) {
        List<Epoch> out = new ArrayList<>();
        for (int i = 1; i < runs.get(0).size(); i++) {
            double samplesPerSecond = 0;
            double rounds = 0;
            double syncBytesPerRound = 0;
            double waitFraction = 0;
            for (int r = 0; r < runs.size(); r++) {
                CheckpointManifest m = runs.get(r).get(i);
                Map<String, Double> x = m.metrics();
                long closed = m.round() - runs.get(r).get(i - 1).round();
                double seconds = x.get("seconds");
                samplesPerSecond += x.get("samples") / seconds;
                rounds += closed;
                syncBytesPerRound += x.get("sync_bytes") / Math.max(1, closed);
                waitFraction += x.get("sync_wait_seconds") / (setup.runNodes[r] * seconds);
            }
            int n = runs.size();
            out.add(new Epoch(samplesPerSecond, rounds / n, syncBytesPerRound / n, waitFraction / n));
        }
        // the counted epochs ran from epoch 1's checkpoint to the last one; of runs that started together, CPU is read
        // while all ran
        Instant from = runs.stream()
                .map(m -> Instant.parse(m.get(0).time()))
                .max(Comparator.naturalOrder())
                .orElseThrow();
        Instant to = runs.stream()
                .map(m -> Instant.parse(m.get(m.size() - 1).time()))
                .min(Comparator.naturalOrder())
                .orElseThrow();
        return new Measurement(
                out,
                cpu.over(from, to, setup.nodes()),
                contributions.isEmpty() ? Double.NaN : median(contributions, Long::doubleValue));
    }

    /**
     * One counted epoch of a run.
     *
     * @param samplesPerSecond the epoch's samples over its wall time on the node that published its checkpoint
     *     (with several runs, the runs' added up)
     * @param rounds rounds closed in the epoch (with several runs, per run)
     * @param syncBytesPerRound bytes all nodes wrote to the sync topic in the epoch, per round (with several runs, per run)
     * @param waitFraction the nodes' summed round wait over their summed wall time (with several runs, the runs' mean)
     */
    record Epoch(double samplesPerSecond, double rounds, double syncBytesPerRound, double waitFraction) {}

    /**
     * A run's counted epochs and their medians.
     *
     * @param cpu CPU use over the counted epochs
     * @param contributionBytes the median payload of a contribution in the run's sync log (NaN: none)
     */
    record Measurement(List<Epoch> epochs, Cpu cpu, double contributionBytes) {
        double samplesPerSecond() {
            return median(epochs, Epoch::samplesPerSecond);
        }

        double syncBytesPerRound() {
            return median(epochs, Epoch::syncBytesPerRound);
        }

        double waitFraction() {
            return median(epochs, Epoch::waitFraction);
        }
    }

    static <T> double median(List<T> xs, ToDoubleFunction<T> figure) {
        List<Double> s = new ArrayList<>(xs.stream().map(figure::applyAsDouble).toList());
        Collections.sort(s);
        int n = s.size();
        return n % 2 == 1 ? s.get(n / 2) : (s.get(n / 2 - 1) + s.get(n / 2)) / 2;
    }

    /**
     * CPU use over a measurement's counted epochs.
     *
     * @param machine the whole machine's (every process), as a fraction of all its cores
     * @param perNode cores each trainer JVM used, on average
     * @param bench cores this JVM used: the broker, mostly
     */
    record Cpu(double machine, double perNode, double bench) {}

    /** CPU use sampled about once a second while a measurement runs: the whole machine's, this JVM's and the nodes'. */
    private static final class CpuSampler {
        private final com.sun.management.OperatingSystemMXBean os =
                (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        private final List<Sample> samples = new ArrayList<>();
        /** Each node's CPU time when last read: a process that exited can no longer be asked. */
        private final Map<TrainerJvms.Node, Long> nodeNanos = new java.util.HashMap<>();

        private long last = System.nanoTime();

        /** @param machine the machine's use since the previous sample; the CPU times are totals */
        private record Sample(Instant at, double machine, long benchNanos, long nodesNanos) {}

        CpuSampler() {
            // each machine reading covers the time since the previous one: this one starts the first interval
            os.getCpuLoad();
        }

        void sample(List<TrainerJvms.Node> procs) {
            long now = System.nanoTime();
            if (now - last < TimeUnit.SECONDS.toNanos(1)) {
                return;
            }
            last = now;
            for (TrainerJvms.Node p : procs) {
                p.process.info().totalCpuDuration().ifPresent(d -> nodeNanos.put(p, d.toNanos()));
            }
            long nodes = nodeNanos.values().stream().mapToLong(Long::longValue).sum();
            double machine = os.getCpuLoad();
            samples.add(new Sample(Instant.now(), machine < 0 ? Double.NaN : machine, os.getProcessCpuTime(), nodes));
        }

        /** Use over {@code (from, to]}: the mean of the machine readings in it, the CPU times from the last sample at or before each end. */
        Cpu over(Instant from, Instant to, int nodes) {
            Sample first = null;
            Sample end = null;
            double machine = 0;
            int readings = 0;
            for (Sample x : samples) {
                if (!x.at().isAfter(from)) {
                    first = x;
                } else if (!x.at().isAfter(to)) {
                    end = x;
                    machine += x.machine();
                    readings++;
                }
            }
            if (first == null || end == null) {
                return new Cpu(Double.NaN, Double.NaN, Double.NaN);
            }
            double wall = Duration.between(first.at(), end.at()).toNanos();
            return new Cpu(
                    machine / readings,
                    (end.nodesNanos() - first.nodesNanos()) / wall / nodes,
                    (end.benchNanos() - first.benchNanos()) / wall);
        }
    }

    private void check(boolean ok, String message) {
        if (!ok) {
            throw new ParameterException(command.commandLine(), message);
        }
    }
}
