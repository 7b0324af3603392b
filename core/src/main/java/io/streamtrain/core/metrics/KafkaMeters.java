package io.streamtrain.core.metrics;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.binder.kafka.KafkaClientMetrics;
import io.micrometer.core.instrument.config.MeterFilter;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.producer.Producer;

/**
 * A Kafka client's own metrics (consumer lag, fetch rate, producer errors) as meters.
 * Close what {@code bind} returns together with the client: its meters go with it (closing
 * throws nothing).
 */
public final class KafkaMeters {
    /**
     * How soon metrics a client creates later (the lag of a partition assigned after the
     * bind) show up; Micrometer's default is a minute.
     */
    private static final Duration REFRESH = Duration.ofSeconds(10);

    private static final ScheduledExecutorService REFRESHER = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "streamtrain-kafka-meters");
        t.setDaemon(true);
        return t;
    });

    /**
     * The Kafka client metrics worth a time series: fetching and lag, the group
     * coordinator, records sent and their errors and retries, request latency. The rest
     * (hundreds per client, some per broker connection, some named in ns/ms against
     * Prometheus's conventions) are left out.
     */
    static final List<String> KEPT = List.of(
            "kafka.consumer.fetch.manager.",
            "kafka.consumer.coordinator.",
            "kafka.producer.record.",
            "kafka.producer.request.latency.",
            "kafka.producer.topic.");

    /** Keeps the {@link #KEPT} Kafka meters, denies the other Kafka ones; other meters pass. */
    static final MeterFilter FILTER = MeterFilter.deny(
            id -> id.getName().startsWith("kafka.") && KEPT.stream().noneMatch(id.getName()::startsWith));

    private KafkaMeters() {}

    public static KafkaClientMetrics bind(MeterRegistry registry, Consumer<?, ?> consumer) {
        KafkaClientMetrics m = new KafkaClientMetrics(consumer, Tags.empty(), REFRESHER, REFRESH);
        m.bindTo(registry);
        return m;
    }

    public static KafkaClientMetrics bind(MeterRegistry registry, Producer<?, ?> producer) {
        KafkaClientMetrics m = new KafkaClientMetrics(producer, Tags.empty(), REFRESHER, REFRESH);
        m.bindTo(registry);
        return m;
    }
}
