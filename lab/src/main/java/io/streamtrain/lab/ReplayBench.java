package io.streamtrain.lab;

import io.streamtrain.core.checkpoint.Checkpoint;
import io.streamtrain.core.checkpoint.CheckpointManifest;
import io.streamtrain.core.checkpoint.PayloadSources;
import io.streamtrain.core.checkpoint.RunCheckpoints;
import io.streamtrain.core.djl.Engines;
import io.streamtrain.core.kafka.KafkaSettings;
import io.streamtrain.core.kafka.Preflight;
import io.streamtrain.core.spec.CheckpointRef;
import io.streamtrain.evaluator.TopicScore;
import io.streamtrain.testkit.EmbeddedKafka;
import io.streamtrain.testkit.SyntheticClusters;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code streamtrain bench replay}: what {@code data.window.replay} does against forgetting,
 * and what it costs. A train topic holds windows of one labelling rule (A), then windows of
 * another (B); a continuous run trains them once without replay and once with it, and the
 * final model of each is scored on a holdout of each rule.
 */
@Command(
        name = "replay",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = {
            "What a continuous run's window replay (data.window.replay) does against forgetting, on an embedded broker.",
            "",
            "A 2-partition train topic holds --windows-a windows of --window records (each a batch of 64 samples) "
                    + "drawn from one synthetic task (rule A), then --windows-b windows from another (rule B: other "
                    + "clusters, other labels). Two continuous runs train all of them, one after the other, each in one "
                    + "trainer node (a child JVM with one PyTorch thread): one without replay, one with --replay, whose "
                    + "replays reach back over every window of the run (replayHorizon). Each run's last checkpoint is "
                    + "then scored on a holdout of rule A and one of rule B (as `streamtrain score` does). It prints, per "
                    + "run, the two losses, the samples trained and the windows' training time (the sum of their "
                    + "checkpoints' seconds: a window's start to its last round), then one result line.",
            "",
            "Exit codes: 0 measured; 1 a run did not finish in time."
        })
public final class ReplayBench implements Callable<Integer> {
    static final String TRAIN = "replay.train";
    static final String HOLDOUT_A = "replay.holdout.a";
    static final String HOLDOUT_B = "replay.holdout.b";
    static final int PARTITIONS = 2;
    static final int SAMPLES = 64;
    static final Duration TIMEOUT = Duration.ofMinutes(10);

    @Spec
    CommandSpec command;

    @Option(
            names = "--windows-a",
            defaultValue = "6",
            description = "Windows of rule A, first (default: ${DEFAULT-VALUE}).")
    int windowsA;

    @Option(
            names = "--windows-b",
            defaultValue = "6",
            description = "Windows of rule B, after them (default: ${DEFAULT-VALUE}).")
    int windowsB;

    @Option(
            names = "--window",
            defaultValue = "40",
            description = "Records per window, a multiple of " + PARTITIONS + " (default: ${DEFAULT-VALUE}).")
    int window;

    @Option(
            names = "--replay",
            defaultValue = "0.5",
            description = "The replaying run's data.window.replay, in (0, 0.9] (default: ${DEFAULT-VALUE}).")
    double replay;

    @Option(
            names = "--verbose",
            description = "Show every line the trainer nodes log (without it: their warnings and errors only).")
    boolean verbose;

    /** One run's outcome: its last checkpoint's losses on the two holdouts, what it trained, and its windows' training time. */
    record Arm(String name, double replay, double lossA, double lossB, double samples, double seconds) {}

    private String spec(String run, double share) {
        int windows = windowsA + windowsB;
        String replayKeys = share == 0 ? "" : ", replay: " + share + ", replayHorizon: " + windows;
        return """
                run: %s
                data: { train: %s, mode: continuous, window: { records: %d%s } }
                model: { type: mlp, inputs: 32, hidden: [64], classes: 4 }
                init: { seed: 5 }
                batchSize: %d
                maxEpochs: %d
                optimizer: { type: adamw, learningRate: 0.003 }
                earlyStopping: { enabled: false }
                """.formatted(run, TRAIN, window, replayKeys, SAMPLES, windows);
    }

    @Override
    public Integer call() throws Exception {
        check(windowsA >= 1 && windowsB >= 1, "--windows-a and --windows-b must be at least 1");
        // an even window gives each partition the same share, so no window mixes the two rules
        check(
                window >= PARTITIONS && window % PARTITIONS == 0,
                "--window must be a multiple of " + PARTITIONS + " (each partition the same share of each window)");
        check(replay > 0 && replay <= 0.9, "--replay must be in (0, 0.9]");
        check(
                replay / (1 - replay) <= windowsA + windowsB,
                "--replay " + replay + " needs more windows before a window than the run has");
        return TrainerJvms.run("bench replay", verbose, this::run);
    }

