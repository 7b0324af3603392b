package io.streamtrain.cli.export;

import io.streamtrain.cli.Logs;
import io.streamtrain.core.checkpoint.Checkpoint;
import io.streamtrain.core.checkpoint.CheckpointAssembler;
import io.streamtrain.core.checkpoint.CheckpointCodec;
import io.streamtrain.core.checkpoint.CheckpointManifest;
import io.streamtrain.core.checkpoint.CheckpointRejectedException;
import io.streamtrain.core.control.ControlMessage;
import io.streamtrain.core.control.MalformedMessageException;
import io.streamtrain.core.control.Messages;
import io.streamtrain.core.evaluation.BestCheckpoint;
import io.streamtrain.core.evaluation.EvaluationRecord;
import io.streamtrain.core.kafka.KafkaSettings;
import io.streamtrain.core.kafka.Preflight;
import io.streamtrain.core.kafka.StartupException;
import io.streamtrain.core.kafka.TopicReader;
import io.streamtrain.core.topics.Topics;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code streamtrain export}: one checkpoint of a run as a plain safetensors file, with
 * its manifest beside it. The payload is rebuilt and verified (size, SHA-256, parameter
 * list) by the same {@link CheckpointAssembler} the trainers and the evaluator use.
 */
@Command(name = "export", mixinStandardHelpOptions = true, sortOptions = false,
        description = {
            "Write a checkpoint of a run as a .safetensors file, and its manifest as JSON beside it.",
            "",
            "Reads streamtrain.<run>.checkpoints (payload chunks, or the claim-check file the manifest names), verifies the "
                    + "payload's size and SHA-256, and writes the model parameters under their DJL names (e.g. "
                    + "01Linear_weight [out, in], 01Linear_bias), float32, metadata format=pt: "
                    + "safetensors.torch.load_file and safetensors.numpy.load_file read it. --with-optimizer keeps the whole "
                    + "payload (with the optimizer.<slot>.<parameter> and anchor.<parameter> tensors it holds). The manifest goes to the output's "
                    + "name with .json (model.safetensors -> model.json), with an \"exported\" section: the file's SHA-256, "
                    + "size and contents. Existing files are replaced.",
            "",
            "--best takes the best checkpoint of the latest evaluation (the evaluator's early-stopping result), or the one "
                    + "the run's STOP names.",
            "",
            "Examples:",
            "  streamtrain export --run fashion-mlp-01 --best -o model.safetensors",
            "  streamtrain export --run fashion-mlp-01 --epoch 3 -o e3.safetensors",
            "  # in Python: safetensors.torch.load_file(\"model.safetensors\")",
            "",
            "Exit codes: 0 written; 2 no such run, no evaluation yet (--best), no such epoch or checkpoint; "
                    + "1 Kafka unreachable, or a checkpoint that does not verify."})
public final class ExportCommand implements Callable<Integer> {
    private static final Duration READ_TIMEOUT = Duration.ofSeconds(30);

    @Option(names = "--run", required = true, paramLabel = "RUN", description = "The run id.")
    String run;

    @ArgGroup(exclusive = true, multiplicity = "1")
    Which which;

    /** Exactly one way of naming the checkpoint. */
    static final class Which {
        @Option(names = "--best", required = true, description = "The run's best checkpoint, by its evaluations.")
        boolean best;

        @Option(names = "--epoch", required = true, paramLabel = "E", description = "The checkpoint that ended epoch E.")
        Integer epoch;

        @Option(names = "--checkpoint", required = true, paramLabel = "ID",
                description = "The checkpoint with this id (a snapshot too; `streamtrain ctl status` lists them).")
        String checkpointId;
    }

    @Option(names = {"-o", "--output"}, required = true, paramLabel = "FILE", description = "The .safetensors file to write.")
    Path output;

    @Option(names = "--with-optimizer",
            description = "Write every tensor of the checkpoint payload (the optimizer.* and anchor.* ones it holds too), not only the model parameters.")
    boolean withOptimizer;

    @Option(names = "--bootstrap-servers", paramLabel = "HOST:PORT",
            description = "Kafka bootstrap servers (default: $STREAMTRAIN_BOOTSTRAP_SERVERS, else localhost:9092).")
    String bootstrapServers;

