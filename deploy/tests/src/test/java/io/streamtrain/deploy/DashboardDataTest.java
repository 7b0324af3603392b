package io.streamtrain.deploy;

import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import io.streamtrain.testkit.MetricCatalogue;
import io.streamtrain.testkit.MetricCatalogue.Meter;
import io.streamtrain.testkit.MonitoringQueries;
import io.streamtrain.testkit.MonitoringQueries.Query;
import io.streamtrain.testkit.MonitoringQueries.Source;
import io.streamtrain.testkit.PrometheusFixture;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * If the services register the meters of {@link MetricCatalogue}, every panel, annotation,
 * variable and recording rule of {@code deploy/} has data: a real Prometheus scrapes a trainer
 * and an evaluator that serve exactly the catalogue (counters rising at every scrape), with the
 * Kafka and JVM meters carrying only {@code role} and {@code node}, not {@code run}. The
 * end-to-end test does the same against a real run.
 */
@Tag("integration")
class DashboardDataTest {
    private static final String RUN = "demo";

    @Test
    void everyPanelAnnotationVariableAndRecordingRuleHasDataWhenTheCatalogueIsScraped() throws Exception {
        try (CatalogueExporter trainer = new CatalogueExporter("trainer", "trainer-0");
                CatalogueExporter evaluator = new CatalogueExporter("evaluator", "evaluator-0");
                PrometheusFixture prometheus = PrometheusFixture.builder()
                        .target("streamtrain-trainer", trainer.hostPort())
                        .target("streamtrain-evaluator", evaluator.hostPort())
                        .optRuleFile(MonitoringQueries.RULES)
                        .start()) {
            prometheus.awaitTargetsUp(Duration.ofSeconds(30));
            List<Query> queries = MonitoringQueries.all(MonitoringQueries.defaultVariables(RUN)).stream()
                    .filter(q -> q.source() != Source.ALERT_RULE) // an alert returns data only while it fires
                    .collect(Collectors.toList());
            Map<String, String> failing = prometheus.withoutData(queries, Duration.ofSeconds(30));
            assertTrue(
                    failing.isEmpty(),
                    failing.entrySet().stream()
                            .map(e -> e.getKey() + ": " + e.getValue())
                            .collect(Collectors.joining("\n")));
        }
    }

    /** A process's /metrics with every catalogue meter of its role, the Kafka and JVM meters, counters rising per scrape. */
    private static final class CatalogueExporter implements AutoCloseable {
        private final String role;
        private final String node;
        private final HttpServer server;
        private final AtomicLong scrapes = new AtomicLong();

        CatalogueExporter(String role, String node) throws IOException {
            this.role = role;
            this.node = node;
            server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
            server.createContext("/metrics", exchange -> {
                byte[] body = exposition(scrapes.incrementAndGet()).getBytes(StandardCharsets.UTF_8);
                exchange.getResponseHeaders().set("Content-Type", "text/plain; version=0.0.4");
                exchange.sendResponseHeaders(200, body.length);
                try (OutputStream out = exchange.getResponseBody()) {
                    out.write(body);
                }
            });
            server.start();
        }

        String hostPort() {
            return "127.0.0.1:" + server.getAddress().getPort();
        }

        private String exposition(long n) {
            String common = "role=\"" + role + "\",node=\"" + node + "\"";
            String own = common + ",run=\"" + RUN + "\"";
            List<String> lines = new ArrayList<>();
            for (Meter m : MetricCatalogue.STREAMTRAIN) {
                if (!m.role().equals(role)) {
                    continue;
                }
                List<String> labelSets = new ArrayList<>();
                if (m.labels().isEmpty()) {
                    labelSets.add(own);
                } else {
                    m.labels()
                            .forEach((label, values) ->
                                    values.forEach(v -> labelSets.add(own + "," + label + "=\"" + v + "\"")));
                }
                for (String labels : labelSets) {
                    switch (m.type()) {
                        case COUNTER -> lines.add(m.name() + "{" + labels + "} " + n);
                        case GAUGE ->
                            lines.add(m.name() + "{" + labels + "} "
                                    + (Set.of("streamtrain_trainer_paused", "streamtrain_evaluator_stopped")
                                                    .contains(m.name())
                                            ? 0
                                            : 1));
                        case HISTOGRAM -> {
                            lines.add(m.name() + "_bucket{" + labels + ",le=\"0.1\"} " + n);
                            lines.add(m.name() + "_bucket{" + labels + ",le=\"+Inf\"} " + n);
                            lines.add(m.name() + "_count{" + labels + "} " + n);
                            lines.add(m.name() + "_sum{" + labels + "} " + n * 0.05);
                            lines.add(m.name() + "_max{" + labels + "} 0.05");
                        }
                    }
                }
            }
            String topic = role.equals("trainer") ? "demo_train" : "streamtrain_" + RUN + "_checkpoints";
            String client = common + ",client_id=\"" + node + "-consumer\"";
            lines.add("kafka_consumer_fetch_manager_records_lag{" + client + ",topic=\"" + topic
                    + "\",partition=\"0\"} " + n);
            lines.add("kafka_consumer_fetch_manager_records_lag{" + client + ",topic=\"streamtrain_" + RUN
                    + "_control\",partition=\"0\"} 0");
            lines.add("kafka_consumer_fetch_manager_records_lag_max{" + client + "} " + n);
            lines.add("kafka_consumer_fetch_manager_fetch_rate{" + client + "} 2");
            lines.add("kafka_producer_record_error_total{" + common + ",client_id=\"" + node + "-producer\"} 0");
            lines.add("jvm_memory_used_bytes{" + common + ",area=\"heap\",id=\"G1 Eden Space\"} 1.0E7");
            lines.add("jvm_memory_committed_bytes{" + common + ",area=\"heap\",id=\"G1 Eden Space\"} 2.0E7");
            lines.add("jvm_memory_max_bytes{" + common + ",area=\"heap\",id=\"G1 Old Gen\"} 1.0E9");
            String gc = common + ",action=\"end of minor GC\",cause=\"G1 Evacuation Pause\"";
            lines.add("jvm_gc_pause_seconds_count{" + gc + "} " + n);
            lines.add("jvm_gc_pause_seconds_sum{" + gc + "} " + n * 0.01);
            lines.add("jvm_gc_pause_seconds_max{" + gc + "} 0.01");
            lines.add("jvm_threads_live_threads{" + common + "} 20");
            lines.add("process_cpu_usage{" + common + "} 0.5");
            lines.add("process_uptime_seconds{" + common + "} " + n);
            return String.join("\n", lines) + "\n";
        }

        @Override
        public void close() {
            server.stop(0);
        }
    }
}