    private int run(TrainerJvms jvms) throws Exception {
        System.out.printf(
                Locale.ROOT,
                "bench replay: %d windows of rule A, then %d of rule B; windows of %d records (%d samples each, %d"
                        + " partitions), %d cores%n",
                windowsA,
                windowsB,
                window,
                SAMPLES,
                PARTITIONS,
                Runtime.getRuntime().availableProcessors());
        System.out.printf(
                Locale.ROOT,
                "  each run one trainer node, a child JVM with 1 PyTorch thread (%s=1); the final model scored on a"
                        + " holdout of each rule (loss per sample)%n",
                Engines.THREADS_ENV);
        SyntheticClusters ruleA = new SyntheticClusters(32, 4, 1.2, 0.05, 11);
        SyntheticClusters ruleB = new SyntheticClusters(32, 4, 1.2, 0.05, 12);
        List<Arm> arms = new ArrayList<>();
        try (EmbeddedKafka broker = EmbeddedKafka.start()) {
            jvms.broker(broker);
            KafkaSettings kafka = KafkaSettings.of(broker.bootstrapServers());
            broker.createTopic(TRAIN, PARTITIONS);
            broker.createTopic(HOLDOUT_A, 1);
            broker.createTopic(HOLDOUT_B, 1);
            List<byte[]> train = new ArrayList<>(ruleA.records(windowsA * window, SAMPLES, 1));
            train.addAll(ruleB.records(windowsB * window, SAMPLES, 2));
            broker.produceRoundRobin(TRAIN, PARTITIONS, train);
            broker.produceRoundRobin(HOLDOUT_A, 1, ruleA.records(16, SAMPLES, 3));
            broker.produceRoundRobin(HOLDOUT_B, 1, ruleB.records(16, SAMPLES, 4));
            try {
                arms.add(train(jvms, kafka, "replay-none", 0));
                arms.add(train(jvms, kafka, "replay-" + Math.round(replay * 100), replay));
            } finally {
                jvms.broker(null);
            }
        }
        System.out.printf(
                Locale.ROOT,
                "  %-14s %6s %16s %16s %16s %11s%n",
                "run",
                "replay",
                "rule A loss",
                "rule B loss",
                "samples trained",
                "training s");
        for (Arm a : arms) {
            System.out.printf(
                    Locale.ROOT,
                    "  %-14s %6.2f %16.4f %16.4f %16.0f %11.1f%n",
                    a.name(),
                    a.replay(),
                    a.lossA(),
                    a.lossB(),
                    a.samples(),
                    a.seconds());
        }
        Arm none = arms.get(0);
        Arm with = arms.get(1);
        System.out.printf(
                Locale.ROOT,
                "result: replay %.2f: rule A loss %.4f vs %.4f without (%.2fx), rule B loss %.4f vs %.4f (%.2fx);"
                        + " %.2fx the samples, %.2fx the training time%n",
                replay,
                with.lossA(),
                none.lossA(),
                with.lossA() / none.lossA(),
                with.lossB(),
                none.lossB(),
                with.lossB() / none.lossB(),
                with.samples() / none.samples(),
                with.seconds() / none.seconds());
        return 0;
    }

    /** Trains every window in one node, then scores the run's last checkpoint on both holdouts. */
    private Arm train(TrainerJvms jvms, KafkaSettings kafka, String run, double share) throws Exception {
        Path spec = jvms.spec(run, spec(run, share));
        TrainerJvms.Node node = jvms.start(spec, kafka.bootstrapServers(), run + "-node-0");
        TrainerJvms.awaitExit(List.of(node), TIMEOUT, () -> {});
        try (Admin admin = Preflight.admin(kafka);
                KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(kafka.consumer(null))) {
            Checkpoint last = RunCheckpoints.find(
                            admin,
                            consumer,
                            kafka.bootstrapServers(),
                            CheckpointRef.parse("run:" + run),
                            Duration.ofSeconds(30),
                            PayloadSources.none(),
                            kafka.signing())
                    .checkpoint();
            if (last.manifest().epoch() != windowsA + windowsB) {
                throw new TrainerJvms.BenchFailedException(
                        "run " + run + " ended at window " + last.manifest().epoch() + " of " + (windowsA + windowsB));
            }
            List<CheckpointManifest> windows =
                    RunCheckpoints.list(consumer, run, Duration.ofSeconds(30), m -> {}, kafka.signing())
                            .manifests()
                            .stream()
                            .filter(m -> !m.snapshot())
                            .toList();
            double samples = windows.stream()
                    .mapToDouble(m -> m.metrics().getOrDefault("samples", 0.0))
                    .sum();
            // each window's time from its start to its last round (its manifest's "seconds"): the training, not the
            // JVM's start
            double seconds = windows.stream()
                    .mapToDouble(m -> m.metrics().getOrDefault("seconds", 0.0))
                    .sum();
            TopicScore a = TopicScore.of(last, consumer, HOLDOUT_A, Duration.ofSeconds(30));
            TopicScore b = TopicScore.of(last, consumer, HOLDOUT_B, Duration.ofSeconds(30));
            return new Arm(run, share, a.loss(), b.loss(), samples, seconds);
        }
    }

    private void check(boolean ok, String message) {
        if (!ok) {
            throw new ParameterException(command.commandLine(), message);
        }
    }
}
