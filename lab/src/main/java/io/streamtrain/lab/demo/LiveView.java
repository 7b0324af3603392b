package io.streamtrain.lab.demo;

import java.io.PrintStream;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * The demo's terminal view: one status line per trainer node kept at the bottom of the
 * screen (redrawn in place), with events (evaluations, the STOP) scrolling above it. When
 * stdout is not a terminal (CI logs, a pipe) it degrades to plain lines: every event, and
 * each node's status every {@code plainEverySeconds}.
 */
public final class LiveView {
    private static final String UP = "\u001b[%dA";
    private static final String CLEAR_LINE = "\u001b[2K\r";
    private static final int BAR = 20;

    /** What a node's status line shows. {@code epochFraction} is NaN when unknown. */
    public record NodeStatus(
            int epoch,
            int maxEpochs,
            double epochFraction,
            long step,
            double samplesPerSecond,
            double dataLoss,
            String state) {}

    private final PrintStream out;
    private final boolean terminal;
    private final long plainEveryNanos;
    private final Map<String, NodeStatus> nodes = new LinkedHashMap<>();
    private final Map<String, Long> lastPlain = new LinkedHashMap<>();
    private int drawn;

    public LiveView(PrintStream out, boolean terminal, int plainEverySeconds) {
        this.out = out;
        this.terminal = terminal;
        this.plainEveryNanos = plainEverySeconds * 1_000_000_000L;
    }

    /** Whether this process's stdout is an interactive terminal that understands cursor movement. */
    // on Java 17 (the release this builds for) System.console() is null unless both streams are a terminal;
    // Java 22 always answers one, and isTerminal() says the same there
    @SuppressWarnings("SystemConsoleNull")
    public static boolean stdoutIsTerminal() {
        String term = System.getenv("TERM");
        return System.console() != null && term != null && !term.equals("dumb");
    }

    public synchronized void node(String id, NodeStatus status) {
        NodeStatus before = nodes.put(id, status);
        if (terminal) {
            redraw();
            return;
        }
        long now = System.nanoTime();
        Long last = lastPlain.get(id);
        boolean changed = before == null || !before.state().equals(status.state());
        if (changed || now - last >= plainEveryNanos) {
            lastPlain.put(id, now);
            out.println(format(id, status));
        }
    }

    /** An event line: scrolls above the node lines. */
    public synchronized void line(String text) {
        if (terminal) {
            erase();
            out.println(text);
            redraw();
        } else {
            out.println(text);
        }
    }

    /** Leaves the node lines as they are and moves below them. */
    public synchronized void finish() {
        drawn = 0;
        out.flush();
    }

    private void erase() {
        if (drawn > 0) {
            out.printf(UP, drawn);
            for (int i = 0; i < drawn; i++) {
                out.print(CLEAR_LINE + "\n");
            }
            out.printf(UP, drawn);
        }
        drawn = 0;
    }

    private void redraw() {
        erase();
        for (Map.Entry<String, NodeStatus> e : nodes.entrySet()) {
            out.print(CLEAR_LINE + format(e.getKey(), e.getValue()) + "\n");
        }
        drawn = nodes.size();
        out.flush();
    }

    static String format(String id, NodeStatus s) {
        String bar;
        if (Double.isNaN(s.epochFraction())) {
            bar = " ".repeat(BAR + 2);
        } else {
            int filled = (int) Math.round(Math.max(0, Math.min(1, s.epochFraction())) * BAR);
            bar = "[" + "#".repeat(filled) + ".".repeat(BAR - filled) + "]";
        }
        return String.format(
                Locale.ROOT,
                "  %-14s epoch %3d/%-3d %s step %6d %7.0f samples/s  loss %s  %s",
                id,
                s.epoch(),
                s.maxEpochs(),
                bar,
                s.step(),
                Double.isNaN(s.samplesPerSecond()) ? 0 : s.samplesPerSecond(),
                Double.isNaN(s.dataLoss()) ? "   -  " : String.format(Locale.ROOT, "%.4f", s.dataLoss()),
                s.state());
    }
}
