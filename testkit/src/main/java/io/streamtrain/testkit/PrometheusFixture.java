package io.streamtrain.testkit;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.streamtrain.testkit.MonitoringQueries.Query;
import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * A real Prometheus (the {@code prometheus} binary of the Debian package) for one test: it
 * scrapes the static targets the test names every second, evaluates the rule files it is given
 * every second, keeps its data in a temp directory, and answers PromQL through its HTTP API.
 *
 * <pre>{@code
 * try (PrometheusFixture prometheus = PrometheusFixture.builder()
 *         .target("streamtrain-trainer", "127.0.0.1:" + trainerPort)
 *         .optRuleFile(MonitoringQueries.RULES)
 *         .start()) {
 *     prometheus.awaitTargetsUp(Duration.ofSeconds(30));
 *     List<Sample> up = prometheus.query("up");
 * }
 * }</pre>
 */
public final class PrometheusFixture implements AutoCloseable {
    /** The Debian package that ships {@code prometheus} and {@code promtool}. */
    public static final String PACKAGE = "prometheus";

    /** One sample of an instant query: the series' labels ({@code __name__} included when kept) and its value. */
    public record Sample(Map<String, String> labels, double value) {}

    /** One point of a range query. */
    public record Point(Instant time, double value) {}

    /** One series of a range query. */
    public record Series(Map<String, String> labels, List<Point> points) {}

    /** A scrape target as Prometheus sees it: health is {@code up}, {@code down} or {@code unknown}. */
    public record Target(String job, String instance, String health, String lastError) {}

    /** A rule as Prometheus last evaluated it: health is {@code ok}, {@code err} or {@code unknown} (not yet evaluated). */
    public record Rule(String group, String name, String health, String lastError) {}

    /** Prometheus refused a query: {@code errorType} is its own ({@code bad_data} for a parse error, {@code execution}, …). */
    public static final class QueryException extends RuntimeException {
        private static final long serialVersionUID = 1L;
        private final String errorType;

        QueryException(String expr, String errorType, String error) {
            super(errorType + ": " + error + " (query: " + expr + ")");
            this.errorType = errorType;
        }

        public String errorType() {
            return errorType;
        }
    }

    /** Targets are required (at least one, or {@link #optScrapeSelf()}); the rest is optional. */
    public static final class Builder {
        private final Map<String, List<String>> targets = new LinkedHashMap<>();
        private final List<Path> ruleFiles = new ArrayList<>();
        private Duration interval = Duration.ofSeconds(1);
        private boolean scrapeSelf;

        private Builder() {}

        /** Scrape {@code hostPort} (e.g. {@code 127.0.0.1:9400}, path {@code /metrics}) under {@code job}. */
        public Builder target(String job, String hostPort) {
            targets.computeIfAbsent(job, j -> new ArrayList<>()).add(hostPort);
            return this;
        }

        /** Also scrape Prometheus's own {@code /metrics}, as job {@code prometheus}. */
        public Builder optScrapeSelf() {
            scrapeSelf = true;
            return this;
        }

        /** Load and evaluate a rules file (recorded series then answer queries like scraped ones). */
        public Builder optRuleFile(Path rules) {
            ruleFiles.add(rules.toAbsolutePath().normalize());
            return this;
        }

        /** Scrape and rule evaluation interval; 1 s unless set. */
        public Builder optInterval(Duration interval) {
            this.interval = interval;
            return this;
        }

        /** Starts Prometheus and waits until it is ready; fails with its log if it is not within 30 s. */
        public PrometheusFixture start() throws IOException, InterruptedException {
            if (targets.isEmpty() && !scrapeSelf) {
                throw new IllegalArgumentException(
                        "no target to scrape: name one with target(job, host:port) or optScrapeSelf()");
            }
            Path binary = binary("prometheus");
            IOException lastFailure = null;
            // a free port can be taken between finding it and Prometheus binding it: try another
            for (int attempt = 0; attempt < 3; attempt++) {
                PrometheusFixture fixture = new PrometheusFixture(this, binary, freePort());
                try {
                    fixture.awaitReady(Duration.ofSeconds(30));
                    return fixture;
                } catch (IOException e) {
                    fixture.close();
                    lastFailure = e;
                }
            }
            throw lastFailure;
        }
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path dir;
    private final Process process;
    private final Thread killOnExit;
    private final URI uri;
    private final HttpClient http =
            HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    private PrometheusFixture(Builder builder, Path binary, int port) throws IOException {
        dir = Files.createTempDirectory("prometheus-fixture");
        String listen = "127.0.0.1:" + port;
        uri = URI.create("http://" + listen);
        Path config = dir.resolve("prometheus.yml");
        Files.writeString(config, config(builder, listen));
        process = new ProcessBuilder(
                        binary.toString(),
                        "--config.file=" + config,
                        "--storage.tsdb.path=" + dir.resolve("data"),
                        "--web.listen-address=" + listen,
                        "--log.level=info")
                .redirectErrorStream(true)
                .redirectOutput(dir.resolve("prometheus.log").toFile())
                .start();
        // a test JVM that ends without close() must not leave Prometheus running
        killOnExit = new Thread(process::destroyForcibly, "prometheus-fixture-kill");
        Runtime.getRuntime().addShutdownHook(killOnExit);
    }

