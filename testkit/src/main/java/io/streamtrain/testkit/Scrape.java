package io.streamtrain.testkit;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** One scrape of a service's {@code /metrics}, and what a test asks of it. */
public record Scrape(String text) {
    private static final HttpClient HTTP = HttpClient.newHttpClient();
    private static final Pattern PORT = Pattern.compile("serving /metrics, /healthz and /readyz on port (\\d+)");
    private static final Pattern SAMPLE = Pattern.compile("^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{[^}]*})? (\\S+)$");

    /** The port a service said it serves metrics on. */
    public static int port(ServiceProcess p) throws InterruptedException {
        p.awaitLine(l -> PORT.matcher(l).find(), 120);
        Matcher m = PORT.matcher(p.output());
        if (!m.find()) {
            throw new AssertionError("no metrics port in:\n" + p.output());
        }
        return Integer.parseInt(m.group(1));
    }

    public static HttpResponse<String> get(int port, String path) throws Exception {
        return HTTP.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
    }

    public static Scrape of(int port) throws Exception {
        HttpResponse<String> r = get(port, "/metrics");
        if (r.statusCode() != 200) {
            throw new AssertionError("/metrics on port " + port + " answered " + r.statusCode() + ": " + r.body());
        }
        return new Scrape(r.body());
    }

    /**
     * Scrapes {@code port} until the one sample {@code name} with {@code labels} reads {@code
     * expected}: a service sets a gauge a moment after the log line or topic record a test waits
     * for, on another thread. Fails with the last scrape's value after {@code seconds}.
     */
    public static void awaitValue(int port, double expected, long seconds, String name, String... labels)
            throws Exception {
        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(seconds);
        double last = of(port).value(name, labels);
        while (last != expected) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError(name + " " + List.of(labels) + " reads " + last + ", not " + expected
                        + ", after " + seconds + " s");
            }
            Thread.sleep(200);
            last = of(port).value(name, labels);
        }
    }

    /** Values of the samples named {@code name} whose labels include every one of {@code labels} ({@code key="value"}). */
    public List<Double> values(String name, String... labels) {
        List<Double> out = new ArrayList<>();
        for (String line : text.split("\n")) {
            Matcher m = SAMPLE.matcher(line);
            if (!m.matches() || !m.group(1).equals(name)) {
                continue;
            }
            String l = m.group(2) == null ? "" : m.group(2);
            boolean all = true;
            for (String want : labels) {
                all &= l.contains(want);
            }
            if (all) {
                out.add(Double.parseDouble(m.group(3)));
            }
        }
        return out;
    }

    /** The one sample named {@code name} with these labels; fails when there is none or several. */
    public double value(String name, String... labels) {
        List<Double> v = values(name, labels);
        if (v.size() != 1) {
            throw new AssertionError(v.size() + " samples of " + name + " with " + List.of(labels) + " in:\n" + text);
        }
        return v.get(0);
    }

    /** The metric families with a {@code # TYPE} line whose name starts with {@code prefix}. */
    public Set<String> families(String prefix) {
        Set<String> out = new LinkedHashSet<>();
        for (String line : text.split("\n")) {
            if (line.startsWith("# TYPE " + prefix)) {
                out.add(line.split(" ")[2]);
            }
        }
        return out;
    }
}
