package io.streamtrain.cli.ingest;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * The input lines a parser skipped, each reported as {@code file:line: problem} to a sink
 * (stderr in the command) as it is found, and counted per file. Past {@code maxListed}
 * lines are counted only, so a file of garbage does not flood the terminal; the summary
 * gives the totals either way.
 */
final class BadLines {
    private final Consumer<String> sink;
    private final int maxListed;
    private final Map<Path, Long> perFile = new LinkedHashMap<>();
    private final List<String> listed = new ArrayList<>();
    private long count;

    BadLines(Consumer<String> sink, int maxListed) {
        this.sink = sink;
        this.maxListed = maxListed;
    }

    void report(Path file, long line, String problem) {
        count++;
        perFile.merge(file, 1L, Long::sum);
        if (listed.size() < maxListed) {
            String entry = file + ":" + line + ": " + problem;
            listed.add(entry);
            sink.accept("bad line " + entry);
        } else if (listed.size() == maxListed && count == maxListed + 1) {
            sink.accept("(more than " + maxListed + " bad lines: the rest are counted, not listed)");
        }
    }

    long count() {
        return count;
    }

    /** The first reports, as {@code file:line: problem}. */
    List<String> listed() {
        return List.copyOf(listed);
    }

    /** "3 bad lines skipped (a.csv: 2, b.csv: 1)", or "no bad lines". */
    String summary() {
        if (count == 0) {
            return "no bad lines";
        }
        StringBuilder b = new StringBuilder()
                .append(count)
                .append(count == 1 ? " bad line" : " bad lines")
                .append(" skipped (");
        String sep = "";
        for (Map.Entry<Path, Long> e : perFile.entrySet()) {
            b.append(sep).append(e.getKey()).append(": ").append(e.getValue());
            sep = ", ";
        }
        return b.append(')').toString();
    }
}
