package io.streamtrain.lab;

import io.streamtrain.core.checkpoint.CheckpointManifest;
import io.streamtrain.core.control.ControlMessage;
import io.streamtrain.core.control.MalformedMessageException;
import io.streamtrain.core.djl.Engines;
import io.streamtrain.core.evaluation.EvaluationRecord;
import io.streamtrain.core.kafka.KafkaSettings;
import io.streamtrain.core.kafka.TopicReader;
import io.streamtrain.core.protocol.CheckpointCodec;
import io.streamtrain.core.protocol.Messages;
import io.streamtrain.core.topics.Topics;
import io.streamtrain.evaluator.EvaluatorService;
import io.streamtrain.lab.TrainerJvms.BenchFailedException;
import io.streamtrain.testkit.EmbeddedKafka;
import io.streamtrain.testkit.SyntheticClusters;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.function.ToDoubleFunction;
import java.util.stream.Collectors;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code streamtrain bench stop}: how fast the early-stop loop is. Stop latency is the
 * time from a STOP being sent to the last trainer node of the run having exited (each node
 * a child JVM, as in production; 1 node and several, side by side); evaluation overhead is
 * the time from a checkpoint's manifest being written to its evaluation being written,
 * minus the validation compute itself.
 */
@Command(
        name = "stop",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = {
            "Stop latency and evaluation overhead of the early-stop loop, on an embedded broker.",
            "",
            "In each of --rounds rounds, for each count of --nodes in turn: starts a run of that many trainer nodes (each a "
                    + "child JVM limited to one PyTorch thread, STREAMTRAIN_TORCH_THREADS=1), lets it train --epochs-before-stop "
                    + "epochs, sends an operator STOP and times it to the last node's process having exited; also prints when the "
                    + "last node acknowledged the STOP, and a node's wall time per step (median over the epochs after the first). "
                    + "One evaluator, in this JVM, scores every run's checkpoints: its overhead is manifest written to evaluation "
                    + "written, minus the validation compute. Prints the median and max per count of nodes.",
            "",
            "Targets (printed, not enforced): stop latency under 1 s plus one training step; evaluation overhead under 200 ms."
        })
public final class StopBench implements Callable<Integer> {
    static final String TRAIN = "stopbench.train";
    static final String VALIDATION = "stopbench.validation";
    /** The most nodes a run can use: one per partition. */
    static final int PARTITIONS = 4;
    /** A run that takes this long to train its epochs before the STOP, or to stop after it, has hung. */
    static final Duration TIMEOUT = Duration.ofMinutes(3);

    @Spec
    CommandSpec command;

    @Option(
            names = "--rounds",
            defaultValue = "5",
            description = "Runs to stop per count of nodes (default: ${DEFAULT-VALUE}).")
    int rounds;

    @Option(
            names = "--epochs-before-stop",
            defaultValue = "8",
            description = "Epochs each run trains before the STOP, at least 2 (default: ${DEFAULT-VALUE}).")
    int epochsBeforeStop;

    @Option(
            names = "--nodes",
            split = ",",
            defaultValue = "1,2",
            description = "Trainer nodes per run, each count measured in every round (comma-separated, 1 to "
                    + PARTITIONS + "; default: ${DEFAULT-VALUE}).")
    List<Integer> nodes;

    @Option(
            names = "--verbose",
            description = "Show every line the trainer nodes log (without it: their warnings and errors only).")
    boolean verbose;

    private static String spec(String run, int nodes) {
        // minNodes: a run of several nodes trains with all of them from its first step
        return """
                run: %s
                data: { train: %s, validation: %s }
                model: { type: mlp, inputs: 64, hidden: [128, 64], classes: 10, dropout: 0.1 }
                batchSize: 64
                maxEpochs: 100000
                optimizer: { type: adamw, learningRate: 0.001 }
                regularization: { l2: 0.0001, weightDecay: 0.01 }
                earlyStopping: { enabled: false }
                sync: { minNodes: %d }
                """.formatted(run, TRAIN, VALIDATION, nodes);
    }

    @Override
    public Integer call() throws Exception {
        check(rounds >= 1, "--rounds must be at least 1");
        check(epochsBeforeStop >= 2, "--epochs-before-stop must be at least 2 (a node's step time leaves epoch 1 out)");
        check(
                !nodes.isEmpty()
                        && nodes.stream().allMatch(n -> n >= 1 && n <= PARTITIONS)
                        && nodes.stream().distinct().count() == nodes.size(),
                "--nodes takes distinct counts from 1 to " + PARTITIONS + ", e.g. 1,2");
        return TrainerJvms.run("bench stop", verbose, this::run);
    }

