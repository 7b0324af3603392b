package io.streamtrain.cli;

import io.streamtrain.cli.broker.EmbeddedKafka;
import io.streamtrain.cli.data.SyntheticClusters;
import io.streamtrain.core.checkpoint.CheckpointManifest;
import io.streamtrain.core.evaluation.EvaluationRecord;
import io.streamtrain.core.kafka.KafkaSettings;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.core.spec.RunSpecParser;
import io.streamtrain.evaluator.EvaluatorService;
import io.streamtrain.trainer.TrainerNode;
import io.streamtrain.trainer.TrainerOptions;
import io.streamtrain.trainer.TrainingListener;
import java.io.PrintStream;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code streamtrain demo}: the whole loop on one machine, nothing to set up. Starts an
 * embedded broker, writes a built-in synthetic classification task into train and
 * validation topics, runs a trainer node and the evaluator on them, and prints each
 * epoch's checkpoint and evaluation until the evaluator stops the run.
 */
@Command(name = "demo", mixinStandardHelpOptions = true, sortOptions = false,
        description = {
            "Train on an embedded Kafka broker, start to finish, with early stopping.",
            "",
            "Starts a Kafka broker (KRaft) in a temp dir, loads a built-in synthetic task (Gaussian clusters, "
                    + "64 features, 10 classes, 10 % label noise, so a wide model overfits) into a 4-partition train topic "
                    + "and a validation topic, then runs one trainer node (L1, L2, dropout, weight decay) and the evaluator. "
                    + "Prints every epoch's checkpoint and evaluation; the evaluator stops the run when validation loss has "
                    + "not improved for 3 epochs. The broker and its data are removed at the end."})
public final class DemoCommand implements Callable<Integer> {
    @Option(names = "--epochs", defaultValue = "40", description = "Most epochs to train (default: ${DEFAULT-VALUE}).")
    int epochs;

    @Option(names = "--records", defaultValue = "100", description = "Train records of 32 samples each (default: ${DEFAULT-VALUE}).")
    int records;

    @Option(names = "--no-early-stop", description = "Evaluate every epoch but never stop early.")
    boolean noEarlyStop;

    @Option(names = "--verbose", description = "Show the services' and the broker's log lines too.")
    boolean verbose;

    static final String RUN = "demo";
    static final String TRAIN = "demo.train";
    static final String VALIDATION = "demo.validation";
    static final int PARTITIONS = 4;

    static RunSpec spec(int epochs, boolean earlyStop) {
        return RunSpecParser.parse("""
                run: %s
                data: { train: %s, validation: %s }
                model: { type: mlp, inputs: 64, hidden: [256, 128], classes: 10, dropout: 0.1 }
                init: { seed: 42 }
                batchSize: 64
                maxEpochs: %d
                optimizer: { type: adamw, learningRate: 0.0005 }
                regularization: { l1: 0.00001, l2: 0.0001, weightDecay: 0.01, exclude: [bias], clipGradNorm: 1.0 }
                earlyStopping: { monitor: val_loss, patience: 3, enabled: %s }
                """.formatted(RUN, TRAIN, VALIDATION, epochs, earlyStop));
    }

    @Override
    public Integer call() throws Exception {
        PrintStream out = System.out;
        if (!verbose) {
            // the demo prints its own lines; the logs stay for warnings
            Logs.quiet();
        }
        long started = System.nanoTime();
        out.println("streamtrain demo: starting an embedded Kafka broker ...");
        try (EmbeddedKafka broker = EmbeddedKafka.start()) {
            KafkaSettings kafka = KafkaSettings.of(broker.bootstrapServers());
            out.println("  broker at " + broker.bootstrapServers() + ", data in " + broker.dataDir());
            SyntheticClusters task = new SyntheticClusters(64, 10, 1.5, 0.1, 7);
            broker.createTopic(TRAIN, PARTITIONS);
            broker.createTopic(VALIDATION, 1);
            broker.produceRoundRobin(TRAIN, PARTITIONS, task.records(records, 32, 11));
            broker.produceRoundRobin(VALIDATION, 1, task.records(50, 32, 12));
            out.printf("  wrote %d records (%d samples) to %s and 50 records (1600 samples) to %s%n", records, records * 32, TRAIN, VALIDATION);
            RunSpec spec = spec(epochs, !noEarlyStop);

            EvaluatorService evaluator = new EvaluatorService(kafka, List.of(RUN), "demo-evaluator");
            AtomicInteger evaluated = new AtomicInteger();
            AtomicReference<EvaluationRecord> last = new AtomicReference<>();
            evaluator.addListener(e -> {
                evaluated.set(e.epoch());
                last.set(e);
            });
            evaluator.addListener(e -> print(out, e.evaluated()
                    ? String.format(Locale.ROOT, "  epoch %2d  evaluated   val_loss %.4f  val_accuracy %.3f  best %.4f (epoch %d)  patience left %d%s",
                            e.epoch(), e.metrics().get("val_loss"), e.metrics().get("val_accuracy"), e.best().value(), e.best().epoch(),
                            e.patienceLeft(), EvaluationRecord.STOP.equals(e.decision()) ? "  -> STOP: " + e.explanation() : "")
                    : "  epoch " + e.epoch() + "  rejected: " + e.explanation()));
            Thread evaluatorThread = new Thread(evaluator::run, "demo-evaluator");
            evaluatorThread.start();

            TrainerNode node = new TrainerNode(spec, kafka, TrainerOptions.defaults("demo-node-0").withLogEverySteps(0));
            int[] trained = new int[1];
            node.addListener(new TrainingListener() {
                @Override
                public void onCheckpoint(CheckpointManifest m) {
                    var x = m.metrics();
                    trained[0] = m.epoch();
                    print(out, String.format(Locale.ROOT, "  epoch %2d  trained     train_loss %.4f (data %.4f, l1 %.4f, l2 %.4f)  accuracy %.3f  %.0f samples/s",
                            m.epoch(), x.get("train_loss"), x.get("data_loss"), x.get("l1"), x.get("l2"),
                            x.get("train_accuracy"), x.get("samples_per_second")));
                }
            });
            TrainerNode.Outcome outcome;
            try {
                outcome = node.run();
                // a run that trained all its epochs: show the last evaluation too
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
                while (outcome == TrainerNode.Outcome.FINISHED && evaluated.get() < trained[0] && System.nanoTime() < deadline) {
                    Thread.sleep(50);
                }
            } finally {
                evaluator.close();
                evaluatorThread.join(30_000);
            }
            EvaluationRecord e = last.get();
            out.printf(Locale.ROOT, "streamtrain demo: %s after %d epochs in %.1f s%s%n",
                    outcome == TrainerNode.Outcome.FINISHED ? "finished" : "stopped early", trained[0], (System.nanoTime() - started) / 1e9,
                    e == null || e.best() == null ? "" : String.format(Locale.ROOT, "; the run's result is its best checkpoint %s (epoch %d, val_loss %.4f)",
                            e.best().checkpointId(), e.best().epoch(), e.best().value()));
        }
        return 0;
    }

    private static synchronized void print(PrintStream out, String line) {
        out.println(line);
    }
}
