package io.streamtrain.lab.results;

import io.streamtrain.evaluator.TopicScore;
import io.streamtrain.lab.Lab;
import io.streamtrain.lab.report.RunFigures.Epoch;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/**
 * Result 1: Fashion-MNIST test accuracy of an MLP and a CNN trained with the chapter's
 * regularizers and early stopping, against the data set's own benchmark, with an
 * unregularized MLP beside them.
 */
@Command(
        name = "fashion-mnist",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = {
            "Result 1: train on Fashion-MNIST (48,000 images; 12,000 for validation) an MLP (784-1024-512-10) without "
                    + "regularization, the same MLP with dropout, decoupled weight decay and early stopping, and a CNN with the same, one after another on an embedded "
                    + "broker; score each run's checkpoint (the best for early stopping, else the last) on the 10,000 test images no "
                    + "run trains or stops on, and write the section 'fashion-mnist' of <out>/results.md with the figures "
                    + "(targets: MLP >= 0.895, CNN >= 0.92 test accuracy). About 15 minutes on 2 cores; --fast: 3,000 images, a "
                    + "minute or two.",
            "",
            "Needs the Debian package dataset-fashion-mnist (or --data DIR with its four .gz files).",
            "",
            "Examples:",
            "  ./streamtrain results fashion-mnist",
            "  ./streamtrain results fashion-mnist --fast --out /tmp/results"
        })
final class FashionMnist extends Experiment {
    static final double MLP_TARGET = 0.895;
    static final double CNN_TARGET = 0.92;

    @Mixin
    FashionOptions fashion = new FashionOptions();

    @Override
    String name() {
        return "fashion-mnist";
    }

    @Override
    String problem() {
        return FashionData.problem(fashion.data);
    }

    /** An arm of the experiment: its run, and the accuracy it should reach (NaN for none). */
    private record Arm(String label, String spec, boolean earlyStopping, double target) {}

    @Override
    String run(Lab lab, PrintStream out) throws Exception {
        FashionData.Loaded loaded = FashionData.load(lab, fashion.data, fast ? 3_000 : 0, 0.2, fast ? 2_000 : 0);
        out.println("  " + loaded.describe(fashion.data));
        long steps = (loaded.train() + 63) / 64;
        int noneEpochs = fast ? 15 : 20;
        int mlpEpochs = fast ? 15 : 40;
        int cnnEpochs = fast ? 4 : 20;
        String mlp = "{ type: mlp, inputs: 784, hidden: [1024, 512], classes: 10, dropout: %s }";
        String cnn = fast
                ? "{ type: cnn, inputShape: [1, 28, 28], conv: [8, 16], hidden: [32], classes: 10, dropout: 0.3, convDropout: 0.1 }"
                : "{ type: cnn, inputShape: [1, 28, 28], conv: [32, 64], hidden: [128], classes: 10, dropout: 0.4, convDropout: 0.1 }";
        String chapter = "{ weightDecay: 0.05, exclude: [bias], clipGradNorm: 1.0 }";
        List<Arm> arms = List.of(
                new Arm(
                        "MLP, no regularization",
                        FashionData.spec(
                                "fashion-mlp-none",
                                mlp.formatted("0.0"),
                                fashion.seed,
                                noneEpochs,
                                "{ type: adam, learningRate: 0.001 }",
                                "{}",
                                "{ enabled: false }"),
                        false,
                        Double.NaN),
                new Arm(
                        "MLP, chapter",
                        FashionData.spec(
                                "fashion-mlp-chapter",
                                mlp.formatted("0.5"),
                                fashion.seed,
                                mlpEpochs,
                                cosine(mlpEpochs * steps),
                                chapter,
                                "{ monitor: val_loss, patience: %d, minDelta: 0.0005 }".formatted(fast ? 3 : 10)),
                        true,
                        MLP_TARGET),
                new Arm(
                        "CNN, chapter",
                        FashionData.spec(
                                "fashion-cnn-chapter",
                                cnn,
                                fashion.seed,
                                cnnEpochs,
                                cosine(cnnEpochs * steps),
                                chapter,
                                "{ monitor: val_loss, patience: %d, minDelta: 0.0005 }".formatted(fast ? 2 : 3)),
                        true,
                        CNN_TARGET));
        List<Trained> runs = new ArrayList<>();
        for (Arm arm : arms) {
            out.println("streamtrain results: training " + arm.label());
            Trained t = new Trained(arm.label(), lab.train(arm.spec(), loaded.train()), arm.earlyStopping());
            t.score(lab.score(t.shippedRef(), FashionData.TEST));
            out.printf(
                    Locale.ROOT,
                    "  %s: checkpoint of epoch %d, test accuracy %.4f%n",
                    arm.label(),
                    t.shippedEpoch(),
                    t.score(FashionData.TEST).accuracy());
            runs.add(t);
        }
        return section(loaded, arms, runs);
    }