    public static Builder builder() {
        return new Builder();
    }

    /**
     * The path of {@code name} ({@code prometheus}, {@code promtool}) on the PATH; an
     * {@link AssertionError} naming the Debian package when it is missing, so a test fails, never skips.
     */
    public static Path binary(String name) {
        String path = System.getenv().getOrDefault("PATH", "");
        return Stream.of(path.split(File.pathSeparator))
                .map(d -> Path.of(d, name))
                .filter(Files::isExecutable)
                .findFirst()
                .orElseThrow(() -> new AssertionError(
                        "`" + name + "` is not on the PATH (" + path + "): install the Debian package `" + PACKAGE
                                + "` (apt-get install " + PACKAGE + "; .ci/run does it)"));
    }

    /** Base URI of the HTTP API, e.g. {@code http://127.0.0.1:40123}. */
    public URI uri() {
        return uri;
    }

    /** An instant query at the current time. A scalar comes back as one sample without labels. */
    public List<Sample> query(String expr) {
        JsonNode data = api("/api/v1/query", expr, Map.of("query", expr));
        String type = data.path("resultType").asText();
        List<Sample> samples = new ArrayList<>();
        switch (type) {
            case "vector" ->
                data.path("result")
                        .forEach(r -> samples.add(new Sample(
                                labels(r.path("metric")), value(r.path("value").get(1)))));
            case "scalar" ->
                samples.add(new Sample(Map.of(), value(data.path("result").get(1))));
            default -> throw new QueryException(expr, "unsupported", "an instant query answered with a " + type);
        }
        return samples;
    }

    /** A range query from {@code start} to {@code end} every {@code step}. */
    public List<Series> queryRange(String expr, Instant start, Instant end, Duration step) {
        JsonNode data = api(
                "/api/v1/query_range",
                expr,
                Map.of(
                        "query", expr,
                        "start", String.valueOf(start.toEpochMilli() / 1000.0),
                        "end", String.valueOf(end.toEpochMilli() / 1000.0),
                        "step", String.valueOf(step.toMillis() / 1000.0)));
        List<Series> series = new ArrayList<>();
        for (JsonNode r : data.path("result")) {
            List<Point> points = new ArrayList<>();
            r.path("values")
                    .forEach(v -> points.add(
                            new Point(Instant.ofEpochMilli(Math.round(v.get(0).asDouble() * 1000)), value(v.get(1)))));
            series.add(new Series(labels(r.path("metric")), points));
        }
        return series;
    }

    /** The scrape targets and how their last scrape went. */
    public List<Target> targets() {
        List<Target> targets = new ArrayList<>();
        for (JsonNode t :
                api("/api/v1/targets", "targets", Map.of("state", "active")).path("activeTargets")) {
            targets.add(new Target(
                    t.path("labels").path("job").asText(),
                    t.path("labels").path("instance").asText(),
                    t.path("health").asText(),
                    t.path("lastError").asText()));
        }
        return targets;
    }

    /** Whether every target's last scrape succeeded. */
    public boolean targetsUp() {
        List<Target> targets = targets();
        return !targets.isEmpty() && targets.stream().allMatch(t -> t.health().equals("up"));
    }

