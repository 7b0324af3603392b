package io.streamtrain.core.kafka;

import java.util.Collection;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;

/**
 * The checks a service runs before it starts work, so a mistake the user can fix is one
 * clear message within seconds rather than a hang or a stack trace.
 */
public final class Preflight {
    private static final long TIMEOUT_SECONDS = 10;

    private Preflight() {}

    /** Fails with {@link StartupException} when the cluster cannot be reached. */
    public static void requireReachable(Admin admin, String bootstrapServers) {
        try {
            admin.describeCluster().clusterId().get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
        } catch (java.util.concurrent.TimeoutException | ExecutionException e) {
            throw new StartupException(StartupException.RETRYABLE, "cannot reach Kafka at " + bootstrapServers
                    + " within " + TIMEOUT_SECONDS + " s. Check that the broker is up and that "
                    + KafkaSettings.BOOTSTRAP_ENV + " (or --bootstrap-servers) names it", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new StartupException(StartupException.RETRYABLE, "interrupted while connecting to Kafka", e);
        }
    }

    /** The topics must exist; returns their descriptions by name. */
    public static Map<String, TopicDescription> requireTopics(Admin admin, Collection<String> topics, String purpose) {
        try {
            return admin.describeTopics(Set.copyOf(topics)).allTopicNames().get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof UnknownTopicOrPartitionException) {
                throw new StartupException(StartupException.BAD_CONFIGURATION, "topic(s) " + topics + " do not exist (" + purpose
                        + "). Create them first, e.g. with `streamtrain ingest` or kafka-topics.sh --create", e);
            }
            throw new StartupException(StartupException.RETRYABLE, "cannot describe topics " + topics + ": " + e.getCause().getMessage(), e);
        } catch (java.util.concurrent.TimeoutException e) {
            throw new StartupException(StartupException.RETRYABLE, "timed out describing topics " + topics, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new StartupException(StartupException.RETRYABLE, "interrupted", e);
        }
    }
}
