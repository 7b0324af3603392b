package io.streamtrain.core.metrics;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.micrometer.core.instrument.Clock;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tag;
import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.core.instrument.config.MeterFilter;
import io.micrometer.prometheus.PrometheusConfig;
import io.micrometer.prometheus.PrometheusMeterRegistry;
import io.prometheus.client.exporter.HTTPServer;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;

/**
 * A process's metrics registry and its one HTTP port: {@code /metrics} (Prometheus text
 * format), {@code /healthz} and {@code /readyz} (200 or 503 with a line saying why).
 *
 * <p>The only class that knows the registry is Prometheus's simpleclient (archived
 * upstream): moving to {@code prometheus-metrics} 1.x changes this file alone. Everything
 * else instruments through Micrometer's {@link MeterRegistry}.
 */
// micrometer-registry-prometheus-simpleclient is deprecated in favour of the Prometheus 1.x client; streamtrain
// serves through the simpleclient on purpose (the stack it is deployed with), so its registry is used knowingly
@SuppressWarnings("deprecation")
public final class MetricsServer implements AutoCloseable {
    /** The port every service listens on unless told otherwise. */
    public static final int DEFAULT_PORT = 9400;
    /** The interface to serve on; unset: every interface. */
    public static final String ADDRESS_ENV = "STREAMTRAIN_METRICS_ADDRESS";

    private final PrometheusMeterRegistry registry;
    private final JvmGcMetrics gc;
    private final HTTPServer http;
    private final InetSocketAddress bound;

    private MetricsServer(PrometheusMeterRegistry registry, JvmGcMetrics gc, HTTPServer http, InetSocketAddress bound) {
        this.registry = registry;
        this.gc = gc;
        this.http = http;
        this.bound = bound;
    }

    /**
     * @param port the port to serve on: 0 for any free one, negative for none (the registry
     *     still works, nobody can scrape it)
     * @param commonTags tags every meter carries (role, node, and run for a trainer)
     * @throws UncheckedIOException when the port is taken
     */
    public static MetricsServer start(int port, Health health, Iterable<Tag> commonTags) {
        return start(System.getenv(ADDRESS_ENV), port, health, commonTags);
    }

    /**
     * @param address the interface to serve on (a host name or an IP address), or null for
     *     every interface (what a pod needs: Prometheus scrapes its IP)
     */
    public static MetricsServer start(String address, int port, Health health, Iterable<Tag> commonTags) {
        PrometheusMeterRegistry registry =
                new PrometheusMeterRegistry(PrometheusConfig.DEFAULT, new Scrapes.WholeRegistry(), Clock.SYSTEM);
        registry.config()
                .commonTags(commonTags)
                .meterFilter(KafkaMeters.FILTER)
                // named against Prometheus's conventions (units in ns, _count on a gauge); process_cpu_usage and the
                // JVM's say it
                .meterFilter(MeterFilter.deny(id ->
                        id.getName().equals("process.cpu.time") || id.getName().equals("system.cpu.count")));
        new ClassLoaderMetrics().bindTo(registry);
        new JvmMemoryMetrics().bindTo(registry);
        new JvmThreadMetrics().bindTo(registry);
        new ProcessorMetrics().bindTo(registry);
        new UptimeMetrics().bindTo(registry);
        JvmGcMetrics gc = new JvmGcMetrics();
        gc.bindTo(registry);
        if (port < 0) {
            return new MetricsServer(registry, gc, null, null);
        }
        try {
            InetSocketAddress bind = address == null || address.isBlank()
                    ? new InetSocketAddress(port)
                    : new InetSocketAddress(address, port);
            if (bind.isUnresolved()) {
                throw new IOException("cannot resolve " + ADDRESS_ENV + "=" + address);
            }
            HttpServer server = HttpServer.create(bind, 3);
            server.createContext("/healthz", x -> answer(x, health.live(), health.describe()));
            server.createContext("/readyz", x -> answer(x, health.isReady(), health.describe()));
            HTTPServer http = new HTTPServer.Builder()
                    .withHttpServer(server)
                    .withRegistry(registry.getPrometheusRegistry())
                    .withDaemonThreads(true)
                    .build();
            return new MetricsServer(registry, gc, http, new InetSocketAddress(bind.getAddress(), http.getPort()));
        } catch (IOException e) {
            registry.close();
            gc.close();
            throw new UncheckedIOException(
                    "cannot serve metrics on port " + port + " (" + e.getMessage()
                            + "); pick another with --metrics-port",
                    e);
        }
    }

    private static void answer(HttpExchange x, boolean ok, String text) throws IOException {
        byte[] body = ((ok ? "ok: " : "not ok: ") + text + "\n").getBytes(StandardCharsets.UTF_8);
        x.getResponseHeaders().set("Content-Type", "text/plain; charset=utf-8");
        x.sendResponseHeaders(ok ? 200 : 503, body.length);
        try (OutputStream out = x.getResponseBody()) {
            out.write(body);
        }
    }

    public MeterRegistry registry() {
        return registry;
    }

    /** The address served on, or null when none. */
    public InetSocketAddress address() {
        return bound;
    }

    /** The port served on, or -1 when none. */
    public int port() {
        return bound == null ? -1 : bound.getPort();
    }

    /** What a scrape of {@code /metrics} returns now. */
    public String scrape() {
        return registry.scrape();
    }

    @Override
    public void close() {
        if (http != null) {
            http.close();
        }
        gc.close();
        registry.close();
    }
}
