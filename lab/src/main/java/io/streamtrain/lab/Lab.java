package io.streamtrain.lab;

import io.streamtrain.core.checkpoint.Checkpoint;
import io.streamtrain.core.checkpoint.CheckpointChoice;
import io.streamtrain.core.checkpoint.RunCheckpoints;
import io.streamtrain.core.kafka.KafkaSettings;
import io.streamtrain.core.kafka.Preflight;
import io.streamtrain.core.spec.CheckpointRef;
import io.streamtrain.core.spec.RunSpecParser;
import io.streamtrain.evaluator.TopicScore;
import io.streamtrain.lab.demo.LiveView;
import io.streamtrain.lab.report.RunReport;
import io.streamtrain.testkit.EmbeddedKafka;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.KafkaConsumer;

/**
 * An embedded broker, the data sets loaded onto it, and runs trained on them one after
 * another, each as {@code streamtrain local} trains a run (trainer JVMs, the evaluator, a
 * report), then scored on other topics: what the reference experiments are made of.
 */
public final class Lab {
    private static final Duration READ_TIMEOUT = Duration.ofSeconds(60);

    private final TrainerJvms jvms;
    private final EmbeddedKafka broker;
    private final Path reportDir;
    private final PrintStream out;

    /** Something to do in a lab; returns the exit code. */
    public interface Work {
        int run(Lab lab) throws Exception;
    }

    private Lab(TrainerJvms jvms, EmbeddedKafka broker, Path reportDir, PrintStream out) {
        this.jvms = jvms;
        this.broker = broker;
        this.reportDir = reportDir;
        this.out = out;
    }

    /**
     * Starts an embedded broker, does the work, and removes the broker, its data and any
     * trainer JVM still running, however the work ends (Ctrl-C too).
     *
     * @param name the command, for messages: a failed node is reported as {@code name: why}, exit 1
     * @param torchThreads PyTorch threads of each trainer node (the runs train one at a time)
     * @param reportDir each run's report goes to {@code reportDir/<run>}
     */
    public static int run(String name, boolean verbose, int torchThreads, Path reportDir, PrintStream out, Work work)
            throws Exception {
        return TrainerJvms.run(name, verbose, jvms -> {
            jvms.torchThreads(torchThreads);
            out.println(name + ": starting an embedded Kafka broker ...");
            try (EmbeddedKafka broker = EmbeddedKafka.start()) {
                jvms.broker(broker);
                return work.run(new Lab(jvms, broker, reportDir, out));
            }
        });
    }

    public String bootstrapServers() {
        return broker.bootstrapServers();
    }

    /**
     * Runs {@code streamtrain ingest} with these arguments against the broker.
     *
     * @return what it printed
     * @throws IllegalStateException with its output when it fails
     */
    public String ingest(List<String> args) {
        List<String> all = new ArrayList<>(List.of("ingest"));
        all.addAll(args);
        all.addAll(List.of("--progress", "none", "--bootstrap-servers", broker.bootstrapServers()));
        ProductRun result = ProductRun.of(all.toArray(String[]::new));
        if (!result.succeeded()) {
            throw new IllegalStateException("streamtrain " + String.join(" ", all) + " failed (exit "
                    + result.exitCode() + "):\n" + result.printed());
        }
        return result.printed();
    }

    /**
     * Trains the run {@code specYaml} describes on one trainer node with the evaluator, until
     * it stops or has trained all its epochs, and writes its report.
     *
     * @param samplesPerEpoch for the progress bar; 0 when not known
     */
    public RunReport train(String specYaml, long samplesPerEpoch) throws Exception {
        return train(specYaml, samplesPerEpoch, 1);
    }

    /**
     * Trains the run {@code specYaml} describes on {@code nodes} trainer nodes (child JVMs, each
     * with the lab's PyTorch threads) with the evaluator, until it stops or has trained all its
     * epochs, and writes its report.
     */
    public RunReport train(String specYaml, long samplesPerEpoch, int nodes) throws Exception {
        var spec = RunSpecParser.parse(specYaml);
        int partitions;
        try (Admin admin = Preflight.admin(KafkaSettings.of(broker.bootstrapServers()))) {
            partitions = Preflight.requireTopics(admin, List.of(spec.data().train()), "data.train of run " + spec.run())
                    .get(spec.data().train())
                    .partitions()
                    .size();
        }
        LiveView view = new LiveView(out, false, 10);
        return new WatchedRun(
                        spec.run(),
                        specYaml,
                        spec.maxEpochs(),
                        nodes,
                        partitions,
                        samplesPerEpoch,
                        reportDir,
                        view,
                        out)
                .run(jvms, KafkaSettings.of(broker.bootstrapServers()), System.nanoTime());
    }

    /**
     * Scores a checkpoint on a topic.
     *
     * @param checkpoint as {@code init.from} names one: {@code run:NAME@best}, {@code run:NAME@E}, ...
     */
    public TopicScore score(String checkpoint, String topic) throws Exception {
        KafkaSettings kafka = KafkaSettings.of(broker.bootstrapServers());
        try (Admin admin = Preflight.admin(kafka);
                KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(kafka.consumer(null))) {
            RunCheckpoints.Found found = RunCheckpoints.find(
                    admin,
                    consumer,
                    broker.bootstrapServers(),
                    CheckpointRef.parse(checkpoint),
                    READ_TIMEOUT,
                    io.streamtrain.core.checkpoint.PayloadSources.fromEnvironment(),
                    kafka.signing());
            return TopicScore.of(found.checkpoint(), consumer, topic, READ_TIMEOUT);
        }
    }

    /**
     * Scores the run's checkpoint of each of these epochs on a topic, as {@link #score} would one
     * by one, reading the checkpoint topic and the scored one once: a run's every epoch on
     * another domain's text.
     *
     * @return the scores in the order of {@code epochs}
     */
    public List<TopicScore> scoreEpochs(String run, List<Integer> epochs, String topic) throws Exception {
        KafkaSettings kafka = KafkaSettings.of(broker.bootstrapServers());
        try (Admin admin = Preflight.admin(kafka);
                KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(kafka.consumer(null))) {
            RunCheckpoints.requireRun(admin, broker.bootstrapServers(), run);
            RunCheckpoints.Listing listing = RunCheckpoints.list(consumer, run, READ_TIMEOUT, m -> {}, kafka.signing());
            List<String> ids = epochs.stream()
                    .map(e -> CheckpointChoice.epoch(run, listing.manifests(), e)
                            .manifest()
                            .checkpointId())
                    .toList();
            Map<String, Checkpoint> assembled = RunCheckpoints.assemble(
                    consumer,
                    listing,
                    ids,
                    READ_TIMEOUT,
                    io.streamtrain.core.checkpoint.PayloadSources.fromEnvironment(),
                    kafka.signing());
            return TopicScore.of(ids.stream().map(assembled::get).toList(), consumer, topic, READ_TIMEOUT);
        }
    }
}
