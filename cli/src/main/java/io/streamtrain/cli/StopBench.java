package io.streamtrain.cli;

import io.streamtrain.cli.broker.EmbeddedKafka;
import io.streamtrain.cli.data.SyntheticClusters;
import io.streamtrain.core.checkpoint.CheckpointCodec;
import io.streamtrain.core.checkpoint.CheckpointManifest;
import io.streamtrain.core.control.ControlMessage;
import io.streamtrain.core.control.Messages;
import io.streamtrain.core.evaluation.EvaluationRecord;
import io.streamtrain.core.kafka.KafkaSettings;
import io.streamtrain.core.kafka.TopicReader;
import io.streamtrain.core.spec.RunSpecParser;
import io.streamtrain.core.topics.Topics;
import io.streamtrain.evaluator.EvaluatorService;
import io.streamtrain.trainer.TrainerNode;
import io.streamtrain.trainer.TrainerOptions;
import io.streamtrain.trainer.TrainingListener;
import io.streamtrain.trainer.model.StepReport;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code streamtrain bench stop}: how fast the early-stop loop is. Stop latency is the
 * time from a STOP being sent to the trainer's {@code run()} returning (clients closed,
 * group left); evaluation overhead is the time from a checkpoint's manifest being written
 * to its evaluation being written, minus the validation compute itself.
 */
@Command(name = "stop", mixinStandardHelpOptions = true, sortOptions = false,
        description = {
            "Stop latency and evaluation overhead of the early-stop loop, on an embedded broker.",
            "",
            "Targets: stop latency under 1 s plus one training step; evaluation overhead under 200 ms."})
public final class StopBench implements Callable<Integer> {
    @Option(names = "--rounds", defaultValue = "5", description = "Runs to stop (default: ${DEFAULT-VALUE}).")
    int rounds;

    @Option(names = "--epochs-before-stop", defaultValue = "8", description = "Epochs each run trains before the STOP (default: ${DEFAULT-VALUE}).")
    int epochsBeforeStop;

    private static String spec(String run) {
        return """
                run: %s
                data: { train: stopbench.train, validation: stopbench.validation }
                model: { type: mlp, inputs: 64, hidden: [128, 64], classes: 10, dropout: 0.1 }
                batchSize: 64
                maxEpochs: 100000
                optimizer: { type: adamw, learningRate: 0.001 }
                regularization: { l2: 0.0001, weightDecay: 0.01 }
                earlyStopping: { enabled: false }
                """.formatted(run);
    }

