package io.streamtrain.lab.results;

import io.streamtrain.lab.Lab;
import io.streamtrain.lab.report.RunFigures.Epoch;
import io.streamtrain.lab.report.SvgLineChart;
import io.streamtrain.lab.report.SvgLineChart.Point;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.ToDoubleFunction;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Result 2: the ablation of the chapter's techniques on an MLP that can overfit — no
 * regularization, each technique alone, and their combination — over several seeds.
 */
@Command(
        name = "ablation",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = {
            "Result 2: an MLP (784-512-256-10) on 6,000 Fashion-MNIST images (6,000 more for validation), trained with no "
                    + "regularization, with each of L1, L2, dropout, coupled weight decay (adam), decoupled weight decay (adamw) "
                    + "and early stopping alone, and with the chapter's combination, for each --seeds; every run scored on the "
                    + "10,000 test images (the best checkpoint with early stopping, else the last). Writes the section 'ablation' "
                    + "of <out>/results.md: final train loss, best val loss, test accuracy, epoch stopped and the train/validation "
                    + "gap as mean and spread over the seeds, and the validation curves. About 20 minutes on 2 cores with 3 seeds; "
                    + "--fast: 2,000 images, 6 epochs.",
            "",
            "Needs the Debian package dataset-fashion-mnist (or --data DIR).",
            "",
            "Examples:",
            "  ./streamtrain results ablation",
            "  ./streamtrain results ablation --fast --arms none,early-stopping --seeds 1,2 --out /tmp/results"
        })
final class Ablation extends Experiment {
    /** An arm: a name, what it changes, and the spec's parts. */
    record Arm(
            String name,
            String label,
            double dropout,
            String optimizer,
            String regularization,
            boolean earlyStopping) {}

    static final List<Arm> ARMS = List.of(
            new Arm("none", "no regularization", 0, "adam", "{}", false),
            new Arm("l1", "L1 (1e-5)", 0, "adam", "{ l1: 0.00001, exclude: [bias] }", false),
            new Arm("l2", "L2 (5e-4)", 0, "adam", "{ l2: 0.0005, exclude: [bias] }", false),
            new Arm("dropout", "dropout (0.3)", 0.3, "adam", "{}", false),
            new Arm(
                    "weight-decay-coupled",
                    "weight decay, coupled (adam, 1e-3)",
                    0,
                    "adam",
                    "{ weightDecay: 0.001, exclude: [bias] }",
                    false),
            new Arm(
                    "weight-decay-decoupled",
                    "weight decay, decoupled (adamw, 0.1)",
                    0,
                    "adamw",
                    "{ weightDecay: 0.1, exclude: [bias] }",
                    false),
            new Arm("early-stopping", "early stopping (patience 3)", 0, "adam", "{}", true),
            new Arm(
                    "chapter",
                    "the chapter's combination",
                    0.3,
                    "adamw",
                    "{ l1: 0.000001, l2: 0.00005, weightDecay: 0.05, exclude: [bias] }",
                    true));

    @Option(names = "--data", paramLabel = "DIR", description = "The Fashion-MNIST files (default: ${DEFAULT-VALUE}).")
    Path data = FashionData.DEFAULT_DIR;

    @Option(
            names = "--seeds",
            split = ",",
            paramLabel = "N[,N...]",
            description = "init.seed of each repetition (default: 42,43,44).")
    List<Long> seeds = List.of(42L, 43L, 44L);

    @Option(
            names = "--arms",
            split = ",",
            paramLabel = "ARM[,ARM...]",
            description =
                    "Only these arms (default: all): none, l1, l2, dropout, weight-decay-coupled, weight-decay-decoupled, "
                            + "early-stopping, chapter.")
    List<String> arms;

    @Override
    String name() {
        return "ablation";
    }

    @Override
    String problem() {
        if (arms != null) {
            List<String> unknown = arms.stream()
                    .filter(a -> ARMS.stream().noneMatch(x -> x.name().equals(a)))
                    .toList();
            if (!unknown.isEmpty()) {
                return "unknown arm(s) " + unknown + "; the arms are "
                        + ARMS.stream().map(Arm::name).toList();
            }
        }
        if (seeds.isEmpty()) {
            return "--seeds needs at least one seed";
        }
        return FashionData.problem(data);
    }

    @Override
    String command() {
        return super.command()
                + (arms == null ? "" : " --arms " + String.join(",", arms))
                + (seeds.equals(List.of(42L, 43L, 44L))
                        ? ""
                        : " --seeds "
                                + String.join(
                                        ",", seeds.stream().map(String::valueOf).toList()));
    }

    private List<Arm> chosen() {
        return arms == null
                ? ARMS
                : ARMS.stream().filter(a -> arms.contains(a.name())).toList();
    }

    @Override
    String run(Lab lab, PrintStream out) throws Exception {
        FashionData.Loaded loaded = FashionData.load(lab, data, fast ? 2_000 : 12_000, 0.5, fast ? 1_000 : 0);
        out.println("  " + loaded.describe(data));
        int epochs = fast ? 6 : 20;
        Map<Arm, List<Trained>> results = new LinkedHashMap<>();
        for (Arm arm : chosen()) {
            List<Trained> runs = new ArrayList<>();
            for (long seed : seeds) {
                String run = "ablation-" + arm.name() + "-s" + seed;
                out.println("streamtrain results: training " + arm.label() + ", seed " + seed);
                String spec = FashionData.spec(
                        run,
                        "{ type: mlp, inputs: 784, hidden: [512, 256], classes: 10, dropout: %s }"
                                .formatted(arm.dropout()),
                        seed,
                        epochs,
                        "{ type: %s, learningRate: 0.001 }".formatted(arm.optimizer()),
                        arm.regularization(),
                        arm.earlyStopping() ? "{ monitor: val_loss, patience: 3 }" : "{ enabled: false }");
                Trained t = new Trained(arm.label(), lab.train(spec, loaded.train()), arm.earlyStopping());
                t.score(lab.score(t.shippedRef(), FashionData.TEST));
                runs.add(t);
            }
            results.put(arm, runs);
        }
        return section(loaded, results, epochs);
    }

