package io.streamtrain.lab.report;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * Writes a run's report directory: {@value #HTML} (summary, plots, the evaluations;
 * self-contained), {@value #CSV} (one row per evaluation) and {@value #SPEC} (the run
 * spec as given). A pure function of its input: no Kafka, no clock.
 *
 * <pre>{@code
 * RunReportWriter.write(new RunReport(run, specText, evaluations, manifests, samplesByNode,
 *         new RunOutcome("patience-exhausted", explanation, epochsLeft, best, wallTime)), Path.of("runs", run));
 * }</pre>
 */
public final class RunReportWriter {
    public static final String HTML = "report.html";
    public static final String CSV = "evaluations.csv";
    public static final String SPEC = "spec.yaml";

    private RunReportWriter() {}

    /**
     * Writes the three files into {@code dir}, creating it if missing. Each file is replaced
     * whole (written aside, then moved), so a report rewritten while a run goes on is never
     * seen half-written.
     *
     * @return the path of {@value #HTML}
     */
    public static Path write(RunReport report, Path dir) throws IOException {
        Files.createDirectories(dir);
        replace(dir.resolve(SPEC), report.specYaml());
        replace(dir.resolve(CSV), EvaluationsCsv.render(report.evaluations()));
        Path html = dir.resolve(HTML);
        replace(html, ReportPage.render(report));
        return html;
    }

    private static void replace(Path file, String text) throws IOException {
        Path aside = file.resolveSibling(file.getFileName() + ".tmp");
        Files.writeString(aside, text, StandardCharsets.UTF_8);
        try {
            Files.move(aside, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(aside, file, StandardCopyOption.REPLACE_EXISTING);
        }
    }
}
