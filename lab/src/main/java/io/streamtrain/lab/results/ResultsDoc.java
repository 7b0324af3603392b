package io.streamtrain.lab.results;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * Where an experiment publishes: its section of {@code <out>/results.md}, between markers
 * that name it (the rest of the document is left as it is), and its figures and data under
 * {@code <out>/results/}. Everything in a section is written by the experiment that
 * measured it; nothing is typed in by hand.
 */
final class ResultsDoc {
    static final String DOCUMENT = "results.md";
    static final String FILES = "results";

    private final Path out;
    private final String name;

    ResultsDoc(Path out, String name) {
        this.out = out;
        this.name = name;
    }

    static String begin(String name) {
        return "<!-- BEGIN " + name + ": written by streamtrain results " + name
                + "; edits between these markers are overwritten -->";
    }

    static String end(String name) {
        return "<!-- END " + name + " -->";
    }

    /** Writes a figure; returns its link, relative to the document. */
    String figure(String suffix, String svg) {
        return write(name + "-" + suffix + ".svg", svg);
    }

    /** Writes the experiment's numbers as CSV (a header line, then one line per row); returns its link. */
    String csv(List<String> header, List<List<Object>> rows) {
        StringBuilder s = new StringBuilder(String.join(",", header)).append('\n');
        for (List<Object> row : rows) {
            s.append(row.stream().map(ResultsDoc::cell).collect(Collectors.joining(",")))
                    .append('\n');
        }
        return write(name + ".csv", s.toString());
    }

    /** Writes a file of the experiment (a spec, ...) beside its figures; returns its link. */
    String write(String fileName, String content) {
        try {
            Path dir = Files.createDirectories(out.resolve(FILES));
            Files.writeString(dir.resolve(fileName), content);
            return FILES + "/" + fileName;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + out.resolve(FILES).resolve(fileName), e);
        }
    }

    /**
     * Replaces the experiment's section of the document with {@code markdown} (appended when
     * the document has none; the document is created when missing).
     *
     * @return the document
     */
    Path section(String markdown) {
        Path doc = out.resolve(DOCUMENT);
        try {
            Files.createDirectories(out);
            String text = Files.exists(doc) ? Files.readString(doc) : "# Reference results\n";
            String block = begin(name) + "\n" + markdown.strip() + "\n" + end(name);
            int from = text.indexOf(begin(name));
            int to = text.indexOf(end(name));
            if (from >= 0 && to > from) {
                text = text.substring(0, from)
                        + block
                        + text.substring(to + end(name).length());
            } else {
                text = text.stripTrailing() + "\n\n" + block + "\n";
            }
            Files.writeString(doc, text);
            return doc;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + doc, e);
        }
    }

    private static String cell(Object o) {
        if (o instanceof Double d) {
            return Double.isNaN(d) ? "" : String.format(Locale.ROOT, "%.6g", d);
        }
        String s = String.valueOf(o);
        return s.contains(",") || s.contains("\"") ? "\"" + s.replace("\"", "\"\"") + "\"" : s;
    }
}