    @Override
    public Integer call() throws Exception {
        Logs.quiet();
        System.out.printf(Locale.ROOT, "bench stop: %d runs, 1 trainer node each, STOP after %d epochs, %d cores%n",
                rounds, epochsBeforeStop, Runtime.getRuntime().availableProcessors());
        try (EmbeddedKafka broker = EmbeddedKafka.start()) {
            KafkaSettings kafka = KafkaSettings.of(broker.bootstrapServers());
            SyntheticClusters task = new SyntheticClusters(64, 10, 1.2, 0.05, 3);
            broker.createTopic("stopbench.train", 4);
            broker.createTopic("stopbench.validation", 1);
            broker.produceRoundRobin("stopbench.train", 4, task.records(200, 32, 1));
            broker.produceRoundRobin("stopbench.validation", 1, task.records(40, 32, 2));
            EvaluatorService evaluator = new EvaluatorService(kafka, List.of(), "bench");
            Thread evaluatorThread = new Thread(evaluator::run, "evaluator");
            evaluatorThread.start();
            List<Double> latencies = new ArrayList<>();
            List<Double> steps = new ArrayList<>();
            List<String> runs = new ArrayList<>();
            try (KafkaProducer<byte[], byte[]> control = new KafkaProducer<>(kafka.producer())) {
                for (int round = 1; round <= rounds; round++) {
                    String run = "stopbench-" + round;
                    runs.add(run);
                    CountDownLatch trained = new CountDownLatch(epochsBeforeStop);
                    double[] stepSeconds = new double[2];
                    TrainerNode node = new TrainerNode(RunSpecParser.parse(spec(run)), kafka, TrainerOptions.defaults("bench-0").withLogEverySteps(0));
                    node.addListener(new TrainingListener() {
                        @Override
                        public void onStep(int epoch, StepReport r) {
                            stepSeconds[0] += r.seconds();
                            stepSeconds[1]++;
                        }

                        @Override
                        public void onCheckpoint(CheckpointManifest m) {
                            trained.countDown();
                        }
                    });
                    long[] returned = new long[1];
                    Thread t = new Thread(() -> {
                        try {
                            node.run();
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                        returned[0] = System.nanoTime();
                    }, "trainer-" + run);
                    t.start();
                    if (!trained.await(120, TimeUnit.SECONDS)) {
                        throw new IllegalStateException(run + " did not train " + epochsBeforeStop + " epochs within 120 s");
                    }
                    ControlMessage.Stop stop = new ControlMessage.Stop(run, Messages.newId(), Messages.now(), "operator", "bench", null, "bench");
                    long sent = System.nanoTime();
                    control.send(new ProducerRecord<>(Topics.control(run), Messages.encode(stop))).get(10, TimeUnit.SECONDS);
                    t.join(60_000);
                    double latency = (returned[0] - sent) / 1e9;
                    double step = stepSeconds[0] / stepSeconds[1];
                    latencies.add(latency);
                    steps.add(step);
                    System.out.printf(Locale.ROOT, "  run %d: stop latency %6.0f ms (mean step %.1f ms)%n", round, latency * 1e3, step * 1e3);
                }
            }
            // let the evaluator catch up with the last checkpoints before measuring it
            Thread.sleep(3_000);
            evaluator.close();
            evaluatorThread.join(30_000);
            List<Double> overheads = overheads(kafka, runs);
            System.out.printf(Locale.ROOT, "result: stop latency median %.0f ms, max %.0f ms (target < 1000 ms + one step of %.1f ms)%n",
                    1e3 * median(latencies), 1e3 * Collections.max(latencies), 1e3 * median(steps));
            System.out.printf(Locale.ROOT, "result: evaluation overhead over %d checkpoints: median %.0f ms, max %.0f ms (target < 200 ms)%n",
                    overheads.size(), 1e3 * median(overheads), 1e3 * Collections.max(overheads));
        }
        return 0;
    }

    /** Manifest written → evaluation written, minus the validation compute, once the evaluator has taken up the run. */
    private static List<Double> overheads(KafkaSettings kafka, List<String> runs) {
        List<Double> out = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> reader = new KafkaConsumer<>(kafka.consumer(null))) {
            for (String run : runs) {
                Map<String, Long> written = new HashMap<>();
                for (ConsumerRecord<byte[], byte[]> r : TopicReader.readAll(reader, Topics.checkpoints(run), Duration.ofSeconds(30))) {
                    if (CheckpointCodec.MANIFEST.equals(CheckpointCodec.typeOf(r))) {
                        try {
                            written.put(CheckpointCodec.manifestFromJson(r.value()).checkpointId(), r.timestamp());
                        } catch (java.io.IOException e) {
                            // an unreadable manifest has no evaluation to time
                        }
                    }
                }
                long firstEvaluation = -1;
                for (ConsumerRecord<byte[], byte[]> r : TopicReader.readAll(reader, Topics.evaluations(run), Duration.ofSeconds(30))) {
                    try {
                        EvaluationRecord e = Messages.decodeEvaluation(r.value()).orElse(null);
                        Long at = e == null ? null : written.get(e.checkpointId());
                        if (at == null || !e.evaluated()) {
                            continue;
                        }
                        if (firstEvaluation < 0) {
                            // a new run: discovering its topic (metadata refresh, rebalance), loading its validation set
                            // and history are one-offs; checkpoints written before they were done waited for them
                            firstEvaluation = r.timestamp();
                            continue;
                        }
                        if (at < firstEvaluation) {
                            continue;
                        }
                        out.add((r.timestamp() - at) / 1e3 - e.evaluationSeconds());
                    } catch (io.streamtrain.core.control.MalformedMessageException ex) {
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

    private static double median(List<Double> xs) {
        List<Double> s = new ArrayList<>(xs);
        Collections.sort(s);
        return s.get(s.size() / 2);
    }
}