    @Override
    public Integer call() {
        PrintStream out = System.out;
        PrintStream err = System.err;
        // this command prints its own result; Kafka's clients keep to errors
        Logs.quiet();
        KafkaSettings kafka = KafkaSettings.fromEnvironment(System.getenv(), bootstrapServers);
        try {
            requireRun(kafka);
            try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(kafka.consumer(null))) {
                String topic = Topics.checkpoints(run);
                Map<String, byte[]> manifestRecords = new LinkedHashMap<>();
                List<CheckpointManifest> manifests = new ArrayList<>();
                Map<TopicPartition, Long> ends = TopicReader.forEach(consumer, topic, null, READ_TIMEOUT, r -> {
                    if (CheckpointCodec.MANIFEST.equals(CheckpointCodec.typeOf(r))) {
                        try {
                            manifests.add(CheckpointCodec.manifestFromJson(r.value()));
                            manifestRecords.put(manifests.get(manifests.size() - 1).checkpointId(), r.value());
                        } catch (IOException e) {
                            err.println("streamtrain: skipping an unreadable manifest at offset " + r.offset() + " of " + topic);
                        }
                    }
                });
                CheckpointChoice.Chosen chosen = choose(consumer, manifests);
                String id = chosen.manifest().checkpointId();
                Checkpoint checkpoint = assemble(consumer, topic, ends, id);
                byte[] file = ExportFiles.safetensors(checkpoint, withOptimizer);
                Path manifestFile = ExportFiles.manifestPath(output);
                ExportFiles.write(output, file);
                ExportFiles.write(manifestFile, ExportFiles.manifestJson(manifestRecords.get(id), output, file, withOptimizer));
                int tensors = withOptimizer ? checkpoint.payload().tensors().size() : checkpoint.parameters().size();
                out.printf(Locale.ROOT, "exported checkpoint %s of run %s (%s, step %d; payload SHA-256 verified): %d tensors (%s), %d bytes"
                                + " -> %s; manifest -> %s%n", id, run, chosen.why(), chosen.manifest().step(), tensors,
                        withOptimizer ? "the whole checkpoint payload" : "model parameters", file.length, output, manifestFile);
                return 0;
            }
        } catch (StartupException e) {
            err.println("streamtrain: " + e.getMessage());
            return e.exitCode();
        } catch (org.apache.kafka.common.errors.TimeoutException e) {
            err.println("streamtrain: " + e.getMessage() + ". Is the broker at " + kafka.bootstrapServers() + " overloaded or going away?");
            return StartupException.RETRYABLE;
        } catch (IOException e) {
            err.println("streamtrain: cannot write " + output + " or its manifest: " + e.getMessage());
            return StartupException.BAD_CONFIGURATION;
        }
    }

    /** The run must have a checkpoint topic: anything else is most likely a typo in its id. */
    private void requireRun(KafkaSettings kafka) {
        try (Admin admin = Preflight.admin(kafka)) {
            Preflight.requireReachable(admin, kafka.bootstrapServers());
            if (!Preflight.topicNames(admin, kafka.bootstrapServers()).contains(Topics.checkpoints(run))) {
                throw new StartupException(StartupException.BAD_CONFIGURATION, "no run " + run + " on " + kafka.bootstrapServers()
                        + ": there is no topic " + Topics.checkpoints(run) + ". Is the run id right? (its checkpoints are on "
                        + "streamtrain.<run>.checkpoints)");
            }
        }
    }

    private CheckpointChoice.Chosen choose(KafkaConsumer<byte[], byte[]> consumer, List<CheckpointManifest> manifests) {
        if (manifests.isEmpty()) {
            throw new StartupException(StartupException.BAD_CONFIGURATION, "run " + run + " has no checkpoint yet: trainers publish one"
                    + " at the end of every epoch (or on `streamtrain ctl checkpoint --run " + run + "`)");
        }
        if (which.epoch != null) {
            return CheckpointChoice.epoch(run, manifests, which.epoch);
        }
        if (which.checkpointId != null) {
            return CheckpointChoice.id(run, manifests, which.checkpointId);
        }
        List<EvaluationRecord> evaluations = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> r : TopicReader.readAll(consumer, Topics.evaluations(run), READ_TIMEOUT)) {
            try {
                Messages.decodeEvaluation(r.value()).ifPresent(evaluations::add);
            } catch (MalformedMessageException e) {
                // the evaluator's own state ignores these too
            }
        }
        Optional<BestCheckpoint> stopBest = Optional.empty();
        if (evaluations.stream().noneMatch(e -> e.best() != null)) {
            for (ConsumerRecord<byte[], byte[]> r : TopicReader.readAll(consumer, Topics.control(run), READ_TIMEOUT)) {
                try {
                    Optional<ControlMessage> m = Messages.decodeControl(r.value());
                    if (m.isPresent() && m.get() instanceof ControlMessage.Stop s && s.best() != null && stopBest.isEmpty()) {
                        stopBest = Optional.of(s.best());
                    }
                } catch (MalformedMessageException e) {
                    // trainers skip these; so does the export
                }
            }
        }
        return CheckpointChoice.best(run, manifests, evaluations, stopBest);
    }

    /** Reads the topic again up to the same end, handing only the chosen checkpoint's records to the assembler. */
    private static Checkpoint assemble(KafkaConsumer<byte[], byte[]> consumer, String topic, Map<TopicPartition, Long> ends, String id) {
        CheckpointAssembler assembler = new CheckpointAssembler();
        List<Checkpoint> found = new ArrayList<>();
        List<CheckpointRejectedException> rejected = new ArrayList<>();
        TopicReader.forEach(consumer, topic, ends, READ_TIMEOUT, r -> {
            Header h = r.headers().lastHeader(CheckpointCodec.ID_HEADER);
            if (h == null || !id.equals(new String(h.value(), StandardCharsets.UTF_8))) {
                return;
            }
            try {
                Checkpoint c = assembler.accept(r);
                if (c != null) {
                    found.add(c);
                }
            } catch (CheckpointRejectedException e) {
                rejected.add(e);
            }
        });
        if (!found.isEmpty()) {
            return found.get(found.size() - 1);
        }
        throw new StartupException(StartupException.RETRYABLE, (rejected.isEmpty() ? "checkpoint " + id + " could not be assembled"
                : rejected.get(rejected.size() - 1).getMessage()) + "; nothing was written. Export another checkpoint (--epoch E)");
    }
}
