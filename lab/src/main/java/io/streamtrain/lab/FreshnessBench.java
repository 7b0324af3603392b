package io.streamtrain.lab;

import io.streamtrain.core.checkpoint.CheckpointManifest;
import io.streamtrain.core.checkpoint.CheckpointManifest.OffsetRange;
import io.streamtrain.core.control.MalformedMessageException;
import io.streamtrain.core.djl.Engines;
import io.streamtrain.core.evaluation.EvaluationRecord;
import io.streamtrain.core.evaluation.PromotedModel;
import io.streamtrain.core.kafka.KafkaSettings;
import io.streamtrain.core.kafka.TopicReader;
import io.streamtrain.core.protocol.CheckpointCodec;
import io.streamtrain.core.protocol.Messages;
import io.streamtrain.core.topics.Topics;
import io.streamtrain.evaluator.EvaluatorService;
import io.streamtrain.lab.demo.TrainerScrape;
import io.streamtrain.testkit.EmbeddedKafka;
import io.streamtrain.testkit.SyntheticClusters;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code streamtrain bench freshness}: how fresh a continuous run's promoted model is. A
 * producer writes a live train topic at a fixed rate; one trainer node (a child JVM) trains
 * it window by window and the evaluator (in this JVM) scores every window and promotes the
 * better ones. Freshness is the time from a record being produced to a promoted model that
 * trained on it, read from the records' timestamps on the topics.
 */
@Command(
        name = "freshness",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = {
            "End-to-end freshness of a continuous run, on an embedded broker.",
            "",
            "Once the node waits for its first window, a producer writes --rate records a second (each a batch of 64 samples) round-robin to a 2-partition train topic; "
                    + "one trainer node (a child JVM with one PyTorch thread) trains it in windows of --window records "
                    + "(data.mode: continuous), and the evaluator, in this JVM, scores every window's checkpoint and promotes "
                    + "each that beats the promoted model (minDelta 0). For every promotion it prints how long after the "
                    + "window's newest and oldest records were produced the promoted model was published, split into "
                    + "training (newest record produced -> the window's checkpoint written) and evaluation (checkpoint "
                    + "written -> promoted model written); then the medians over the promotions. A window's oldest record "
                    + "also waits for the window to fill: --window / --rate seconds at the producer's rate.",
            "",
            "Exit codes: 0 measured; 1 the run did not train its windows in time, or promoted nothing."
        })
public final class FreshnessBench implements Callable<Integer> {
    static final String TRAIN = "freshness.train";
    static final String VALIDATION = "freshness.validation";
    static final String RUN = "freshness";
    static final int PARTITIONS = 2;
    static final int SAMPLES = 64;
    static final Duration TIMEOUT = Duration.ofMinutes(5);

    @Spec
    CommandSpec command;

    @Option(names = "--windows", defaultValue = "30", description = "Windows to train (default: ${DEFAULT-VALUE}).")
    int windows;

    @Option(
            names = "--window",
            defaultValue = "50",
            description = "Records per window, at least " + PARTITIONS + " (default: ${DEFAULT-VALUE}).")
    int window;

    @Option(
            names = "--rate",
            defaultValue = "50",
            description = "Records produced per second (default: ${DEFAULT-VALUE}).")
    double rate;

    @Option(
            names = "--verbose",
            description = "Show every line the trainer node logs (without it: its warnings and errors only).")
    boolean verbose;

    private String spec() {
        return """
                run: %s
                data: { train: %s, validation: %s, mode: continuous, window: { records: %d } }
                model: { type: mlp, inputs: 64, hidden: [128, 64], classes: 10, dropout: 0.1 }
                batchSize: %d
                maxEpochs: %d
                optimizer: { type: adamw, learningRate: 0.001 }
                regularization: { l2: 0.0001, weightDecay: 0.01 }
                earlyStopping: { patience: 1000, minDelta: 0 }
                """.formatted(RUN, TRAIN, VALIDATION, window, SAMPLES, windows);
    }

    @Override
    public Integer call() throws Exception {
        check(windows >= 1, "--windows must be at least 1");
        check(window >= PARTITIONS, "--window must be at least " + PARTITIONS + " (a record of each partition)");
        check(rate > 0, "--rate must be above 0");
        return TrainerJvms.run("bench freshness", verbose, this::run);
    }

