package io.streamtrain.core.kafka;

import java.util.Collection;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.DescribeTopicsOptions;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.errors.AuthenticationException;
import org.apache.kafka.common.errors.AuthorizationException;
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
        } catch (ExecutionException e) {
            requireAuthorized(e.getCause(), bootstrapServers);
            throw unreachable(bootstrapServers, e);
        } catch (java.util.concurrent.TimeoutException e) {
            throw unreachable(bootstrapServers, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new StartupException(StartupException.RETRYABLE, "interrupted while connecting to Kafka", e);
        }
    }

    /** Wrong credentials or missing ACLs are configuration: a retry cannot fix them. */
    public static void requireAuthorized(Throwable cause, String bootstrapServers) {
        if (cause instanceof AuthenticationException || cause instanceof AuthorizationException) {
            throw new StartupException(
                    StartupException.BAD_CONFIGURATION,
                    "Kafka at " + bootstrapServers + " refused this client: "
                            + cause.getMessage() + ". Check the security settings passed as "
                            + KafkaSettings.PASSTHROUGH_ENV_PREFIX
                            + "* and the ACLs of this principal",
                    cause);
        }
    }

    private static StartupException unreachable(String bootstrapServers, Exception e) {
        return new StartupException(
                StartupException.RETRYABLE,
                "cannot reach Kafka at " + bootstrapServers
                        + " within " + TIMEOUT_SECONDS + " s. Check that the broker is up and that "
                        + KafkaSettings.BOOTSTRAP_ENV + " (or --bootstrap-servers) names it",
                e);
    }

    /** An admin client, or a {@link StartupException} naming the setting Kafka's client refused. */
    public static Admin admin(KafkaSettings kafka) {
        try {
            return Admin.create(kafka.admin());
        } catch (KafkaException e) {
            throw new StartupException(
                    StartupException.BAD_CONFIGURATION,
                    "cannot create a Kafka client for "
                            + kafka.bootstrapServers() + ": " + rootMessage(e) + ". Check --bootstrap-servers / "
                            + KafkaSettings.BOOTSTRAP_ENV + " and the " + KafkaSettings.PASSTHROUGH_ENV_PREFIX
                            + "* settings",
                    e);
        }
    }

    private static String rootMessage(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        return t.getMessage();
    }

    /** The names of the cluster's topics, or a {@link StartupException} saying why they cannot be listed. */
    public static Set<String> topicNames(Admin admin, String bootstrapServers) {
        try {
            return admin.listTopics().names().get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            requireAuthorized(e.getCause(), bootstrapServers);
            throw new StartupException(
                    StartupException.RETRYABLE,
                    "cannot list the topics of " + bootstrapServers + ": "
                            + e.getCause().getMessage(),
                    e);
        } catch (java.util.concurrent.TimeoutException e) {
            throw new StartupException(
                    StartupException.RETRYABLE, "timed out listing the topics of " + bootstrapServers, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new StartupException(StartupException.RETRYABLE, "interrupted", e);
        }
    }

    /**
     * Checks that this principal may do what {@code who} does on each of these topics that exists
     * (one still to be made is its maker's), so that a missing ACL stops the process at its start
     * with a message naming the operation and the topic, not later with Kafka's words for
     * whichever client met the refusal first (which name the topic but not what was refused). A
     * broker that does not say what it authorizes is not second-guessed.
     *
     * @param needed per topic, the operations (Read, Write) the role needs on it
     * @throws StartupException exit 2 naming the first topic and operations missing
     */
    public static void requireOperations(Admin admin, Map<String, Set<AclOperation>> needed, String who) {
        if (needed.isEmpty()) {
            return;
        }
        Map<String, org.apache.kafka.common.KafkaFuture<TopicDescription>> described = admin.describeTopics(
                        needed.keySet(), new DescribeTopicsOptions().includeAuthorizedOperations(true))
                .topicNameValues();
        for (Map.Entry<String, Set<AclOperation>> e : new java.util.TreeMap<>(needed).entrySet()) {
            Set<AclOperation> granted = granted(described.get(e.getKey()), e.getKey());
            if (granted == null || granted.contains(AclOperation.ALL)) {
                continue;
            }
            java.util.List<String> missing = e.getValue().stream()
                    .filter(op -> !granted.contains(op))
                    .map(Preflight::aclName)
                    .sorted()
                    .toList();
            if (!missing.isEmpty()) {
                throw new StartupException(
                        StartupException.BAD_CONFIGURATION,
                        who + "'s principal needs " + String.join(" and ", missing) + " on topic " + e.getKey()
                                + " (it is granted "
                                + (granted.isEmpty()
                                        ? "nothing there"
                                        : granted.stream()
                                                .map(Preflight::aclName)
                                                .sorted()
                                                .collect(java.util.stream.Collectors.joining(", ")))
                                + "). docs/deploy.md lists each role's ACLs");
            }
        }
    }

    /** What this principal may do on {@code topic}; null when the topic does not exist or the broker does not say. */
    private static Set<AclOperation> granted(
            org.apache.kafka.common.KafkaFuture<TopicDescription> described, String topic) {
        try {
            return described.get(TIMEOUT_SECONDS, TimeUnit.SECONDS).authorizedOperations();
        } catch (ExecutionException x) {
            if (x.getCause() instanceof UnknownTopicOrPartitionException) {
                return null;
            }
            if (x.getCause() instanceof AuthorizationException) {
                return Set.of(); // not even Describe, which Read and Write imply
            }
            throw new StartupException(
                    StartupException.RETRYABLE,
                    "cannot describe topic " + topic + ": " + x.getCause().getMessage(),
                    x);
        } catch (java.util.concurrent.TimeoutException x) {
            throw new StartupException(StartupException.RETRYABLE, "timed out describing topic " + topic, x);
        } catch (InterruptedException x) {
            Thread.currentThread().interrupt();
            throw new StartupException(StartupException.RETRYABLE, "interrupted", x);
        }
    }

    /** An operation as ACLs and Strimzi's KafkaUser name it: {@code Write}, {@code DescribeConfigs}. */
    static String aclName(AclOperation op) {
        StringBuilder out = new StringBuilder();
        for (String word : op.name().split("_")) {
            out.append(word.charAt(0)).append(word.substring(1).toLowerCase(java.util.Locale.ROOT));
        }
        return out.toString();
    }

    /** The topics must exist; returns their descriptions by name. */
    public static Map<String, TopicDescription> requireTopics(Admin admin, Collection<String> topics, String purpose) {
        try {
            return admin.describeTopics(Set.copyOf(topics)).allTopicNames().get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            requireAuthorized(e.getCause(), "the cluster");
            if (e.getCause() instanceof UnknownTopicOrPartitionException) {
                throw new StartupException(
                        StartupException.BAD_CONFIGURATION,
                        "topic(s) " + topics + " do not exist (" + purpose
                                + "). Create them and produce the data first (e.g. kafka-topics.sh --create), or fix the topic name in the spec",
                        e);
            }
            throw new StartupException(
                    StartupException.RETRYABLE,
                    "cannot describe topics " + topics + ": " + e.getCause().getMessage(),
                    e);
        } catch (java.util.concurrent.TimeoutException e) {
            throw new StartupException(StartupException.RETRYABLE, "timed out describing topics " + topics, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new StartupException(StartupException.RETRYABLE, "interrupted", e);
        }
    }
}
