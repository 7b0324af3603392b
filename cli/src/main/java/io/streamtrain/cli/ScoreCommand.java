package io.streamtrain.cli;

import com.fasterxml.jackson.databind.json.JsonMapper;
import io.streamtrain.core.checkpoint.PayloadSources;
import io.streamtrain.core.checkpoint.RunCheckpoints;
import io.streamtrain.core.kafka.KafkaOptions;
import io.streamtrain.core.kafka.KafkaSettings;
import io.streamtrain.core.kafka.Preflight;
import io.streamtrain.core.kafka.StartupException;
import io.streamtrain.core.spec.CheckpointRef;
import io.streamtrain.evaluator.TopicScore;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code streamtrain score}: a checkpoint of a run scored on other topics than its
 * validation topic — a test set the run never saw, or another domain's data.
 */
@Command(
        name = "score",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = {
            "Score a checkpoint of a run on one or more topics of batches, as the evaluator scores it on the run's validation "
                    + "topic: evaluation mode (no dropout), data loss only (no regularization terms), every record of the topic "
                    + "from its beginning to its end now. Prints the mean loss per sample (per token for a causal-lm), accuracy "
                    + "(share of next bytes predicted right for a causal-lm) and perplexity (exp of the loss).",
            "",
            "The checkpoint is named as init.from names one: run:NAME (its latest epoch checkpoint), run:NAME@best (the best "
                    + "by its evaluations), run:NAME@promoted (a continuous run's promoted model), run:NAME@E (epoch E). "
                    + "Its payload is verified (SHA-256) before it is scored.",
            "",
            "Examples:",
            "  streamtrain score run:fashion-mlp-01@best --topic fashion.test",
            "  streamtrain score run:brown-gov-tuned@best --topic brown.gov.validation --topic brown.other.validation --json",
            "",
            "Exit codes: 0 scored; 2 no such run, checkpoint or topic, or a topic the model cannot read; 1 Kafka unreachable."
        })
public final class ScoreCommand implements Callable<Integer> {
    private static final Duration READ_TIMEOUT = Duration.ofSeconds(30);

    @Parameters(
            index = "0",
            paramLabel = "CHECKPOINT",
            description = "run:NAME, run:NAME@best, run:NAME@promoted or run:NAME@E.")
    String checkpoint;

    @Option(names = "--topic", required = true, paramLabel = "TOPIC", description = "A topic to score on (repeatable).")
    List<String> topics;

    @Option(
            names = "--json",
            description = "Print one JSON object: the checkpoint and, per topic, loss, accuracy, perplexity, samples.")
    boolean json;

    @Mixin
    CheckpointStores stores = new CheckpointStores();

    @Mixin
    KafkaOptions kafkaOptions;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        CheckpointRef ref;
        try {
            ref = CheckpointRef.parse(checkpoint);
        } catch (IllegalArgumentException e) {
            err.println("streamtrain score: " + e.getMessage());
            return StartupException.BAD_CONFIGURATION;
        }
        Optional<PayloadSources> sources = stores.sources(err, "streamtrain score: ");
        if (sources.isEmpty()) {
            return StartupException.BAD_CONFIGURATION;
        }
        Logs.quiet();
        KafkaSettings kafka = kafkaOptions.settings();
        try (Admin admin = Preflight.admin(kafka);
                KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(kafka.consumer(null))) {
            Preflight.requireReachable(admin, kafka.bootstrapServers());
            Preflight.requireTopics(admin, topics, "--topic");
            RunCheckpoints.Found found = RunCheckpoints.find(
                    admin, consumer, kafka.bootstrapServers(), ref, READ_TIMEOUT, sources.get(), kafka.signing());
            var manifest = found.checkpoint().manifest();
            List<TopicScore> scores = new ArrayList<>();
            for (String topic : topics) {
                try {
                    scores.add(TopicScore.of(found.checkpoint(), consumer, topic, READ_TIMEOUT));
                } catch (IllegalArgumentException e) {
                    err.println("streamtrain score: " + e.getMessage());
                    return StartupException.BAD_CONFIGURATION;
                }
            }
            if (json) {
                Map<String, Object> doc = new LinkedHashMap<>();
                doc.put("run", manifest.run());
                doc.put("checkpointId", manifest.checkpointId());
                doc.put("epoch", manifest.epoch());
                doc.put("step", manifest.step());
                doc.put("scores", scores); // each as its record: topic, loss, accuracy, perplexity, samples, rejected
                out.println(JsonMapper.builder().build().writeValueAsString(doc));
            } else {
                out.printf(
                        Locale.ROOT,
                        "checkpoint %s of run %s (%s, epoch %d, step %d)%n",
                        // the manifest's words, written by whoever may write the checkpoint topic ("why" is
                        // escaped where it is made)
                        io.streamtrain.core.logging.Logs.escape(manifest.checkpointId()),
                        io.streamtrain.core.logging.Logs.escape(manifest.run()),
                        found.why(),
                        manifest.epoch(),
                        manifest.step());
                for (TopicScore s : scores) {
                    out.printf(
                            Locale.ROOT,
                            "  %-32s loss %.4f%s  %d samples%s%n",
                            s.topic(),
                            s.loss(),
                            Double.isNaN(s.accuracy())
                                    ? ""
                                    : String.format(
                                            Locale.ROOT,
                                            "  accuracy %.4f  perplexity %.3f",
                                            s.accuracy(),
                                            s.perplexity()),
                            s.samples(),
                            s.rejected() == 0 ? "" : " (" + s.rejected() + " records not readable, left out)");
                }
            }
            return 0;
        } catch (StartupException e) {
            err.println("streamtrain score: " + e.getMessage());
            return e.exitCode();
        } catch (org.apache.kafka.common.errors.TimeoutException e) {
            err.println("streamtrain score: " + e.getMessage() + ". Is the broker at " + kafka.bootstrapServers()
                    + " overloaded?");
            return StartupException.RETRYABLE;
        }
    }
}
