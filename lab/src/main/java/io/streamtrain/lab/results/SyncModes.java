package io.streamtrain.lab.results;

import io.streamtrain.core.checkpoint.CheckpointManifest;
import io.streamtrain.evaluator.TopicScore;
import io.streamtrain.lab.Lab;
import io.streamtrain.lab.report.RunFigures.Epoch;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * Result 4: what streaming sync rounds (Streaming DiLoCo: compressed outer gradients, local
 * optimizer state, overlap) cost in model quality, against strict rounds and one node, on
 * Fashion-MNIST with the model of {@code bench nodes}.
 */
@Command(
        name = "sync",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = {
            "Result 4: train the MLP of `bench nodes` (784-256-128-10, dropout 0.1, AdamW with L1, L2 and weight decay) on "
                    + "Fashion-MNIST (48,000 images; 12,000 for validation) for the same epochs on 1 node, and on 2 nodes with "
                    + "sync.mode strict, streaming with bfloat16 (the default), streaming with int8 and streaming with bfloat16 "
                    + "and sync.mixing 0.5, one after another on an embedded broker; compare their validation losses epoch by epoch (targets at the last epoch: streaming within "
                    + "1 %% of strict, and at most 2 %% above one node), score each last checkpoint on the 10,000 test images, and "
                    + "write the section 'sync' of <out>/results.md. Each node has one PyTorch thread unless --threads says "
                    + "otherwise. About 5 minutes on 2 cores; --fast: 3,000 images, 3 epochs, rounds of at most 5 steps, a minute.",
            "",
            "Needs the Debian package dataset-fashion-mnist (or --data DIR with its four .gz files).",
            "",
            "Examples:",
            "  ./streamtrain results sync",
            "  ./streamtrain results sync --fast --out /tmp/results"
        })
final class SyncModes extends Experiment {
    static final double STRICT_TOLERANCE = 0.01;
    static final double ONE_NODE_TOLERANCE = 0.02;
    private static final String MIXING_LABEL = "2 nodes, streaming (bfloat16), mixing 0.5";

    @Mixin
    FashionOptions fashion = new FashionOptions();

    @Option(
            names = "--epochs",
            defaultValue = "10",
            paramLabel = "N",
            description = "Epochs of every run (default: ${DEFAULT-VALUE};" + " --fast: 3).")
    int epochs;

    @Option(
            names = "--every-steps",
            defaultValue = "50",
            paramLabel = "N",
            description = "sync.everySteps of every run (default:" + " ${DEFAULT-VALUE}).")
    int everySteps;

    @Override
    String name() {
        return "sync";
    }

    @Override
    String problem() {
        return FashionData.problem(fashion.data);
    }

    @Override
    public Integer call() throws Exception {
        // two nodes share the machine: one PyTorch thread each, and
        // the same for one node, so the runs differ in sync alone
        threads = threads > 0 ? threads : 1;
        return super.call();
    }

    @Override
    String command() {
        return super.command()
                + (epochs != 10 ? " --epochs " + epochs : "")
                + (everySteps != 50 ? " --every-steps " + everySteps : "");
    }

    /** An arm: its nodes and sync settings. */
    private record Arm(String label, int nodes, String sync) {}

    @Override
    String run(Lab lab, PrintStream out) throws Exception {
        FashionData.Loaded loaded = FashionData.load(lab, fashion.data, fast ? 3_000 : 0, 0.2, fast ? 2_000 : 0);
        out.println("  " + loaded.describe(fashion.data));
        int n = fast ? Math.min(epochs, 3) : epochs;
        // --fast: 19 steps an epoch a node; rounds of 5 keep most of them mid-epoch, as the full run's are
        int every = fast ? Math.min(everySteps, 5) : everySteps;
        List<Arm> arms = List.of(
                new Arm("1 node", 1, "mode: streaming"),
                new Arm("2 nodes, strict", 2, "mode: strict"),
                new Arm("2 nodes, streaming (bfloat16)", 2, "mode: streaming, encoding: bfloat16"),
                new Arm("2 nodes, streaming (int8)", 2, "mode: streaming, encoding: int8"),
                // Streaming DiLoCo's merge against the default (the overlap's steps kept on top of the round)
                new Arm(MIXING_LABEL, 2, "mode: streaming, encoding: bfloat16, mixing: 0.5"));
        List<Trained> runs = new ArrayList<>();
        for (Arm arm : arms) {
            out.println("streamtrain results: training " + arm.label());
            String run = "sync-" + arm.label().replaceAll("[^a-z0-9]+", "-").replaceAll("-$", "");
            String spec = FashionData.spec(
                            run,
                            "{ type: mlp, inputs: 784, hidden: [256, 128], classes: 10, dropout: 0.1 }",
                            fashion.seed,
                            n,
                            "{ type: adamw, learningRate: 0.001 }",
                            "{ l1: 0.00001, l2: 0.0001, weightDecay: 0.01, exclude: [bias] }",
                            "{ enabled: false }")
                    + "sync: { everySteps: %d, minNodes: %d, %s }\n".formatted(every, arm.nodes(), arm.sync());
            // no early stopping: the checkpoint that stands for a run (shipped) is its last
            Trained t = new Trained(arm.label(), lab.train(spec, loaded.train(), arm.nodes()), false);
            t.score(lab.score(t.shippedRef(), FashionData.TEST));
            out.printf(
                    Locale.ROOT,
                    "  %s: val loss %.4f at epoch %d, test accuracy %.4f%n",
                    arm.label(),
                    t.shipped().valLoss(),
                    t.epochsTrained(),
                    t.score(FashionData.TEST).accuracy());
            runs.add(t);
        }
        return section(loaded, arms, runs, n, every);
    }