    private int run(TrainerJvms jvms) throws Exception {
        System.out.printf(
                Locale.ROOT,
                "bench stop: %d rounds of runs of %s trainer nodes, STOP after %d epochs, %d cores%n",
                rounds,
                nodes.stream().map(String::valueOf).collect(Collectors.joining(" and ")),
                epochsBeforeStop,
                Runtime.getRuntime().availableProcessors());
        System.out.println("  each node is a child JVM with 1 PyTorch thread (" + Engines.THREADS_ENV
                + "=1); the Kafka broker and the" + " evaluator run in this JVM and share the same cores");
        Map<Integer, List<Stopped>> stopped = new TreeMap<>();
        List<String> runs = new ArrayList<>();
        try (EmbeddedKafka broker = EmbeddedKafka.start()) {
            jvms.broker(broker);
            KafkaSettings kafka = KafkaSettings.of(broker.bootstrapServers());
            SyntheticClusters task = new SyntheticClusters(64, 10, 1.2, 0.05, 3);
            broker.createTopic(TRAIN, PARTITIONS);
            broker.createTopic(VALIDATION, 1);
            broker.produceRoundRobin(TRAIN, PARTITIONS, task.records(200, 32, 1));
            broker.produceRoundRobin(VALIDATION, 1, task.records(40, 32, 2));
            EvaluatorService evaluator = new EvaluatorService(kafka, List.of(), "bench");
            Thread evaluatorThread = new Thread(evaluator::run, "evaluator");
            evaluatorThread.start();
            try (KafkaProducer<byte[], byte[]> control = new KafkaProducer<>(kafka.producer());
                    KafkaConsumer<byte[], byte[]> reader = new KafkaConsumer<>(kafka.consumer(null))) {
                for (int round = 1; round <= rounds; round++) {
                    for (int n : nodes) {
                        String run = "stopbench-r" + round + "-n" + n;
                        runs.add(run);
                        Stopped s = measure(jvms, kafka, control, reader, run, n);
                        stopped.computeIfAbsent(n, k -> new ArrayList<>()).add(s);
                        System.out.printf(
                                Locale.ROOT,
                                "  round %d, %s: stop latency %6.0f ms to the last node's exit; last acknowledgement"
                                        + " after %4.0f ms; a node's step %.1f ms%n",
                                round,
                                label(n),
                                1e3 * s.latency(),
                                1e3 * s.acknowledged(),
                                1e3 * s.step());
                    }
                }
            } finally {
                // let the evaluator catch up with the last checkpoints before measuring it
                Thread.sleep(3_000);
                evaluator.close();
                evaluatorThread.join(30_000);
                jvms.broker(null);
            }
            List<Double> overheads = overheads(kafka, runs);
            for (Map.Entry<Integer, List<Stopped>> e : stopped.entrySet()) {
                List<Stopped> xs = e.getValue();
                System.out.printf(
                        Locale.ROOT,
                        "result: stop latency, %s: median %.0f ms, max %.0f ms over %d runs; last acknowledgement median"
                                + " %.0f ms (target < 1000 ms + one step of %.1f ms)%n",
                        label(e.getKey()),
                        1e3 * median(xs, Stopped::latency),
                        1e3 * xs.stream().mapToDouble(Stopped::latency).max().orElseThrow(),
                        xs.size(),
                        1e3 * median(xs, Stopped::acknowledged),
                        1e3 * median(xs, Stopped::step));
            }
            System.out.printf(
                    Locale.ROOT,
                    "result: evaluation overhead over %d checkpoints: median %.0f ms, max %.0f ms (target < 200 ms)%n",
                    overheads.size(),
                    1e3 * median(overheads, x -> x),
                    1e3 * Collections.max(overheads));
        }
        return 0;
    }

    private static String label(int nodes) {
        return nodes == 1 ? "1 node " : nodes + " nodes";
    }

    /**
     * One run stopped.
     *
     * @param latency seconds from just before the STOP was sent to the last node's process having exited
     * @param acknowledged seconds from the STOP's timestamp to the last node's acknowledgement's
     * @param step a node's wall time per step, median over the epochs after the first
     */
    record Stopped(double latency, double acknowledged, double step) {}

    /** Starts the run's nodes, lets them train, stops them, and times it. */
    private Stopped measure(
            TrainerJvms jvms,
            KafkaSettings kafka,
            KafkaProducer<byte[], byte[]> control,
            KafkaConsumer<byte[], byte[]> reader,
            String run,
            int n)
            throws Exception {
        Path spec = jvms.spec(run, spec(run, n));
        List<TrainerJvms.Node> procs = new ArrayList<>();
        try (CheckpointWatch checkpoints = new CheckpointWatch(kafka, run)) {
            for (int i = 0; i < n; i++) {
                procs.add(jvms.start(spec, kafka.bootstrapServers(), run + "-node-" + i));
            }
            int epochs = 0;
            long deadline = System.nanoTime() + TIMEOUT.toNanos();
            while (epochs < epochsBeforeStop) {
                for (TrainerJvms.Node p : procs) {
                    p.requireHealthy();
                    if (!p.process.isAlive()) {
                        throw new BenchFailedException("trainer node " + p.nodeId
                                + " exited before the STOP; the last lines of its output:\n" + p.tail());
                    }
                }
                if (System.nanoTime() > deadline) {
                    throw new BenchFailedException("run " + run + " did not train " + epochsBeforeStop
                            + " epochs within " + TIMEOUT.toSeconds() + " s; it trained " + epochs);
                }
                for (CheckpointManifest m : checkpoints.poll()) {
                    epochs = Math.max(epochs, m.epoch());
                }
                Thread.sleep(20);
            }
            ControlMessage.Stop stop =
                    new ControlMessage.Stop(run, Messages.newId(), Messages.now(), "operator", "bench", null, "bench");
            long sent = System.nanoTime();
            RecordMetadata written = control.send(new ProducerRecord<>(Topics.control(run), Messages.encode(stop)))
                    .get(10, TimeUnit.SECONDS);
            TrainerJvms.awaitExit(procs, TIMEOUT, () -> {});
            long lastExit = 0;
            for (TrainerJvms.Node p : procs) {
                lastExit = Math.max(lastExit, p.awaitExitedAt());
            }
            return new Stopped(
                    (lastExit - sent) / 1e9,
                    acknowledged(reader, run, stop.id(), written.timestamp(), n),
                    step(reader, run, n));
        } finally {
            procs.forEach(TrainerJvms.Node::kill);
        }
    }

