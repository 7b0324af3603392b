package io.streamtrain.core.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Tags;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

class MetricsServerTest {
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    private static HttpResponse<String> get(MetricsServer server, String path) throws Exception {
        return HTTP.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void servesMetersWithTheCommonTagsInPrometheusFormat() throws Exception {
        try (MetricsServer server =
                MetricsServer.start(0, new Health(Duration.ofMinutes(1)), Tags.of("role", "trainer", "node", "n1"))) {
            Counter.builder("streamtrain.test.things")
                    .description("Things")
                    .register(server.registry())
                    .increment(3);
            HttpResponse<String> r = get(server, "/metrics");
            assertEquals(200, r.statusCode());
            assertTrue(r.body().contains("# HELP streamtrain_test_things_total Things"), r.body());
            assertTrue(r.body().contains("streamtrain_test_things_total{node=\"n1\",role=\"trainer\",} 3.0"), r.body());
            assertTrue(r.body().contains("jvm_memory_used_bytes{"), "JVM meters are bound");
            assertTrue(r.body().contains("process_cpu_usage{"), "process meters are bound");
        }
    }

    @Test
    void oneScrapeNeverShowsHalfOfAChangeMadeTogether() throws Exception {
        try (MetricsServer server = MetricsServer.start(0, new Health(Duration.ofMinutes(1)), Tags.empty())) {
            double[] pair =
                    new double[2]; // written only inside Scrapes.together, read by the scrape under the same lock
            Gauge.builder("streamtrain.test.first", pair, p -> p[0]).register(server.registry());
            Gauge.builder("streamtrain.test.second", pair, p -> p[1]).register(server.registry());
            AtomicBoolean done = new AtomicBoolean();
            Thread writer = new Thread(() -> {
                for (long i = 1; !done.get(); i++) {
                    long v = i;
                    Scrapes.together(() -> {
                        pair[0] = v;
                        pair[1] = v;
                    });
                }
            });
            writer.start();
            try {
                for (int i = 0; i < 200; i++) {
                    String body = get(server, "/metrics").body();
                    assertEquals(sample(body, "streamtrain_test_first"), sample(body, "streamtrain_test_second"), body);
                }
            } finally {
                done.set(true);
                writer.join();
            }
        }
    }

    private static String sample(String scrape, String name) {
        String line = scrape.lines()
                .filter(l -> l.startsWith(name + " ") || l.startsWith(name + "{"))
                .findFirst()
                .orElseThrow();
        return line.substring(line.lastIndexOf(' ') + 1);
    }

    @Test
    void healthzSaysWhetherTheWorkLoopBeatsAndReadyzWhetherTheServiceIsReady() throws Exception {
        Health health = new Health(Duration.ofMillis(200));
        try (MetricsServer server = MetricsServer.start(0, health, Tags.empty())) {
            assertEquals(
                    200,
                    get(server, "/healthz").statusCode(),
                    "live while starting: that is the startup probe's business");
            assertEquals(503, get(server, "/readyz").statusCode(), "not ready before initialization");
            health.ready(true);
            health.state("training");
            health.beat();
            HttpResponse<String> ready = get(server, "/readyz");
            assertEquals(200, ready.statusCode());
            assertTrue(ready.body().startsWith("ok: training; work loop beat"), ready.body());
            Thread.sleep(400);
            HttpResponse<String> stalled = get(server, "/healthz");
            assertEquals(503, stalled.statusCode());
            assertTrue(stalled.body().contains("stalled"), stalled.body());
            health.beat();
            assertEquals(200, get(server, "/healthz").statusCode());
        }
    }

    @Test
    void aTakenPortIsAClearError() {
        try (MetricsServer first = MetricsServer.start(0, new Health(Duration.ofMinutes(1)), Tags.empty())) {
            UncheckedIOException e = assertThrows(
                    UncheckedIOException.class,
                    () -> MetricsServer.start(first.port(), new Health(Duration.ofMinutes(1)), Tags.empty()));
            assertTrue(
                    e.getMessage().contains("cannot serve metrics on port " + first.port())
                            && e.getMessage().contains("--metrics-port"),
                    e.getMessage());
        }
    }

    @Test
    void withoutAPortTheRegistryStillWorks() {
        try (MetricsServer server = MetricsServer.start(-1, new Health(Duration.ofMinutes(1)), Tags.empty())) {
            assertEquals(-1, server.port());
            Counter.builder("streamtrain.test.off").register(server.registry()).increment();
            assertTrue(server.scrape().contains("streamtrain_test_off_total 1.0"), server.scrape());
        }
    }

    @Test
    void theAddressServedOnCanBeOneInterface() throws Exception {
        try (MetricsServer server =
                MetricsServer.start("127.0.0.1", 0, new Health(Duration.ofMinutes(1)), Tags.empty())) {
            assertTrue(
                    server.address().getAddress().isLoopbackAddress(),
                    server.address().toString());
            java.net.http.HttpResponse<String> r = java.net.http.HttpClient.newHttpClient()
                    .send(
                            java.net.http.HttpRequest.newBuilder(
                                            java.net.URI.create("http://127.0.0.1:" + server.port() + "/healthz"))
                                    .build(),
                            java.net.http.HttpResponse.BodyHandlers.ofString());
            assertEquals(200, r.statusCode());
        }
        try (MetricsServer server = MetricsServer.start(null, 0, new Health(Duration.ofMinutes(1)), Tags.empty())) {
            assertTrue(server.address().getAddress().isAnyLocalAddress(), "unset: every interface, as a pod needs");
        }
        java.io.UncheckedIOException e = org.junit.jupiter.api.Assertions.assertThrows(
                java.io.UncheckedIOException.class,
                () -> MetricsServer.start("no-such-host.invalid", 0, new Health(Duration.ofMinutes(1)), Tags.empty()));
        assertTrue(e.getMessage().contains(MetricsServer.ADDRESS_ENV), e.getMessage());
    }
}
