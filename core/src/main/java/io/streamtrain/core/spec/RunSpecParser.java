package io.streamtrain.core.spec;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLGenerator;
import io.streamtrain.core.topics.Topics;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Pattern;

/**
 * Reads a run spec (YAML, or JSON, which YAML contains) into a {@link RunSpec}, strictly:
 * an unknown key, a wrong type or an impossible value is a {@link SpecException} naming
 * the key path and what is allowed. Every default lives here, next to its check.
 */
public final class RunSpecParser {
    /** The largest {@code optimizer.learningRate} (and learning rate a SET may give). */
    public static final double MAX_LEARNING_RATE = 10;
    /** The largest {@code regularization.l1}, {@code l2} and {@code l2sp}. */
    public static final double MAX_PENALTY = 10;
    /** Kafka's legal topic characters, for the data topics a spec names (run ids are narrower: {@link Topics#RUN_ID_SYNTAX}). */
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9._-]{1,200}");

    private static final ObjectMapper YAML = new ObjectMapper(
                    new YAMLFactory().disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER))
            .disable(SerializationFeature.FAIL_ON_EMPTY_BEANS)
            // strict means strict: a key given twice is a mistake (which one was meant?), never the last one silently
            .enable(com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_READING_DUP_TREE_KEY);
    private static final ObjectMapper JSON = new ObjectMapper();

    public static final int DEFAULT_CHUNK_BYTES = 512 * 1024;
    /** The most records a continuous run's window may span. */
    public static final long MAX_WINDOW_RECORDS = 1_000_000_000L;
    /** {@code maxEpochs} of a continuous run that names none: windows go on until a STOP. */
    public static final int UNLIMITED_WINDOWS = 1_000_000;

    private RunSpecParser() {}

    public static RunSpec parse(String yaml) {
        JsonNode tree;
        try {
            tree = YAML.readTree(yaml);
        } catch (JsonProcessingException e) {
            throw new SpecException(
                    "",
                    "not valid YAML: " + e.getOriginalMessage()
                            + (e.getLocation() == null
                                    ? ""
                                    : " (line " + e.getLocation().getLineNr() + ")"));
        }
        return parse(tree);
    }

    public static RunSpec load(Path file) {
        try {
            return parse(Files.readString(file));
        } catch (NoSuchFileException e) {
            throw new SpecException("", "spec file " + file + " does not exist");
        } catch (IOException e) {
            throw new SpecException("", "cannot read spec file " + file + ": " + e.getMessage());
        }
    }

    /** The spec as YAML that {@link #parse(String)} reads back to an equal spec. */
    public static String toYaml(RunSpec spec) {
        try {
            return YAML.writeValueAsString(spec);
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static JsonNode toJson(RunSpec spec) {
        return JSON.valueToTree(spec);
    }

    public static RunSpec parse(JsonNode tree) {
        SpecNode root = SpecNode.root(tree);
        String run = root.requiredString("run", "the run id, used in topic and group names");
        if (!Topics.isRunId(run)) {
            throw new SpecException(
                    root.path("run"),
                    "'" + run + "' is not a usable run id; allowed: " + Topics.RUN_ID_RULE
                            + " (dots, underscores and capitals were allowed before: such a run keeps its topics, but needs a new id to train"
                            + " again)");
        }
        DataSpec data = data(root.child("data"));
        RunSpec spec = new RunSpec(
                run,
                data,
                model(root.child("model")),
                init(root.child("init"), run),
                root.integer("batchSize", 32, 1, 1_000_000),
                // a continuous run's epochs are windows of a live topic: they go on until a STOP unless bounded here
                root.integer("maxEpochs", data.continuous() ? UNLIMITED_WINDOWS : 10, 1, UNLIMITED_WINDOWS),
                optimizer(root.child("optimizer")),
                regularization(root.child("regularization")),
                earlyStopping(root.child("earlyStopping")),
                evaluation(root.child("evaluation"), data),
                sync(root.child("sync")),
                checkpoints(root.child("checkpoints")));
        root.rejectUnknownKeys();
        return spec;
    }

    private static DataSpec data(SpecNode n) {
        String train = n.requiredString("train", "the Kafka topic with the training batches");
        requireName(n.path("train"), train);
        String validation = n.string("validation", null);
        if (validation != null) {
            requireName(n.path("validation"), validation);
        }
        String mode = n.oneOf("mode", DataSpec.BOUNDED, List.of(DataSpec.BOUNDED, DataSpec.CONTINUOUS));
        DataSpec.Window window = null;
        if (DataSpec.CONTINUOUS.equals(mode)) {
            SpecNode w = n.child("window");
            long records = w.integer("records", 0L, 1, MAX_WINDOW_RECORDS);
            Double minutes = w.has("minutes")
                    ? w.number(
                            "minutes",
                            0,
                            x -> x >= DataSpec.Window.MIN_MINUTES && x <= DataSpec.Window.MAX_MINUTES,
                            "a number of minutes in ["
                                    + String.format(java.util.Locale.ROOT, "%.4f", DataSpec.Window.MIN_MINUTES)
                                    + " (one second), " + (long) DataSpec.Window.MAX_MINUTES + " (a week)]")
                    : null;
            if ((records == 0) == (minutes == null)) {
                throw new SpecException(
                        w.path(minutes == null ? "records" : "minutes"),
                        minutes == null
                                ? "or data.window.minutes is required for data.mode continuous: Kafka records (batches)"
                                        + " per window, an integer in [1, " + MAX_WINDOW_RECORDS + "], or minutes of"
                                        + " record timestamps per window"
                                : "cannot go with data.window.records: a window is cut by records or by minutes");
            }
            if (minutes != null && (w.has("replay") || w.has("replayHorizon"))) {
                throw new SpecException(
                        w.path(w.has("replay") ? "replay" : "replayHorizon"),
                        "is only for a window of records (a replay draws from earlier windows' shares, which a"
                                + " window of minutes does not fix)");
            }
            Double replay = w.has("replay")
                    ? w.number(
                            "replay",
                            0,
                            x -> x >= 0 && x <= DataSpec.Window.MAX_REPLAY,
                            "a number in [0, " + DataSpec.Window.MAX_REPLAY + "]: the share of each window drawn"
                                    + " from earlier windows")
                    : null;
            Integer horizon = w.has("replayHorizon")
                    ? w.integer("replayHorizon", DataSpec.Window.DEFAULT_REPLAY_HORIZON, 1, 1_000_000)
                    : null;
            if (horizon != null && replay == null) {
                throw new SpecException(w.path("replayHorizon"), "is only for a window with replay");
            }
            w.rejectUnknownKeys();
            window = new DataSpec.Window(records, minutes, replay, horizon);
            // a window trains this many times its own records from earlier ones, which must lie within the horizon
            double times = window.replayShare() / (1 - window.replayShare());
            if (times > window.horizon() + 1e-9) {
                throw new SpecException(
                        w.path("replay"),
                        "of " + replay + " draws " + String.format(java.util.Locale.ROOT, "%.3g", times)
                                + " times a window's own records from earlier windows, but replayHorizon "
                                + window.horizon() + " reaches only " + window.horizon()
                                + " windows back: raise replayHorizon to at least " + (long) Math.ceil(times - 1e-9)
                                + ", or lower replay");
            }
        } else if (n.has("window")) {
            throw new SpecException(
                    n.path("window"), "is only for data.mode continuous (a bounded run's epoch is the whole topic)");
        }
        n.rejectUnknownKeys();
        return new DataSpec(train, validation, mode, window);
    }

    private static final List<String> ACTIVATIONS = List.of("relu", "gelu", "tanh", "sigmoid");

    /** The keys of {@code model} depend on its type; a key of another type is an unknown key. */
    private static ModelSpec model(SpecNode n) {
        String type = n.oneOf("type", ModelSpec.MLP, List.of(ModelSpec.MLP, ModelSpec.CNN, ModelSpec.CAUSAL_LM));
        ModelSpec model = switch (type) {
            case ModelSpec.CNN -> cnn(n);
            case ModelSpec.CAUSAL_LM -> causalLm(n);
            default -> mlp(n);
        };
        n.rejectUnknownKeys();
        return model;
    }

    private static ModelSpec mlp(SpecNode n) {
        int inputs = n.integer("inputs", 0, 1, Integer.MAX_VALUE);
        if (inputs == 0) {
            throw new SpecException(n.path("inputs"), "is required: features per sample, an integer >= 1");
        }
        List<Integer> hidden = n.integers("hidden", List.of(), 1);
        String activation = n.oneOf("activation", "relu", ACTIVATIONS);
        int classes = classes(n);
        int outputs = n.integer("outputs", 1, 1, 1_000_000);
        double dropout = rate(n, "dropout");
        return new ModelSpec(ModelSpec.MLP, inputs, hidden, activation, classes, classes > 0 ? 1 : outputs, dropout);
    }

    private static ModelSpec cnn(SpecNode n) {
        List<Integer> shape = n.integers("inputShape", null, 1);
        if (shape == null || shape.size() != 3) {
            throw new SpecException(
                    n.path("inputShape"),
                    (shape == null ? "is required" : "has " + shape.size() + " entries")
                            + ": [C, H, W] of one image, e.g. [1, 28, 28]");
        }
        List<Integer> channels = n.integers("conv", null, 1);
        if (channels == null || channels.isEmpty()) {
            throw new SpecException(
                    n.path("conv"), "is required: the output channels of each conv/pool stage, e.g. [32, 64]");
        }
        int kernel = n.integer("kernel", 3, 1, 31);
        if (kernel % 2 == 0) {
            throw new SpecException(
                    n.path("kernel"), kernel + " is even; allowed: an odd size in [1, 31] (padding keeps H and W)");
        }
        int pool = n.integer("pool", 2, 1, 16);
        double convDropout = rate(n, "convDropout");
        int h = shape.get(1);
        int w = shape.get(2);
        for (int i = 0; i < channels.size(); i++) {
            if (h < pool || w < pool) {
                throw new SpecException(
                        n.path("conv"),
                        channels.size() + " stages of " + pool + "x" + pool + " pooling do not fit"
                                + " a " + shape.get(1) + "x" + shape.get(2) + " image: stage " + (i + 1)
                                + " would pool " + h + "x" + w
                                + "; use fewer stages or a smaller pool");
            }
            h /= pool;
            w /= pool;
        }
        List<Integer> hidden = n.integers("hidden", List.of(), 1);
        String activation = n.oneOf("activation", "relu", ACTIVATIONS);
        int classes = classes(n);
        int outputs = n.integer("outputs", 1, 1, 1_000_000);
        double dropout = rate(n, "dropout");
        long inputs = (long) shape.get(0) * shape.get(1) * shape.get(2);
        if (inputs > Integer.MAX_VALUE) {
            throw new SpecException(
                    n.path("inputShape"), shape + " is too large: at most " + Integer.MAX_VALUE + " values per sample");
        }
        return new ModelSpec(
                ModelSpec.CNN,
                (int) inputs,
                hidden,
                activation,
                classes,
                classes > 0 ? 1 : outputs,
                dropout,
                new ModelSpec.Conv(shape, channels, kernel, pool, convDropout),
                null);
    }

    private static ModelSpec causalLm(SpecNode n) {
        int context = n.integer("context", 0, 1, 1 << 16);
        if (context == 0) {
            throw new SpecException(
                    n.path("context"), "is required: tokens per sample (the --context of `streamtrain ingest text`)");
        }
        int layers = n.integer("layers", 2, 1, 1000);
        int heads = n.integer("heads", 4, 1, 1024);
        int width = n.integer("width", 128, 1, 1 << 16);
        if (width % heads != 0) {
            throw new SpecException(
                    n.path("width"), width + " does not split into " + heads + " heads; allowed: a multiple of heads");
        }
        int mlpWidth = n.integer("mlpWidth", 4 * width, 1, 1 << 20);
        String activation = n.oneOf("activation", "gelu", ACTIVATIONS);
        double dropout = rate(n, "dropout");
        double attentionDropout = rate(n, "attentionDropout");
        boolean tie = n.bool("tieEmbeddings", true);
        return new ModelSpec(
                ModelSpec.CAUSAL_LM,
                context,
                List.of(),
                activation,
                ModelSpec.BYTE_VOCABULARY,
                1,
                dropout,
                null,
                new ModelSpec.Transformer(context, layers, heads, width, mlpWidth, attentionDropout, tie));
    }

    private static int classes(SpecNode n) {
        int classes = n.integer("classes", 0, 0, 1_000_000);
        if (classes == 1) {
            throw new SpecException(n.path("classes"), "1 is not allowed: use 2 or more classes, or 0 for regression");
        }
        return classes;
    }

    private static double rate(SpecNode n, String key) {
        return n.number(key, 0.0, d -> d >= 0 && d < 1, "a rate in [0, 1)");
    }

    private static InitSpec init(SpecNode n, String run) {
        long seed = n.integer("seed", 42L, Long.MIN_VALUE, Long.MAX_VALUE);
        String from = n.string("from", null);
        if (from != null) {
            if (from.isBlank()) {
                throw new SpecException(n.path("from"), "is empty; allowed: a .safetensors file or run:NAME[@best|@E]");
            }
            try {
                InitSpec probe = new InitSpec(seed, from);
                if (probe.checkpoint().isPresent()
                        && probe.checkpoint().get().run().equals(run)) {
                    throw new SpecException(
                            n.path("from"),
                            "names this run's own checkpoints; a run resumes from those by itself."
                                    + " Name another run, or remove init.from");
                }
            } catch (IllegalArgumentException e) {
                throw new SpecException(n.path("from"), e.getMessage());
            }
        }
        List<String> freeze = n.strings("freeze", List.of());
        n.rejectUnknownKeys();
        return new InitSpec(seed, from, freeze);
    }

    private static OptimizerSpec optimizer(SpecNode n) {
        String type = n.oneOf("type", "adamw", List.of("sgd", "adam", "adamw"));
        // upper bounds far above any useful value: they keep a typo (or a hostile SET) from overflowing every weight in
        // one step
        double lr = n.number(
                "learningRate",
                0.001,
                d -> d > 0 && d <= MAX_LEARNING_RATE,
                "a number in (0, " + MAX_LEARNING_RATE + "]");
        double momentum = n.number("momentum", 0.0, d -> d >= 0 && d < 1, "a number in [0, 1)");
        double beta1 = n.number("beta1", 0.9, d -> d >= 0 && d < 1, "a number in [0, 1)");
        double beta2 = n.number("beta2", 0.999, d -> d >= 0 && d < 1, "a number in [0, 1)");
        double eps = n.number("epsilon", 1e-8, d -> d > 0, "a number > 0");
        OptimizerSpec.ScheduleSpec schedule = schedule(n.child("schedule"), lr);
        n.rejectUnknownKeys();
        return new OptimizerSpec(type, lr, momentum, beta1, beta2, eps, schedule);
    }

    private static OptimizerSpec.ScheduleSpec schedule(SpecNode n, double lr) {
        String type = n.oneOf("type", "constant", List.of("constant", "cosine"));
        long warmup = n.integer("warmupSteps", 0L, 0, Long.MAX_VALUE);
        long decay = n.integer("decaySteps", 0L, 0, Long.MAX_VALUE);
        double min = n.number("minLearningRate", 0.0, d -> d >= 0 && d <= lr, "a number in [0, learningRate]");
        if ("cosine".equals(type) && decay == 0) {
            throw new SpecException(
                    n.path("decaySteps"), "is required for a cosine schedule: steps after warmup, an integer >= 1");
        }
        n.rejectUnknownKeys();
        return new OptimizerSpec.ScheduleSpec(type, warmup, decay, min);
    }

    private static RegularizationSpec regularization(SpecNode n) {
        String nonNegative = "a number >= 0 (0 turns it off)";
        String penalty = "a number in [0, " + MAX_PENALTY + "] (0 turns it off)";
        RegularizationSpec r = new RegularizationSpec(
                n.number("l1", 0, d -> d >= 0 && d <= MAX_PENALTY, penalty),
                n.number("l2", 0, d -> d >= 0 && d <= MAX_PENALTY, penalty),
                n.number("l2sp", 0, d -> d >= 0 && d <= MAX_PENALTY, penalty),
                n.number("weightDecay", 0, d -> d >= 0 && d <= 1, "a number in [0, 1] (0 turns it off)"),
                n.strings("exclude", List.of()),
                n.number("clipGradNorm", 0, d -> d >= 0, nonNegative));
        n.rejectUnknownKeys();
        return r;
    }

    /** The metrics the evaluator computes, so the only ones early stopping can watch. */
    private static final List<String> MONITORS = List.of("val_loss", "val_accuracy", "val_perplexity");

    private static final List<String> CRITERIA = List.of("patience", "gl", "pq", "up");

    /** Semantics of every key: {@link EarlyStoppingSpec}. */
    private static EarlyStoppingSpec earlyStopping(SpecNode n) {
        boolean enabled = n.bool("enabled", true);
        String monitor = n.oneOf("monitor", "val_loss", MONITORS);
        // Accuracy grows as the model gets better; the losses (perplexity included) fall.
        String defaultMode = monitor.equals("val_accuracy") ? "max" : "min";
        boolean modeGiven = n.has("mode");
        String mode = n.oneOf("mode", defaultMode, List.of("min", "max"));
        int patience = n.integer("patience", 3, 0, 1_000_000);
        double minDelta = n.number("minDelta", 0, d -> d >= 0, "a number >= 0");
        int startFromEpoch = n.integer("startFromEpoch", 1, 1, 1_000_000);
        Double baseline = optionalNumber(n, "baseline");
        Double stoppingThreshold = optionalNumber(n, "stoppingThreshold");
        Double divergenceThreshold = optionalNumber(n, "divergenceThreshold");
        boolean checkFinite = n.bool("checkFinite", true);
        String criterion = n.oneOf("criterion", "patience", CRITERIA);

        // Prechelt's criteria are ratios and increases of an error, which falls as the model learns.
        if (!criterion.equals("patience") && mode.equals("max")) {
            throw new SpecException(
                    n.path("criterion"),
                    "'" + criterion + "' needs a loss (mode min), but mode is max"
                            + (modeGiven ? "" : " (the default for " + monitor + ")")
                            + "; allowed with mode max: patience (or monitor val_loss or val_perplexity with mode min)");
        }
        Double alpha = null;
        if (onlyFor(n, "alpha", criterion, "gl", "pq")) {
            alpha = n.number("alpha", criterion.equals("gl") ? 5.0 : 0.5, d -> d > 0, "a number > 0");
        }
        Integer strip = null;
        if (onlyFor(n, "strip", criterion, "pq", "up")) {
            strip = n.integer("strip", 5, 1, 1_000_000);
            if (criterion.equals("pq") && strip == 1) {
                throw new SpecException(
                        n.path("strip"),
                        "1 is too short for pq: the progress of a one-epoch strip is always 0;"
                                + " allowed: an integer in [2, 1000000]");
            }
        }
        Integer successive = null;
        if (onlyFor(n, "successive", criterion, "up")) {
            successive = n.integer("successive", 3, 1, 1_000_000);
        }

        // Thresholds the wrong way round would stop the run at its first evaluation, whatever the value.
        if (stoppingThreshold != null && divergenceThreshold != null) {
            boolean min = mode.equals("min");
            if (min ? divergenceThreshold <= stoppingThreshold : divergenceThreshold >= stoppingThreshold) {
                throw new SpecException(
                        n.path("divergenceThreshold"),
                        num(divergenceThreshold) + " would stop every run:"
                                + " with mode " + mode + " it must be " + (min ? "above" : "below")
                                + " stoppingThreshold " + num(stoppingThreshold));
            }
        }
        n.rejectUnknownKeys();
        return new EarlyStoppingSpec(
                monitor,
                mode,
                patience,
                minDelta,
                enabled,
                startFromEpoch,
                baseline,
                stoppingThreshold,
                divergenceThreshold,
                checkFinite,
                criterion,
                alpha,
                strip,
                successive);
    }

    /** An optional number: null when absent. */
    private static Double optionalNumber(SpecNode n, String key) {
        return n.has(key) ? n.number(key, 0, d -> true, "a number") : null;
    }

    /**
     * Whether {@code key} applies to {@code criterion}. A key given for a criterion that does
     * not use it is an error: it would otherwise be ignored silently, e.g. an alpha written
     * without {@code criterion: gl}.
     */
    private static boolean onlyFor(SpecNode n, String key, String criterion, String... criteria) {
        boolean applies = List.of(criteria).contains(criterion);
        if (!applies && n.has(key)) {
            throw new SpecException(
                    n.path(key),
                    "only applies to criterion " + String.join(" or ", criteria) + ", but criterion is " + criterion
                            + "; remove it or set criterion");
        }
        return applies;
    }

    private static String num(double d) {
        return d == Math.rint(d) && Math.abs(d) < 1e15 ? Long.toString((long) d) : Double.toString(d);
    }

    /** The most validation records a sliding set holds: it is read from the topic for every evaluation. */
    public static final int MAX_SLIDING_VALIDATION = 1_000_000;

    private static EvaluationSpec evaluation(SpecNode n, DataSpec data) {
        // a continuous run never ends by itself: without a bound, trainers would train on blind for as long as the
        // evaluator is away
        int dflt = data.continuous() && data.validation() != null
                ? EvaluationSpec.CONTINUOUS_MAX_LAG
                : EvaluationSpec.DEFAULT.maxLag();
        String onDegrade = n.oneOf(
                "onDegrade",
                EvaluationSpec.NONE,
                List.of(EvaluationSpec.NONE, EvaluationSpec.PAUSE, EvaluationSpec.ROLLBACK));
        if (!data.continuous() && !EvaluationSpec.NONE.equals(onDegrade)) {
            throw new SpecException(
                    n.path("onDegrade"),
                    "is only for data.mode continuous (a bounded run that stops improving is"
                            + " stopped: see earlyStopping)");
        }
        int sliding = n.integer("slidingValidation", 0, 0, MAX_SLIDING_VALIDATION);
        if (sliding > 0 && (!data.continuous() || data.validation() == null)) {
            throw new SpecException(
                    n.path("slidingValidation"),
                    "is only for data.mode continuous with a data.validation topic (a"
                            + " bounded run is scored on one fixed holdout)");
        }
        EvaluationSpec s = new EvaluationSpec(n.integer("maxLag", dflt, 0, 1_000_000), onDegrade, sliding);
        n.rejectUnknownKeys();
        return s;
    }

    private static SyncSpec sync(SpecNode n) {
        SyncSpec d = SyncSpec.defaults();
        SyncSpec s = new SyncSpec(
                n.integer("everySteps", d.everySteps(), 1, Integer.MAX_VALUE),
                n.oneOf("outer", d.outer(), List.of(SyncSpec.AVERAGE, SyncSpec.NESTEROV)),
                n.number("outerLearningRate", d.outerLearningRate(), x -> x > 0, "a number > 0"),
                n.number("outerMomentum", d.outerMomentum(), x -> x >= 0 && x < 1, "a number in [0, 1)"),
                n.integer("timeoutSeconds", d.timeoutSeconds(), 1, 86_400),
                n.integer("minNodes", d.minNodes(), 1, 10_000),
                n.oneOf("mode", d.mode(), SyncSpec.MODES),
                SyncSpec.FLOAT32,
                0);
        if (s.streaming()) {
            String encoding = n.oneOf("encoding", d.encoding(), SyncSpec.ENCODINGS);
            int overlap = n.integer("overlapSteps", SyncSpec.defaultOverlap(s.everySteps()), 0, Integer.MAX_VALUE);
            if (overlap >= s.everySteps()) {
                throw new SpecException(
                        n.path("overlapSteps"),
                        overlap + " is not below everySteps (" + s.everySteps()
                                + "): a node applies a round before it hands in the next");
            }
            Double mixing = n.has("mixing") ? n.number("mixing", 0, x -> x >= 0 && x < 1, "a number in [0, 1)") : null;
            s = s.withEncoding(encoding).withOverlapSteps(overlap).withMixing(mixing);
        } else {
            // strict rounds are float32 without overlap: those values may be written out (a manifest's spec has them),
            // no others
            String encoding = n.string("encoding", SyncSpec.FLOAT32);
            int overlap = n.integer("overlapSteps", 0, 0, Integer.MAX_VALUE);
            String key = !SyncSpec.FLOAT32.equals(encoding)
                    ? "encoding"
                    : overlap != 0 ? "overlapSteps" : n.has("mixing") ? "mixing" : null;
            if (key != null) {
                throw new SpecException(
                        n.path(key),
                        "only applies to mode streaming, but mode is strict (parameters and"
                                + " optimizer state in float32, no overlap); remove it or set mode: streaming");
            }
        }
        n.rejectUnknownKeys();
        return s;
    }

    private static CheckpointSpec checkpoints(SpecNode n) {
        String store = n.string("store", "kafka");
        if (!store.equals("kafka") && !store.startsWith("file:///")) {
            throw new SpecException(
                    n.path("store"),
                    "'" + store + "' is not allowed; allowed: kafka, or file:///absolute/dir (claim check)");
        }
        int chunk = n.integer("chunkBytes", DEFAULT_CHUNK_BYTES, 1024, 64 * 1024 * 1024);
        n.rejectUnknownKeys();
        return new CheckpointSpec(store, chunk);
    }

    private static void requireName(String path, String value) {
        if (!NAME.matcher(value).matches()) {
            throw new SpecException(
                    path, "'" + value + "' is not a usable name; allowed: 1-200 of the characters A-Z a-z 0-9 . _ -");
        }
    }
}
