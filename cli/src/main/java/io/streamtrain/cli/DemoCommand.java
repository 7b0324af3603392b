package io.streamtrain.cli;

import io.streamtrain.cli.broker.EmbeddedKafka;
import io.streamtrain.cli.data.SyntheticClusters;
import io.streamtrain.core.checkpoint.CheckpointManifest;
import io.streamtrain.core.kafka.KafkaSettings;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.core.spec.RunSpecParser;
import io.streamtrain.core.topics.Topics;
import io.streamtrain.trainer.TrainerNode;
import io.streamtrain.trainer.TrainerOptions;
import io.streamtrain.trainer.TrainingListener;
import java.io.PrintStream;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code streamtrain demo}: the whole path on one machine, nothing to set up. Starts an
 * embedded broker, writes a built-in synthetic classification task into a train topic,
 * runs a trainer node on it and prints each epoch's checkpoint.
 */
@Command(name = "demo", mixinStandardHelpOptions = true, sortOptions = false,
        description = {
            "Train on an embedded Kafka broker, start to finish.",
            "",
            "Starts a Kafka broker (KRaft) in a temp dir, loads a built-in synthetic task (Gaussian clusters, "
                    + "64 features, 10 classes) into a 4-partition train topic, trains one trainer node on it with L1, L2, "
                    + "dropout and weight decay, and prints every epoch's checkpoint."})
public final class DemoCommand implements Callable<Integer> {
    @Option(names = "--epochs", defaultValue = "5", description = "Epochs to train (default: ${DEFAULT-VALUE}).")
    int epochs;

    @Option(names = "--records", defaultValue = "400", description = "Train records of 32 samples each (default: ${DEFAULT-VALUE}).")
    int records;

    @Option(names = "--verbose", description = "Show the trainer's and the broker's log lines too.")
    boolean verbose;

    static final String RUN = "demo";
    static final String TRAIN = "demo.train";
    static final int PARTITIONS = 4;

    static RunSpec spec(int epochs) {
        return RunSpecParser.parse("""
                run: %s
                data: { train: %s }
                model: { type: mlp, inputs: 64, hidden: [128, 64], classes: 10, dropout: 0.2 }
                init: { seed: 42 }
                batchSize: 64
                maxEpochs: %d
                optimizer: { type: adamw, learningRate: 0.002 }
                regularization: { l1: 0.00001, l2: 0.0001, weightDecay: 0.01, exclude: [bias], clipGradNorm: 1.0 }
                """.formatted(RUN, TRAIN, epochs));
    }

    @Override
    public Integer call() throws Exception {
        PrintStream out = System.out;
        if (!verbose) {
            // the demo prints its own summary lines; the logs stay for warnings
            Logs.setLevel("io.streamtrain", "WARN");
            Logs.setLevel("streamtrain", "WARN");
            Logs.setLevel("org.apache.kafka", "ERROR");
            Logs.setLevel("kafka", "ERROR");
        }
        long started = System.nanoTime();
        out.println("streamtrain demo: starting an embedded Kafka broker ...");
        try (EmbeddedKafka broker = EmbeddedKafka.start()) {
            KafkaSettings kafka = KafkaSettings.of(broker.bootstrapServers());
            out.println("  broker at " + broker.bootstrapServers() + ", data in " + broker.dataDir());
            SyntheticClusters task = new SyntheticClusters(64, 10, 1.2, 0.05, 7);
            try (Admin admin = Admin.create(kafka.admin())) {
                admin.createTopics(List.of(new NewTopic(TRAIN, PARTITIONS, (short) 1))).all().get(30, TimeUnit.SECONDS);
            }
            try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(kafka.producer())) {
                // explicit partitions (not the sticky partitioner) keep the demo reproducible run to run
                List<byte[]> values = task.records(records, 32, 11);
                for (int i = 0; i < values.size(); i++) {
                    producer.send(new ProducerRecord<>(TRAIN, i % PARTITIONS, null, values.get(i)));
                }
            }
            out.printf("  wrote %d records (%d samples) to %s%n", records, records * 32, TRAIN);
            RunSpec spec = spec(epochs);
            TrainerNode node = new TrainerNode(spec, kafka, TrainerOptions.defaults("demo-node-0").withLogEverySteps(0));
            node.addListener(new TrainingListener() {
                @Override
                public void onCheckpoint(CheckpointManifest m) {
                    var x = m.metrics();
                    out.printf(Locale.ROOT, "  epoch %d/%d  train_loss %.4f  data_loss %.4f  l1 %.4f  l2 %.4f  accuracy %.3f  %.0f samples/s  -> %s%n",
                            m.epoch(), spec.maxEpochs(), x.get("train_loss"), x.get("data_loss"), x.get("l1"), x.get("l2"),
                            x.get("train_accuracy"), x.get("samples_per_second"), m.checkpointId());
                }
            });
            TrainerNode.Outcome outcome = node.run();
            out.printf(Locale.ROOT, "streamtrain demo: %s after %d epochs in %.1f s; checkpoints are on %s%n",
                    outcome == TrainerNode.Outcome.FINISHED ? "finished" : "stopped", epochs,
                    (System.nanoTime() - started) / 1e9, Topics.checkpoints(RUN));
        }
        return 0;
    }
}