    /** What the run's nodes wrote to the sync topic per round and node, over the whole run. */
    private static double syncBytesPerRoundPerNode(Trained t, int nodes) {
        List<CheckpointManifest> epochs =
                t.report().checkpoints().stream().filter(m -> !m.snapshot()).toList();
        double bytes = epochs.stream()
                .mapToDouble(m -> m.metrics().getOrDefault("sync_bytes", 0.0))
                .sum();
        long rounds = epochs.stream().mapToLong(CheckpointManifest::round).max().orElse(0);
        return rounds == 0 ? Double.NaN : bytes / rounds / nodes;
    }

    private String section(FashionData.Loaded loaded, List<Arm> arms, List<Trained> runs, int n, int everySteps) {
        ResultsDoc doc = doc();
        double one = runs.get(0).shipped().valLoss();
        double strict = runs.get(1).shipped().valLoss();
        StringBuilder s = new StringBuilder();
        s.append(loaded.describe(fashion.data))
                .append(String.format(
                        Locale.ROOT,
                        " Every run: %d epochs, batch 64, `sync.everySteps: %d`"
                                + " (a round about every %d steps of the 2 nodes together), no early stopping; the checkpoint scored is the last.%n%n",
                        n,
                        everySteps,
                        2 * everySteps));
        s.append(
                "| run | val loss, last epoch | vs strict | vs 1 node | test loss | test accuracy | sync per round per node | wall time |\n");
        s.append("|---|---|---|---|---|---|---|---|\n");
        List<List<Object>> rows = new ArrayList<>();
        for (int i = 0; i < runs.size(); i++) {
            Trained t = runs.get(i);
            Arm arm = arms.get(i);
            double val = t.shipped().valLoss();
            TopicScore test = t.score(FashionData.TEST);
            double bytes = syncBytesPerRoundPerNode(t, arm.nodes());
            s.append(String.format(
                    Locale.ROOT,
                    "| %s (`%s`) | %s | %s | %s | %s | %s | %s | %s |%n",
                    arm.label(),
                    arm.sync(),
                    f(val, 4),
                    i == 1 ? "–" : relative(val, strict),
                    i == 0 ? "–" : relative(val, one),
                    f(test.loss(), 4),
                    f(test.accuracy(), 4),
                    Double.isNaN(bytes) ? "–" : String.format(Locale.ROOT, "%.3f MB", bytes / 1e6),
                    duration(t.wallSeconds())));
            rows.add(List.of(
                    t.run(),
                    arm.label(),
                    arm.nodes(),
                    arm.sync(),
                    val,
                    test.loss(),
                    test.accuracy(),
                    bytes,
                    t.wallSeconds()));
        }
        String csv = doc.csv(
                List.of(
                        "run",
                        "label",
                        "nodes",
                        "sync",
                        "val_loss_last_epoch",
                        "test_loss",
                        "test_accuracy",
                        "sync_bytes_per_round_per_node",
                        "wall_seconds"),
                rows);
        s.append("\nVal loss is the evaluator's on the validation topic; test figures are `streamtrain score` on `")
                .append(FashionData.TEST)
                .append(
                        "`. Sync bytes: what the nodes wrote to the sync topic over the run, per round and node (a lone node has a round"
                                + " every 20 × `everySteps` steps and hands in its whole state). All numbers: [")
                .append(csv)
                .append("](")
                .append(csv)
                .append(").\n\n");
        for (int i = 2; i < runs.size(); i++) {
            double val = runs.get(i).shipped().valLoss();
            boolean nearStrict = Math.abs(val - strict) <= STRICT_TOLERANCE * strict;
            boolean notWorse = val <= (1 + ONE_NODE_TOLERANCE) * one;
            s.append(String.format(
                    Locale.ROOT,
                    "- %s: %s against strict's validation loss (target within %.0f %%: %s), %s against one"
                            + " node's (target at most %.0f %% above: %s).%n",
                    arms.get(i).label(),
                    relative(val, strict),
                    100 * STRICT_TOLERANCE,
                    nearStrict ? "met" : "**not met**",
                    relative(val, one),
                    100 * ONE_NODE_TOLERANCE,
                    notWorse ? "met" : "**not met**"));
        }
        int mixed = labels(arms).indexOf(MIXING_LABEL);
        int carried = labels(arms).indexOf("2 nodes, streaming (bfloat16)");
        s.append(String.format(
                Locale.ROOT,
                "- How a node takes a round back after its overlap: mixing its parameters with the round's as Streaming"
                        + " DiLoCo does (`mixing: 0.5`, θ ← 0.5·θ_node + 0.5·θ_round) ends at %s of the default's"
                        + " validation loss (the overlap's steps kept on top of the round, θ ← θ_round + θ_node −"
                        + " θ_handedIn).%n",
                relative(
                        runs.get(mixed).shipped().valLoss(),
                        runs.get(carried).shipped().valLoss())));
        s.append(
                "\nThe second target guards against what splitting the data costs a model, so it is one-sided: two nodes that"
                        + " end below one node meet it. Against strict rounds any difference counts, either way.\n");
        s.append("\n![Validation loss per epoch](")
                .append(doc.figure(
                        "val-loss",
                        perEpoch("Validation loss per epoch", "val_loss", runs, Epoch::valLoss)
                                .toSvg()))
                .append(")\n\n");
        s.append(specs(runs));
        return s.toString();
    }

    private static List<String> labels(List<Arm> arms) {
        return arms.stream().map(Arm::label).toList();
    }

    private static String relative(double value, double reference) {
        return String.format(Locale.ROOT, "%+.2f %%", 100 * (value - reference) / reference);
    }
}