    /** One promotion, timed from the topics' record timestamps (milliseconds). */
    record Promotion(int window, long newestProduced, long oldestProduced, long checkpointed, long promoted) {
        double fromNewest() {
            return (promoted - newestProduced) / 1e3;
        }

        double fromOldest() {
            return (promoted - oldestProduced) / 1e3;
        }

        double training() {
            return (checkpointed - newestProduced) / 1e3;
        }

        double evaluation() {
            return (promoted - checkpointed) / 1e3;
        }
    }

    private int run(TrainerJvms jvms) throws Exception {
        System.out.printf(
                Locale.ROOT,
                "bench freshness: %d windows of %d records (%d samples each, %d partitions), produced at %.0f"
                        + " records/s, %d cores%n",
                windows,
                window,
                SAMPLES,
                PARTITIONS,
                rate,
                Runtime.getRuntime().availableProcessors());
        System.out.printf(
                Locale.ROOT,
                "  one trainer node, a child JVM with 1 PyTorch thread (%s=1); the broker, the producer and the"
                        + " evaluator run in this JVM; a window fills in %.2f s at this rate%n",
                Engines.THREADS_ENV,
                window / rate);
        SyntheticClusters task = new SyntheticClusters(64, 10, 1.2, 0.05, 3);
        try (EmbeddedKafka broker = EmbeddedKafka.start()) {
            jvms.broker(broker);
            KafkaSettings kafka = KafkaSettings.of(broker.bootstrapServers());
            broker.createTopic(TRAIN, PARTITIONS);
            broker.createTopic(VALIDATION, 1);
            broker.produceRoundRobin(VALIDATION, 1, task.records(20, SAMPLES, 2));
            EvaluatorService evaluator = new EvaluatorService(kafka, List.of(RUN), "bench");
            Thread evaluatorThread = new Thread(evaluator::run, "evaluator");
            evaluatorThread.start();
            LiveProducer producer = null;
            try {
                Path spec = jvms.spec(RUN, spec());
                TrainerJvms.Node node = jvms.start(spec, kafka.bootstrapServers(), RUN + "-node-0");
                // the live data starts once the node waits for it (its awaiting_data gauge): a JVM's start is not what
                // is measured
                long deadline = System.nanoTime() + TIMEOUT.toNanos();
                while (!awaitingData(node)) {
                    node.requireHealthy();
                    if (!node.process.isAlive() || System.nanoTime() > deadline) {
                        throw new TrainerJvms.BenchFailedException(
                                "the trainer node did not start waiting for data; the last lines of its" + " output:\n"
                                        + node.tail());
                    }
                    Thread.sleep(100);
                }
                LiveProducer live = LiveProducer.start(
                        kafka,
                        TRAIN,
                        PARTITIONS,
                        rate,
                        i -> task.records(1, SAMPLES, 1000 + i).get(0));
                producer = live;
                TrainerJvms.awaitExit(List.of(node), TIMEOUT, () -> {
                    if (live.failure() != null) {
                        throw new IllegalStateException("the producer failed: " + live.failure(), live.failure());
                    }
                });
                awaitEvaluations(kafka, windows);
            } finally {
                if (producer != null) {
                    producer.close();
                }
                evaluator.close();
                evaluatorThread.join(30_000);
                jvms.broker(null);
            }
            List<Promotion> promotions = promotions(kafka);
            if (promotions.isEmpty()) {
                throw new TrainerJvms.BenchFailedException("the evaluator promoted no window of " + windows);
            }
            for (Promotion p : promotions) {
                System.out.printf(
                        Locale.ROOT,
                        "  window %3d promoted %6.0f ms after its newest record was produced (%6.0f ms after its"
                                + " oldest): training %6.0f ms, evaluation %5.0f ms%n",
                        p.window(),
                        1e3 * p.fromNewest(),
                        1e3 * p.fromOldest(),
                        1e3 * p.training(),
                        1e3 * p.evaluation());
            }
            System.out.printf(
                    Locale.ROOT,
                    "result: freshness over %d promotions of %d windows: newest record -> promoted model median %.0f"
                            + " ms, max %.0f ms; oldest record median %.0f ms; of which training median %.0f ms, evaluation median %.0f ms%n",
                    promotions.size(),
                    windows,
                    1e3 * median(promotions, Promotion::fromNewest),
                    1e3
                            * promotions.stream()
                                    .mapToDouble(Promotion::fromNewest)
                                    .max()
                                    .orElseThrow(),
                    1e3 * median(promotions, Promotion::fromOldest),
                    1e3 * median(promotions, Promotion::training),
                    1e3 * median(promotions, Promotion::evaluation));
        }
        return 0;
    }