    /** Waits until every target has been scraped successfully; fails naming the others and their errors. */
    public void awaitTargetsUp(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!targetsUp()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("targets not up within " + timeout.toSeconds() + " s: "
                        + targets().stream()
                                .filter(t -> !t.health().equals("up"))
                                .map(t -> t.job() + " " + t.instance() + " " + t.health() + " " + t.lastError())
                                .collect(Collectors.joining("; ")));
            }
            Thread.sleep(200);
        }
    }

    /**
     * The queries that still return no data, or an error, after waiting up to {@code within} for
     * all of them to return some: each name (a panel title, a rule) with {@code no data} or the
     * error. Empty when every query returns at least one sample at the current time.
     */
    public Map<String, String> withoutData(List<Query> queries, Duration within) throws InterruptedException {
        long deadline = System.nanoTime() + within.toNanos();
        while (true) {
            Map<String, String> failing = new LinkedHashMap<>();
            for (Query q : queries) {
                try {
                    if (query(q.expr()).isEmpty()) {
                        failing.put(q.name(), "no data: " + q.expr());
                    }
                } catch (QueryException e) {
                    failing.put(q.name(), e.getMessage());
                }
            }
            if (failing.isEmpty() || System.nanoTime() > deadline) {
                return failing;
            }
            Thread.sleep(500);
        }
    }

    /** Every loaded rule with the health of its last evaluation. */
    public List<Rule> rules() {
        List<Rule> rules = new ArrayList<>();
        for (JsonNode g : api("/api/v1/rules", "rules", Map.of()).path("groups")) {
            for (JsonNode r : g.path("rules")) {
                rules.add(new Rule(
                        g.path("name").asText(),
                        r.path("name").asText(),
                        r.path("health").asText(),
                        r.path("lastError").asText()));
            }
        }
        return rules;
    }

    /** What Prometheus has logged so far. */
    public String log() {
        try {
            return Files.readString(dir.resolve("prometheus.log"));
        } catch (IOException e) {
            return "(no log: " + e + ")";
        }
    }

    @Override
    public void close() {
        process.destroy();
        try {
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
        try {
            Runtime.getRuntime().removeShutdownHook(killOnExit);
        } catch (IllegalStateException alreadyExiting) {
            // the hook runs anyway
        }
        deleteTree(dir);
    }

    private static String config(Builder builder, String listen) {
        long seconds = Math.max(1, builder.interval.toSeconds());
        StringBuilder yaml = new StringBuilder()
                .append("global:\n")
                .append("  scrape_interval: ")
                .append(seconds)
                .append("s\n")
                .append("  scrape_timeout: ")
                .append(seconds)
                .append("s\n")
                .append("  evaluation_interval: ")
                .append(seconds)
                .append("s\n");
        if (!builder.ruleFiles.isEmpty()) {
            yaml.append("rule_files:\n");
            builder.ruleFiles.forEach(
                    f -> yaml.append("  - ").append(quote(f.toString())).append('\n'));
        }
        yaml.append("scrape_configs:\n");
        Map<String, List<String>> jobs = new LinkedHashMap<>(builder.targets);
        if (builder.scrapeSelf) {
            jobs.computeIfAbsent("prometheus", j -> new ArrayList<>()).add(listen);
        }
        jobs.forEach((job, hosts) -> yaml.append("  - job_name: ")
                .append(quote(job))
                .append('\n')
                .append("    static_configs:\n")
                .append("      - targets: [")
                .append(hosts.stream().map(PrometheusFixture::quote).collect(Collectors.joining(", ")))
                .append("]\n"));
        return yaml.toString();
    }

    /** A YAML double-quoted string (JSON's quoting is valid YAML). */
    private static String quote(String s) {
        try {
            return JSON.writeValueAsString(s);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private void awaitReady(Duration timeout) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                throw new IOException(
                        "prometheus exited (" + process.exitValue() + ") before it was ready; its log:\n" + log());
            }
            try {
                HttpResponse<Void> r = http.send(
                        HttpRequest.newBuilder(uri.resolve("/-/ready"))
                                .timeout(Duration.ofSeconds(2))
                                .build(),
                        HttpResponse.BodyHandlers.discarding());
                if (r.statusCode() == 200) {
                    return;
                }
            } catch (IOException notYet) {
                // not listening yet
            }
            Thread.sleep(100);
        }
        throw new IOException("prometheus not ready within " + timeout.toSeconds() + " s; its log:\n" + log());
    }

    /** GETs an API path and returns its {@code data}; a refusal becomes a {@link QueryException} about {@code what}. */
    private JsonNode api(String path, String what, Map<String, String> params) {
        String query = params.entrySet().stream()
                .map(e -> e.getKey() + "=" + URLEncoder.encode(e.getValue(), StandardCharsets.UTF_8))
                .collect(Collectors.joining("&"));
        HttpRequest request = HttpRequest.newBuilder(uri.resolve(query.isEmpty() ? path : path + "?" + query))
                .timeout(Duration.ofSeconds(30))
                .GET()
                .build();
        JsonNode response;
        try {
            response = JSON.readTree(
                    http.send(request, HttpResponse.BodyHandlers.ofString()).body());
        } catch (IOException e) {
            throw new UncheckedIOException(
                    "prometheus at " + uri + " did not answer " + path + "; its log:\n" + log(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
        if (!response.path("status").asText().equals("success")) {
            throw new QueryException(
                    what,
                    response.path("errorType").asText(),
                    response.path("error").asText());
        }
        return response.path("data");
    }

    private static Map<String, String> labels(JsonNode metric) {
        Map<String, String> labels = new LinkedHashMap<>();
        metric.properties().forEach(e -> labels.put(e.getKey(), e.getValue().asText()));
        return labels;
    }

    /** Prometheus writes sample values as strings, with {@code NaN}, {@code +Inf} and {@code -Inf}. */
    private static double value(JsonNode v) {
        return switch (v.asText()) {
            case "NaN" -> Double.NaN;
            case "+Inf" -> Double.POSITIVE_INFINITY;
            case "-Inf" -> Double.NEGATIVE_INFINITY;
            default -> Double.parseDouble(v.asText());
        };
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort();
        }
    }

    private static void deleteTree(Path root) {
        try (Stream<Path> paths = Files.walk(root)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException ignored) {
            // a temp dir left behind is harmless
        }
    }
}
