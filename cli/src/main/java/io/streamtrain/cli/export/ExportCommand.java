package io.streamtrain.cli.export;

import io.streamtrain.cli.CheckpointStores;
import io.streamtrain.cli.Logs;
import io.streamtrain.cli.RunIdConverter;
import io.streamtrain.core.checkpoint.Checkpoint;
import io.streamtrain.core.checkpoint.CheckpointChoice;
import io.streamtrain.core.checkpoint.CheckpointRejectedException;
import io.streamtrain.core.checkpoint.PayloadSources;
import io.streamtrain.core.checkpoint.RunCheckpoints;
import io.streamtrain.core.kafka.KafkaOptions;
import io.streamtrain.core.kafka.KafkaSettings;
import io.streamtrain.core.kafka.Preflight;
import io.streamtrain.core.kafka.StartupException;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.Callable;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code streamtrain export}: one checkpoint of a run as a plain safetensors file, with
 * its manifest beside it. The payload is rebuilt and verified (size, SHA-256, parameter
 * list) by the same {@link io.streamtrain.core.checkpoint.CheckpointAssembler} the trainers and the evaluator use.
 */
@Command(
        name = "export",
        mixinStandardHelpOptions = true,
        sortOptions = false,
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
                    + "the run's STOP names. --promoted takes a continuous run's promoted model: the window checkpoint the evaluator "
                    + "last published on streamtrain.<run>.models.",
            "",
            "Examples:",
            "  streamtrain export --run fashion-mlp-01 --best -o model.safetensors",
            "  streamtrain export --run fashion-mlp-01 --epoch 3 -o e3.safetensors",
            "  # in Python: safetensors.torch.load_file(\"model.safetensors\")",
            "",
            "Exit codes: 0 written; 2 no such run, no evaluation yet (--best), no promoted model (--promoted), no such epoch or"
                    + " checkpoint; "
                    + "1 Kafka unreachable, or a checkpoint that does not verify."
        })
public final class ExportCommand implements Callable<Integer> {
    private static final Duration READ_TIMEOUT = Duration.ofSeconds(30);

    @Option(
            names = "--run",
            required = true,
            paramLabel = "RUN",
            converter = RunIdConverter.class,
            description = "The run id.")
    String run;

    @ArgGroup(exclusive = true, multiplicity = "1")
    Which which;

    /** Exactly one way of naming the checkpoint. */
    static final class Which {
        @Option(names = "--best", required = true, description = "The run's best checkpoint, by its evaluations.")
        boolean best;

        @Option(
                names = "--promoted",
                required = true,
                description = "A continuous run's promoted model (the latest on streamtrain.<run>.models).")
        boolean promoted;

        @Option(
                names = "--epoch",
                required = true,
                paramLabel = "E",
                description = "The checkpoint that ended epoch E.")
        Integer epoch;

        @Option(
                names = "--checkpoint",
                required = true,
                paramLabel = "ID",
                description = "The checkpoint with this id (a snapshot too; `streamtrain ctl status` lists them).")
        String checkpointId;
    }

    @Option(
            names = {"-o", "--output"},
            required = true,
            paramLabel = "FILE",
            description = "The .safetensors file to write.")
    Path output;

    @Option(
            names = "--with-optimizer",
            description =
                    "Write every tensor of the checkpoint payload (the optimizer.* and anchor.* ones it holds too), not only the model parameters.")
    boolean withOptimizer;

    @Mixin
    CheckpointStores stores = new CheckpointStores();

    @Mixin
    KafkaOptions kafkaOptions;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        // this command prints its own result; Kafka's clients keep to errors
        Logs.quiet();
        KafkaSettings kafka = kafkaOptions.settings();
        Optional<PayloadSources> sources = stores.sources(err, "streamtrain: ");
        if (sources.isEmpty()) {
            return StartupException.BAD_CONFIGURATION;
        }
        try {
            try (Admin admin = Preflight.admin(kafka)) {
                Preflight.requireReachable(admin, kafka.bootstrapServers());
                RunCheckpoints.requireRun(admin, kafka.bootstrapServers(), run);
            }
            try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(kafka.consumer(null))) {
                RunCheckpoints.Listing listing = RunCheckpoints.list(
                        consumer, run, READ_TIMEOUT, m -> err.println("streamtrain: " + m), kafka.signing());
                CheckpointChoice.Chosen chosen = choose(consumer, listing, kafka);
                String id = chosen.manifest().checkpointId();
                Checkpoint checkpoint;
                try {
                    checkpoint = RunCheckpoints.assemble(
                            consumer, listing, id, READ_TIMEOUT, sources.get(), kafka.signing());
                } catch (CheckpointRejectedException e) {
                    throw new StartupException(
                            e.untrusted() ? StartupException.BAD_CONFIGURATION : StartupException.RETRYABLE,
                            e.getMessage() + "; nothing was written. Export another checkpoint (--epoch E)");
                }
                byte[] file = ExportFiles.safetensors(checkpoint, withOptimizer);
                Path manifestFile = ExportFiles.manifestPath(output);
                ExportFiles.write(output, file);
                ExportFiles.write(
                        manifestFile, ExportFiles.manifestJson(listing.json().get(id), output, file, withOptimizer));
                int tensors = withOptimizer
                        ? checkpoint.payload().tensors().size()
                        : checkpoint.parameters().size();
                out.printf(
                        Locale.ROOT,
                        "exported checkpoint %s of run %s (%s, step %d; payload SHA-256 verified): %d tensors (%s), %d bytes"
                                + " -> %s; manifest -> %s%n",
                        // anyone who may write the checkpoint topic names its checkpoints: not the terminal's
                        // controls ("why" is escaped where it is made)
                        io.streamtrain.core.logging.Logs.escape(id),
                        run,
                        chosen.why(),
                        chosen.manifest().step(),
                        tensors,
                        withOptimizer ? "the whole checkpoint payload" : "model parameters",
                        file.length,
                        output,
                        manifestFile);
                return 0;
            }
        } catch (StartupException e) {
            err.println("streamtrain: " + e.getMessage());
            return e.exitCode();
        } catch (org.apache.kafka.common.errors.TimeoutException e) {
            err.println("streamtrain: " + e.getMessage() + ". Is the broker at " + kafka.bootstrapServers()
                    + " overloaded or going away?");
            return StartupException.RETRYABLE;
        } catch (IOException e) {
            err.println("streamtrain: cannot write " + output + " or its manifest: " + e.getMessage());
            return StartupException.BAD_CONFIGURATION;
        }
    }

    private CheckpointChoice.Chosen choose(
            KafkaConsumer<byte[], byte[]> consumer, RunCheckpoints.Listing listing, KafkaSettings kafka) {
        if (which.epoch != null) {
            return CheckpointChoice.epoch(run, listing.manifests(), which.epoch);
        }
        if (which.checkpointId != null) {
            return CheckpointChoice.id(run, listing.manifests(), which.checkpointId);
        }
        if (which.promoted) {
            return RunCheckpoints.promoted(consumer, listing, READ_TIMEOUT, kafka.signing());
        }
        return RunCheckpoints.best(consumer, listing, READ_TIMEOUT, "--epoch E", kafka.signing());
    }
}
