package io.streamtrain.cli.ingest;

import java.io.PrintWriter;
import java.util.Locale;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Progress of writing one topic, on stderr: a bar redrawn in place on a terminal, a plain
 * line every few seconds otherwise (so CI logs stay readable), or nothing. Counts records
 * and bytes as Kafka acknowledges them; safe to update from the producer's thread.
 */
final class Progress implements AutoCloseable {
    /** How progress is shown. */
    enum Mode {
        /** A bar on a terminal, plain lines otherwise. */
        AUTO,
        BAR,
        PLAIN,
        NONE;

        /** AUTO resolved: a bar only when the JVM is attached to a terminal that draws one. */
        // on Java 17 (the release this builds for) System.console() is null unless both streams are a terminal;
        // Java 22 always answers one, and isTerminal() says the same there
        @SuppressWarnings("SystemConsoleNull")
        Mode resolve() {
            if (this != AUTO) {
                return this;
            }
            boolean terminal = System.console() != null && !"dumb".equals(System.getenv("TERM"));
            return terminal ? BAR : PLAIN;
        }
    }

    static final long BAR_EVERY_MS = 200;
    static final long PLAIN_EVERY_MS = 5_000;
    private static final int BAR_WIDTH = 30;

    private final PrintWriter out;
    private final Mode mode;
    private final String topic;
    private final long total;
    private final AtomicLong records = new AtomicLong();
    private final AtomicLong bytes = new AtomicLong();
    private final long started = System.nanoTime();
    private final ScheduledExecutorService ticker;
    private int lastWidth;

    /** Starts showing progress of writing {@code total} records to {@code topic}. */
    Progress(PrintWriter out, Mode mode, String topic, long total) {
        this.out = out;
        this.mode = mode.resolve();
        this.topic = topic;
        this.total = total;
        if (this.mode == Mode.NONE) {
            ticker = null;
            return;
        }
        ticker = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "ingest-progress");
            t.setDaemon(true);
            return t;
        });
        long every = this.mode == Mode.BAR ? BAR_EVERY_MS : PLAIN_EVERY_MS;
        var unused =
                ticker.scheduleAtFixedRate(this::show, every, every, TimeUnit.MILLISECONDS); // ends with shutdownNow
    }

    void add(long recordCount, long byteCount) {
        records.addAndGet(recordCount);
        bytes.addAndGet(byteCount);
    }

    long records() {
        return records.get();
    }

    private double seconds() {
        return (System.nanoTime() - started) / 1e9;
    }

    private synchronized void show() {
        if (mode == Mode.BAR) {
            String s = bar(topic, records.get(), total, bytes.get(), seconds(), BAR_WIDTH);
            // pad over a longer previous line: the carriage return does not clear it
            out.print("\r" + s + " ".repeat(Math.max(0, lastWidth - s.length())));
            lastWidth = s.length();
            out.flush();
        } else if (mode == Mode.PLAIN) {
            out.println(line(topic, records.get(), total, bytes.get(), seconds()));
        }
    }

    /** Stops the display; a bar is drawn complete and its line ended. */
    @Override
    public synchronized void close() {
        if (ticker == null) {
            return;
        }
        ticker.shutdownNow();
        if (mode == Mode.BAR) {
            show();
            out.println();
        }
    }

    /** {@code "fashion.train [#######>...........]  38%  361/938 records  512 records/s  1.5 MiB/s"} */
    static String bar(String topic, long done, long total, long bytes, double seconds, int width) {
        double fraction = total == 0 ? 1 : Math.min(1, (double) done / total);
        int filled = (int) Math.round(fraction * width);
        String bar = "#".repeat(filled) + (filled < width ? ">" + ".".repeat(width - filled - 1) : "");
        return String.format(
                Locale.ROOT,
                "%s [%s] %3d%%  %d/%d records  %s records/s  %s/s",
                topic,
                bar,
                Math.round(fraction * 100),
                done,
                total,
                rate(done, seconds),
                bytes(bytes / Math.max(seconds, 1e-3)));
    }

    /** {@code "ingest fashion.train: 361/938 records (38%), 512 records/s, 1.5 MiB/s"} */
    static String line(String topic, long done, long total, long bytes, double seconds) {
        long percent = total == 0 ? 100 : Math.round(100.0 * done / total);
        return String.format(
                Locale.ROOT,
                "ingest %s: %d/%d records (%d%%), %s records/s, %s/s",
                topic,
                done,
                total,
                percent,
                rate(done, seconds),
                bytes(bytes / Math.max(seconds, 1e-3)));
    }

    static String rate(long count, double seconds) {
        return String.format(Locale.ROOT, "%.0f", count / Math.max(seconds, 1e-3));
    }

    /** Bytes in binary units: {@code 512 B}, {@code 1.5 KiB}, {@code 188.4 MiB}, {@code 2.1 GiB}. */
    static String bytes(double b) {
        if (b < 1024) {
            return String.format(Locale.ROOT, "%.0f B", b);
        }
        String[] units = {"KiB", "MiB", "GiB", "TiB"};
        double v = b / 1024;
        int u = 0;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return String.format(Locale.ROOT, "%.1f %s", v, units[u]);
    }
}
