package io.streamtrain.lab.results;

import io.streamtrain.core.djl.Engines;
import io.streamtrain.core.kafka.StartupException;
import io.streamtrain.lab.Lab;
import io.streamtrain.lab.report.RunFigures.Epoch;
import io.streamtrain.lab.report.SvgLineChart;
import io.streamtrain.lab.report.SvgLineChart.Dash;
import io.streamtrain.lab.report.SvgLineChart.Point;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.function.ToDoubleFunction;
import picocli.CommandLine.Option;

/**
 * A reference experiment: data loaded onto an embedded broker, runs trained one after
 * another as {@code streamtrain local} trains them, their checkpoints scored on held-out
 * topics, and the figures written into its section of {@code docs/results.md}.
 */
abstract class Experiment implements Callable<Integer> {
    @Option(
            names = "--fast",
            description =
                    "Tiny sizes (a minute or two): checks the direction of the effects, not the reference numbers. "
                            + "CI runs this.")
    boolean fast;

    @Option(
            names = "--out",
            defaultValue = "docs",
            paramLabel = "DIR",
            description = "Where the section of results.md and the figures (results/) go (default: ${DEFAULT-VALUE}).")
    Path outDir;

    @Option(
            names = "--report-dir",
            defaultValue = "runs/results",
            paramLabel = "DIR",
            description =
                    "Where each run's report goes, in a directory named after the run (default: ${DEFAULT-VALUE}).")
    Path reportDir;

    @Option(
            names = "--threads",
            defaultValue = "0",
            paramLabel = "N",
            description =
                    "PyTorch threads of each trainer node (the runs train one at a time; default: 0 = a trainer's own"
                            + " default, STREAMTRAIN_TORCH_THREADS or every core but one (at least 1): the evaluator and the broker share the machine;"
                            + " 1 for results sync, whose two nodes share it too).")
    int threads;

    @Option(names = "--verbose", description = "Show the services' and the broker's log lines too.")
    boolean verbose;

    /** The experiment's name: its subcommand and its section. */
    abstract String name();

    /** Why the experiment cannot run here (its data is missing, ...); null when it can. */
    abstract String problem();

    /** Loads the data, trains, scores and returns the section's markdown. */
    abstract String run(Lab lab, PrintStream out) throws Exception;

    @Override
    public Integer call() throws Exception {
        String problem = problem();
        if (problem != null) {
            System.err.println("streamtrain results " + name() + ": " + problem);
            return StartupException.BAD_CONFIGURATION;
        }
        PrintStream console = System.out;
        long started = System.nanoTime();
        int cores = threads > 0
                ? threads
                : Engines.defaultThreads(
                        System.getenv(Engines.THREADS_ENV), Runtime.getRuntime().availableProcessors());
        return Lab.run("streamtrain results " + name(), verbose, cores, reportDir, console, lab -> {
            String markdown = run(lab, console);
            String header = String.format(
                    Locale.ROOT,
                    "Made by `%s` on %s in %s of wall time. Machine: %s; the trainer node used %d "
                            + "PyTorch thread%s, the evaluator ran beside it.%n%n",
                    command(),
                    LocalDate.now(ZoneOffset.UTC),
                    duration((System.nanoTime() - started) / 1e9),
                    Machine.describe(),
                    cores,
                    cores == 1 ? "" : "s");
            Path doc = doc().section(header + markdown);
            console.println("streamtrain results " + name() + ": written to " + doc.toAbsolutePath() + " and "
                    + outDir.resolve(ResultsDoc.FILES).toAbsolutePath());
            return 0;
        });
    }

    /** The command as it was run: what a reader types to make the section again. */
    String command() {
        return "./streamtrain results " + name() + (fast ? " --fast" : "");
    }

    ResultsDoc doc() {
        return new ResultsDoc(outDir, name());
    }

    /** The "wrote ..." lines of {@code streamtrain ingest}'s output: what a section says was loaded. */
    static List<String> wrote(String printed) {
        return printed.lines().filter(l -> l.startsWith("wrote ")).toList();
    }

    static String duration(double seconds) {
        return seconds < 120
                ? String.format(Locale.ROOT, "%.0f s", seconds)
                : String.format(Locale.ROOT, "%d min %02d s", (long) seconds / 60, (long) seconds % 60);
    }

    static String f(double v, int decimals) {
        return Double.isNaN(v) ? "–" : String.format(Locale.ROOT, "%." + decimals + "f", v);
    }

    /** One line per epoch of each run: a figure of curves over epochs. */
    static SvgLineChart perEpoch(String title, String yLabel, List<Trained> runs, ToDoubleFunction<Epoch> value) {
        SvgLineChart chart = new SvgLineChart(title, "epoch", yLabel).optIntegerX();
        for (int i = 0; i < runs.size(); i++) {
            Trained t = runs.get(i);
            series(
                    chart,
                    i,
                    t.label(),
                    t.epochs().stream()
                            .map(e -> new Point(e.epoch(), value.applyAsDouble(e)))
                            .toList());
        }
        return chart;
    }

    /** The i-th series of a figure: the palette's colours in turn, solid, then dashed, then dotted. */
    @SuppressWarnings("EnumOrdinal") // the dash styles are taken in turn, in their declared order
    static void series(SvgLineChart chart, int i, String name, List<Point> points) {
        int colours = SvgLineChart.PALETTE.size();
        chart.series(
                name, points, SvgLineChart.PALETTE.get(i % colours), Dash.values()[i / colours % Dash.values().length]);
    }

    /** The YAML of each run, folded away: what exactly was trained. */
    static String specs(List<Trained> runs) {
        StringBuilder s = new StringBuilder("<details><summary>The run specs</summary>\n\n");
        for (Trained t : runs) {
            s.append("`")
                    .append(t.label())
                    .append("`:\n\n```yaml\n")
                    .append(t.report().specYaml().strip())
                    .append("\n```\n\n");
        }
        return s.append("</details>\n").toString();
    }
}
