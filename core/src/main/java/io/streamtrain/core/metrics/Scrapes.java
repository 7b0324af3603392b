package io.streamtrain.core.metrics;

import io.prometheus.client.Collector.MetricFamilySamples;
import io.prometheus.client.CollectorRegistry;
import io.prometheus.client.Predicate;
import java.util.Collections;
import java.util.Enumeration;
import java.util.Set;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Supplier;

/**
 * One scrape shows one moment: gauges that are set together (an evaluation's val_loss and
 * val_perplexity, say) are never seen half updated. A service makes such a change inside
 * {@link #together}; every registry a {@link MetricsServer} serves collects all its samples
 * before it answers, holding the same lock.
 */
public final class Scrapes {
    private static final ReentrantLock LOCK = new ReentrantLock();

    private Scrapes() {}

    /** Runs {@code update} while no scrape is collecting; keep it short (field writes). */
    public static void together(Runnable update) {
        LOCK.lock();
        try {
            update.run();
        } finally {
            LOCK.unlock();
        }
    }

    /**
     * A simpleclient registry whose collections happen under the lock, all at once (simpleclient's
     * own enumeration collects lazily, meter by meter, while the answer is being written).
     */
    static final class WholeRegistry extends CollectorRegistry {
        WholeRegistry() {
            super(true);
        }

        @Override
        public Enumeration<MetricFamilySamples> metricFamilySamples() {
            return whole(super::metricFamilySamples);
        }

        @Override
        public Enumeration<MetricFamilySamples> filteredMetricFamilySamples(Set<String> includedNames) {
            return whole(() -> super.filteredMetricFamilySamples(includedNames));
        }

        @Override
        public Enumeration<MetricFamilySamples> filteredMetricFamilySamples(Predicate<String> sampleNameFilter) {
            return whole(() -> super.filteredMetricFamilySamples(sampleNameFilter));
        }

        private static Enumeration<MetricFamilySamples> whole(Supplier<Enumeration<MetricFamilySamples>> lazy) {
            LOCK.lock();
            try {
                return Collections.enumeration(Collections.list(lazy.get()));
            } finally {
                LOCK.unlock();
            }
        }
    }
}