    /** A figure of each run, then its mean and spread over the seeds. */
    private record Measure(String name, String header, int decimals, ToDoubleFunction<Trained> value) {}

    private static final List<Measure> MEASURES = List.of(
            new Measure("final_train_loss", "final train loss", 4, t -> t.last().trainLoss()),
            new Measure("best_val_loss", "best val loss", 4, Trained::bestValLoss),
            new Measure(
                    "test_accuracy",
                    "test accuracy",
                    4,
                    t -> t.score(FashionData.TEST).accuracy()),
            new Measure(
                    "test_loss", "test loss", 4, t -> t.score(FashionData.TEST).loss()),
            new Measure("epochs_trained", "epoch stopped", 1, t -> t.epochsTrained()),
            new Measure(
                    "final_gap",
                    "gap (val − train, last epoch)",
                    4,
                    t -> t.last().gap()));

    private String section(FashionData.Loaded loaded, Map<Arm, List<Trained>> results, int epochs) {
        ResultsDoc doc = doc();
        StringBuilder s = new StringBuilder();
        s.append(loaded.describe(data)).append("\n\n");
        s.append(String.format(
                Locale.ROOT,
                "Model: MLP 784-512-256-10 (relu), batch 64, learning rate 0.001 (constant), up to %d epochs; "
                        + "seeds %s (init.seed: initial weights and dropout masks); the data and its order are the same for every run. "
                        + "Test accuracy is that of the checkpoint the arm would ship: the best by validation loss with early stopping, "
                        + "else the last. Mean ± standard deviation over the seeds.%n%n",
                epochs,
                seeds));
        s.append("| arm |");
        MEASURES.forEach(m -> s.append(' ').append(m.header()).append(" |"));
        s.append("\n|---|").append("---|".repeat(MEASURES.size())).append('\n');
        List<List<Object>> rows = new ArrayList<>();
        results.forEach((arm, runs) -> {
            s.append("| ").append(arm.label()).append(" |");
            for (Measure m : MEASURES) {
                double[] v = runs.stream().mapToDouble(m.value()).toArray();
                s.append(' ').append(meanSpread(v, m.decimals())).append(" |");
            }
            s.append('\n');
            for (Trained t : runs) {
                List<Object> row = new ArrayList<>(List.of(arm.name(), t.run(), t.shippedEpoch()));
                MEASURES.forEach(m -> row.add(m.value().applyAsDouble(t)));
                row.add(t.wallSeconds());
                rows.add(row);
            }
        });
        List<String> header = new ArrayList<>(List.of("arm", "run", "scored_epoch"));
        MEASURES.forEach(m -> header.add(m.name()));
        header.add("wall_seconds");
        String csv = doc.csv(header, rows);
        s.append("\nEvery run's figures: [")
                .append(csv)
                .append("](")
                .append(csv)
                .append("); each run's report is in " + "`runs/results/<run>/report.html`.\n\n");
        s.append("![Validation loss per epoch, mean over the seeds](")
                .append(doc.figure("val-loss", meanCurves(results).toSvg()))
                .append(")\n\n");
        s.append(specs(results.values().stream().map(r -> r.get(0)).toList()));
        return s.toString();
    }

    /** Each arm's validation loss per epoch, averaged over the seeds that reached the epoch. */
    private static SvgLineChart meanCurves(Map<Arm, List<Trained>> results) {
        SvgLineChart chart =
                new SvgLineChart("Validation loss per epoch (mean over seeds)", "epoch", "val_loss").optIntegerX();
        int i = 0;
        for (Map.Entry<Arm, List<Trained>> e : results.entrySet()) {
            TreeMap<Integer, double[]> sums = new TreeMap<>();
            for (Trained t : e.getValue()) {
                for (Epoch ep : t.epochs()) {
                    if (Double.isFinite(ep.valLoss())) {
                        double[] sum = sums.computeIfAbsent(ep.epoch(), k -> new double[2]);
                        sum[0] += ep.valLoss();
                        sum[1]++;
                    }
                }
            }
            List<Point> points = sums.entrySet().stream()
                    .map(x -> new Point(x.getKey(), x.getValue()[0] / x.getValue()[1]))
                    .toList();
            series(chart, i, e.getKey().label(), points);
            i++;
        }
        return chart;
    }

    /** "0.8812 ± 0.0031" (sample standard deviation), or the value alone for one seed. */
    static String meanSpread(double[] v, int decimals) {
        double mean = 0;
        for (double x : v) {
            mean += x;
        }
        mean /= v.length;
        if (v.length < 2) {
            return f(mean, decimals);
        }
        double ss = 0;
        for (double x : v) {
            ss += (x - mean) * (x - mean);
        }
        return f(mean, decimals) + " ± " + f(Math.sqrt(ss / (v.length - 1)), decimals);
    }
}
