package io.streamtrain.core.metrics;

import io.micrometer.core.instrument.Tag;
import io.streamtrain.core.kafka.StartupException;
import java.io.UncheckedIOException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Option;

/** Where a service serves {@code /metrics}, {@code /healthz} and {@code /readyz} (a picocli mixin). */
public final class MetricsOptions {
    private static final Logger log = LoggerFactory.getLogger(MetricsOptions.class);

    /** The port's default when the command line names none. */
    private static final String PORT_ENV = "STREAMTRAIN_METRICS_PORT";

    @Option(
            names = "--metrics-port",
            paramLabel = "PORT",
            defaultValue = "${env:" + PORT_ENV + ":-" + MetricsServer.DEFAULT_PORT + "}",
            description = "Port for /metrics, /healthz and /readyz; 0 for any free port (logged), -1 for none"
                    + " (default: $" + PORT_ENV + ", else ${DEFAULT-VALUE}).")
    int port;

    /**
     * Serves the service's metrics and health on --metrics-port, and logs the port it took
     * (the line tests and the lab read it from).
     *
     * @throws StartupException (bad configuration) when the port cannot be served
     */
    public MetricsServer start(Health health, Iterable<Tag> commonTags) {
        MetricsServer metrics;
        try {
            metrics = MetricsServer.start(port, health, commonTags);
        } catch (UncheckedIOException e) {
            throw new StartupException(StartupException.BAD_CONFIGURATION, e.getMessage(), e);
        }
        if (metrics.port() >= 0) {
            log.info("serving /metrics, /healthz and /readyz on port {}", metrics.port());
        }
        return metrics;
    }
}