    private static String cosine(long decaySteps) {
        return "{ type: adamw, learningRate: 0.001, schedule: { type: cosine, warmupSteps: 0, decaySteps: %d, minLearningRate: 0.00001 } }"
                .formatted(decaySteps);
    }

    private String section(FashionData.Loaded loaded, List<Arm> arms, List<Trained> runs) {
        ResultsDoc doc = doc();
        StringBuilder s = new StringBuilder();
        s.append(loaded.describe(fashion.data)).append("\n\n");
        s.append(
                "| run | epochs trained | checkpoint scored | train loss | val loss | test loss | test accuracy | target | wall time |\n");
        s.append("|---|---|---|---|---|---|---|---|---|\n");
        List<List<Object>> rows = new ArrayList<>();
        for (int i = 0; i < runs.size(); i++) {
            Trained t = runs.get(i);
            Arm arm = arms.get(i);
            Epoch e = t.shipped();
            TopicScore test = t.score(FashionData.TEST);
            String target = Double.isNaN(arm.target())
                    ? "–"
                    : fast
                            ? String.format(Locale.ROOT, "≥ %.3f (full run only)", arm.target())
                            : String.format(
                                    Locale.ROOT,
                                    "≥ %.3f: %s",
                                    arm.target(),
                                    test.accuracy() >= arm.target() ? "met" : "**not met**");
            s.append(String.format(
                    Locale.ROOT,
                    "| %s (`%s`) | %d%s | epoch %d (%s) | %s | %s | %s | %s | %s | %s |%n",
                    t.label(),
                    t.run(),
                    t.epochsTrained(),
                    t.stoppedEarly() ? " (stopped early)" : "",
                    e.epoch(),
                    t.earlyStopping() ? "best" : "last",
                    f(e.trainLoss(), 4),
                    f(e.valLoss(), 4),
                    f(test.loss(), 4),
                    f(test.accuracy(), 4),
                    target,
                    duration(t.wallSeconds())));
            rows.add(List.of(
                    t.run(),
                    t.label(),
                    t.epochsTrained(),
                    t.stoppedEarly(),
                    e.epoch(),
                    e.trainLoss(),
                    e.valLoss(),
                    test.loss(),
                    test.accuracy(),
                    test.samples(),
                    arm.target(),
                    t.wallSeconds()));
        }
        String csv = doc.csv(
                List.of(
                        "run",
                        "label",
                        "epochs_trained",
                        "stopped_early",
                        "scored_epoch",
                        "train_loss",
                        "val_loss",
                        "test_loss",
                        "test_accuracy",
                        "test_samples",
                        "target_accuracy",
                        "wall_seconds"),
                rows);
        s.append(
                        "\nTrain loss is the data loss of the scored epoch (without penalty terms), val loss the evaluator's on the "
                                + "validation topic; test figures are `streamtrain score` on `" + FashionData.TEST
                                + "`. All numbers: [")
                .append(csv)
                .append("](")
                .append(csv)
                .append(").\n\n");
        s.append(
                "References (the data set's benchmark, test accuracy): sklearn MLPClassifier (100 hidden, relu) 0.871 (paper, "
                        + "Table 3); \"MLP 256-128-100\" 0.8833; \"2 Conv+pooling\" with dropout 0.916; \"3 Conv+pooling+2 FC+dropout\" 0.926.\n\n");
        s.append("![Validation loss per epoch](")
                .append(doc.figure(
                        "val-loss",
                        perEpoch("Validation loss per epoch", "val_loss", runs, Epoch::valLoss)
                                .toSvg()))
                .append(")\n\n");
        s.append("![Validation accuracy per epoch](")
                .append(doc.figure(
                        "val-accuracy",
                        perEpoch("Validation accuracy per epoch", "val_accuracy", runs, Epoch::valAccuracy)
                                .toSvg()))
                .append(")\n\n");
        Trained none = runs.get(0);
        Trained regularized = runs.get(1);
        s.append(String.format(
                Locale.ROOT,
                "Direction: the regularized MLP's test loss %s is %s the unregularized MLP's %s.%n%n",
                f(regularized.score(FashionData.TEST).loss(), 4),
                regularized.score(FashionData.TEST).loss()
                                < none.score(FashionData.TEST).loss()
                        ? "below"
                        : "**not below**",
                f(none.score(FashionData.TEST).loss(), 4)));
        s.append(specs(runs));
        return s.toString();
    }
}