    /** Seconds from the STOP's timestamp to the last acknowledgement's; every node must have acknowledged it. */
    private static double acknowledged(
            KafkaConsumer<byte[], byte[]> reader, String run, String stopId, long stopTimestamp, int n)
            throws BenchFailedException {
        Map<String, Long> acks = new HashMap<>();
        for (ConsumerRecord<byte[], byte[]> r :
                TopicReader.readAll(reader, Topics.control(run), Duration.ofSeconds(30))) {
            try {
                if (Messages.decodeControl(r.value()).orElse(null) instanceof ControlMessage.Ack a
                        && stopId.equals(a.command())) {
                    acks.merge(a.node(), r.timestamp(), Math::min);
                }
            } catch (MalformedMessageException e) {
                // not one of the nodes' acknowledgements
            }
        }
        if (acks.size() != n) {
            throw new BenchFailedException("run " + run + ": " + acks.size() + " of its " + n
                    + " nodes acknowledged the STOP: " + acks.keySet());
        }
        return (Collections.max(acks.values()) - stopTimestamp) / 1e3;
    }

    /** A node's wall time per step (data and sync rounds included), median over the epochs after the first. */
    private static double step(KafkaConsumer<byte[], byte[]> reader, String run, int n) throws IOException {
        List<Double> perStep = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> r :
                TopicReader.readAll(reader, Topics.checkpoints(run), Duration.ofSeconds(30))) {
            if (CheckpointCodec.MANIFEST.equals(CheckpointCodec.typeOf(r))) {
                CheckpointManifest m = CheckpointCodec.manifestFromJson(r.value());
                if (!m.snapshot() && m.epoch() > 1) {
                    // "steps" counts every node's steps, "seconds" is the epoch's wall time
                    perStep.add(m.metrics().get("seconds") * n / m.metrics().get("steps"));
                }
            }
        }
        return perStep.isEmpty() ? Double.NaN : median(perStep, x -> x);
    }

    /** Manifest written → evaluation written, minus the validation compute, once the evaluator has taken up the run. */
    private static List<Double> overheads(KafkaSettings kafka, List<String> runs) {
        List<Double> out = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> reader = new KafkaConsumer<>(kafka.consumer(null))) {
            for (String run : runs) {
                Map<String, Long> written = new HashMap<>();
                for (ConsumerRecord<byte[], byte[]> r :
                        TopicReader.readAll(reader, Topics.checkpoints(run), Duration.ofSeconds(30))) {
                    if (CheckpointCodec.MANIFEST.equals(CheckpointCodec.typeOf(r))) {
                        try {
                            written.put(
                                    CheckpointCodec.manifestFromJson(r.value()).checkpointId(), r.timestamp());
                        } catch (IOException e) {
                            // an unreadable manifest has no evaluation to time
                        }
                    }
                }
                long firstEvaluation = -1;
                for (ConsumerRecord<byte[], byte[]> r :
                        TopicReader.readAll(reader, Topics.evaluations(run), Duration.ofSeconds(30))) {
                    try {
                        EvaluationRecord e =
                                Messages.decodeEvaluation(r.value()).orElse(null);
                        Long at = e == null ? null : written.get(e.checkpointId());
                        if (at == null || !e.evaluated()) {
                            continue;
                        }
                        if (firstEvaluation < 0) {
                            // a new run: discovering its topic (metadata refresh, rebalance), loading its
                            // validation set and history are one-offs; checkpoints written before they were
                            // done waited for them
                            firstEvaluation = r.timestamp();
                            continue;
                        }
                        if (at < firstEvaluation) {
                            continue;
                        }
                        out.add((r.timestamp() - at) / 1e3 - e.evaluationSeconds());
                    } catch (MalformedMessageException ex) {
                        // not ours
                    }
                }
            }
        }
        if (out.isEmpty()) {
            out.add(Double.NaN);
        }
        return out;
    }

    private static <T> double median(List<T> xs, ToDoubleFunction<T> figure) {
        return NodesBench.median(xs, figure);
    }

    private void check(boolean ok, String message) {
        if (!ok) {
            throw new ParameterException(command.commandLine(), message);
        }
    }
}