    private static void awaitEvaluations(KafkaSettings kafka, int windows) throws Exception {
        long deadline = System.nanoTime() + TIMEOUT.toNanos();
        try (KafkaConsumer<byte[], byte[]> reader = new KafkaConsumer<>(kafka.consumer(null))) {
            while (true) {
                int evaluated = 0;
                for (ConsumerRecord<byte[], byte[]> r :
                        TopicReader.readAll(reader, Topics.evaluations(RUN), Duration.ofSeconds(30))) {
                    try {
                        EvaluationRecord e =
                                Messages.decodeEvaluation(r.value()).orElse(null);
                        evaluated += e != null && e.evaluated() ? 1 : 0;
                    } catch (MalformedMessageException ignored) {
                        // not an evaluation
                    }
                }
                if (evaluated >= windows) {
                    return;
                }
                if (System.nanoTime() > deadline) {
                    throw new TrainerJvms.BenchFailedException("the evaluator scored " + evaluated + " of " + windows
                            + " windows within " + TIMEOUT.toSeconds() + " s");
                }
                Thread.sleep(200);
            }
        }
    }

    /** Every promotion, with its window's record timestamps from the train topic. */
    private static List<Promotion> promotions(KafkaSettings kafka) throws IOException {
        try (KafkaConsumer<byte[], byte[]> reader = new KafkaConsumer<>(kafka.consumer(null))) {
            Map<String, CheckpointManifest> manifests = new HashMap<>();
            Map<String, Long> written = new HashMap<>();
            for (ConsumerRecord<byte[], byte[]> r :
                    TopicReader.readAll(reader, Topics.checkpoints(RUN), Duration.ofSeconds(30))) {
                if (CheckpointCodec.MANIFEST.equals(CheckpointCodec.typeOf(r))) {
                    CheckpointManifest m = CheckpointCodec.manifestFromJson(r.value());
                    manifests.put(m.checkpointId(), m);
                    written.put(m.checkpointId(), r.timestamp());
                }
            }
            Map<Integer, Map<Long, Long>> produced = new HashMap<>();
            for (ConsumerRecord<byte[], byte[]> r : TopicReader.readAll(reader, TRAIN, Duration.ofSeconds(30))) {
                produced.computeIfAbsent(r.partition(), p -> new HashMap<>()).put(r.offset(), r.timestamp());
            }
            List<Promotion> out = new ArrayList<>();
            for (ConsumerRecord<byte[], byte[]> r :
                    TopicReader.readAll(reader, Topics.models(RUN), Duration.ofSeconds(30))) {
                PromotedModel model;
                try {
                    model = Messages.decodePromoted(r.value()).orElse(null);
                } catch (MalformedMessageException e) {
                    continue;
                }
                CheckpointManifest m = model == null ? null : manifests.get(model.checkpointId());
                if (m == null) {
                    continue;
                }
                long newest = Long.MIN_VALUE;
                long oldest = Long.MAX_VALUE;
                for (OffsetRange range : m.offsets()) {
                    for (long o = range.from(); o < range.to(); o++) {
                        long t = produced.get(range.partition()).get(o);
                        newest = Math.max(newest, t);
                        oldest = Math.min(oldest, t);
                    }
                }
                out.add(new Promotion(model.epoch(), newest, oldest, written.get(m.checkpointId()), r.timestamp()));
            }
            return out;
        }
    }

    private static <T> double median(List<T> xs, java.util.function.ToDoubleFunction<T> figure) {
        return NodesBench.median(xs, figure);
    }

    private void check(boolean ok, String message) {
        if (!ok) {
            throw new ParameterException(command.commandLine(), message);
        }
    }

    /** Whether the node says, on its metrics, that its window waits for records not produced yet. */
    private static boolean awaitingData(TrainerJvms.Node node) {
        try {
            return TrainerScrape.of(node.metricsPort).awaitingData() == 1;
        } catch (java.io.IOException | RuntimeException e) {
            return false; // not serving its metrics yet
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }
}
