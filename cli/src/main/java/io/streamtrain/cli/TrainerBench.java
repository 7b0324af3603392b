package io.streamtrain.cli;

import ai.djl.engine.Engine;
import io.streamtrain.cli.broker.EmbeddedKafka;
import io.streamtrain.cli.data.SyntheticClusters;
import io.streamtrain.core.codec.Batch;
import io.streamtrain.core.codec.BatchCodec;
import io.streamtrain.core.djl.Engines;
import io.streamtrain.core.kafka.KafkaSettings;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.core.spec.RunSpecParser;
import io.streamtrain.trainer.TrainerNode;
import io.streamtrain.trainer.TrainerOptions;
import io.streamtrain.trainer.TrainingListener;
import io.streamtrain.trainer.model.ModelState;
import io.streamtrain.trainer.model.StepReport;
import io.streamtrain.trainer.model.StepRunner;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code streamtrain bench trainer}: the same MLP on the same batches, once fed by a
 * trainer node from Kafka (embedded broker) and once from batches already decoded in
 * memory, in alternating rounds of one run. Throughput counts the training windows of each
 * epoch (first step start to last step end), so waiting for data counts against Kafka while
 * the checkpoint publish between epochs, which the in-memory loop does not do, does not.
 */
@Command(name = "trainer", mixinStandardHelpOptions = true, sortOptions = false,
        description = {
            "Kafka-fed vs in-memory training throughput, side by side.",
            "",
            "Trains the same MLP on the same batches fed from Kafka (embedded broker) and from memory, in "
                    + "alternating rounds, and prints samples/s for both and their ratio (target: Kafka-fed >= 0.95 x in-memory)."})
public final class TrainerBench implements Callable<Integer> {
    @Option(names = "--records", defaultValue = "200", description = "Records of --batch-size samples (default: ${DEFAULT-VALUE}).")
    int records;

    @Option(names = "--batch-size", defaultValue = "128", description = "Samples per batch and per record (default: ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(names = "--features", defaultValue = "784", description = "Inputs per sample (default: ${DEFAULT-VALUE}, Fashion-MNIST's).")
    int features;

    @Option(names = "--hidden", defaultValue = "256,128", split = ",", description = "Hidden layer widths (default: ${DEFAULT-VALUE}).")
    List<Integer> hidden;

    @Option(names = "--epochs", defaultValue = "3", description = "Epochs per measurement (default: ${DEFAULT-VALUE}).")
    int epochs;

    @Option(names = "--rounds", defaultValue = "3", description = "Alternating rounds of both measurements (default: ${DEFAULT-VALUE}).")
    int rounds;

    @Option(names = "--partitions", defaultValue = "4", description = "Partitions of the train topic (default: ${DEFAULT-VALUE}).")
    int partitions;

    private RunSpec spec(String run) {
        return RunSpecParser.parse("""
                run: %s
                data: { train: bench.train }
                model: { type: mlp, inputs: %d, hidden: %s, classes: 10, dropout: 0.1 }
                batchSize: %d
                maxEpochs: %d
                optimizer: { type: adamw, learningRate: 0.001 }
                regularization: { l1: 0.00001, l2: 0.0001, weightDecay: 0.01, exclude: [bias] }
                """.formatted(run, features, hidden, batchSize, epochs));
    }

    @Override
    public Integer call() throws Exception {
        SyntheticClusters task = new SyntheticClusters(features, 10, 1.0, 0.05, 3);
        List<byte[]> values = task.records(records, batchSize, 5);
        long bytes = values.stream().mapToLong(v -> v.length).sum();
        Engine engine = Engines.pytorch();
        System.out.printf(Locale.ROOT, "bench trainer: %d records x %d samples (%.1f MB), MLP %d-%s-10, %d epochs, %d rounds, %d cores, %s PyTorch threads%n",
                records, batchSize, bytes / 1e6, features, hidden, epochs, rounds, Runtime.getRuntime().availableProcessors(),
                System.getProperty(Engines.THREADS_PROPERTY));
        List<Batch> decoded = new ArrayList<>();
        BatchCodec codec = new BatchCodec(spec("x").model());
        for (byte[] v : values) {
            decoded.add(codec.decode(v));
        }
        try (EmbeddedKafka broker = EmbeddedKafka.start()) {
            KafkaSettings kafka = KafkaSettings.of(broker.bootstrapServers());
            broker.createTopic("bench.train", partitions);
            broker.produceRoundRobin("bench.train", partitions, values);
            // JIT and allocator warm-up of both paths, not counted
            inMemory(engine, decoded, spec("warmup-mem"), 1);
            kafkaFed(kafka, spec("warmup-kafka"));
            double memSum = 0;
            double kafkaSum = 0;
            for (int round = 1; round <= rounds; round++) {
                double mem = inMemory(engine, decoded, spec("bench-mem-" + round), epochs);
                Fed fed = kafkaFed(kafka, spec("bench-kafka-" + round));
                double kfk = fed.samplesPerSecond();
                memSum += mem;
                kafkaSum += kfk;
                System.out.printf(Locale.ROOT, "  round %d: in-memory %8.0f samples/s   kafka-fed %8.0f samples/s   ratio %.3f"
                        + "   (kafka-fed steps waited %.2f s for data)%n", round, mem, kfk, kfk / mem, fed.dataWaitSeconds());
            }
            System.out.printf(Locale.ROOT, "result: in-memory %.0f samples/s, kafka-fed %.0f samples/s, ratio %.3f (target >= 0.95)%n",
                    memSum / rounds, kafkaSum / rounds, kafkaSum / memSum);
        }
        return 0;
    }

    /** samples per second of training windows, stepping pre-decoded batches. */
    private static double inMemory(Engine engine, List<Batch> batches, RunSpec spec, int epochs) {
        long samples = 0;
        long nanos = 0;
        try (ModelState state = ModelState.initialize(spec, engine)) {
            StepRunner runner = new StepRunner(state, engine);
            for (int e = 0; e < epochs; e++) {
                long t0 = System.nanoTime();
                for (Batch b : batches) {
                    StepReport r = runner.train(b);
                    samples += r.samples();
                }
                nanos += System.nanoTime() - t0;
            }
        }
        return samples / (nanos / 1e9);
    }

    /** samples per second, and the seconds the step waited for data (epoch starts included, unlike the window). */
    private record Fed(double samplesPerSecond, double dataWaitSeconds) {}

    private static Fed kafkaFed(KafkaSettings kafka, RunSpec spec) throws InterruptedException {
        WindowMeter meter = new WindowMeter();
        TrainerNode node = new TrainerNode(spec, kafka, TrainerOptions.defaults("bench-node").withLogEverySteps(0));
        node.addListener(meter);
        node.run();
        double seconds = meter.nanos / 1e9;
        return new Fed(meter.samples / seconds, meter.dataWaitSeconds);
    }

    /** Sums each epoch's window from its first step's start to its last step's end. */
    private static final class WindowMeter implements TrainingListener {
        long samples;
        long nanos;
        double dataWaitSeconds;
        private long windowStart = -1;
        private long lastEnd;

        @Override
        public void onStep(int epoch, StepReport r) {
            long now = System.nanoTime();
            if (windowStart < 0) {
                windowStart = now - (long) (r.seconds() * 1e9);
            }
            lastEnd = now;
            samples += r.samples();
        }

        @Override
        public void onCheckpoint(io.streamtrain.core.checkpoint.CheckpointManifest m) {
            dataWaitSeconds += m.metrics().get("data_wait_seconds");
            nanos += lastEnd - windowStart;
            windowStart = -1;
        }
    }
}
