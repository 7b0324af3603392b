package io.streamtrain.core.kafka;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.errors.AuthorizationException;
import org.apache.kafka.common.errors.TopicExistsException;

/**
 * Creates streamtrain's own topics of a run when they are missing, with the settings their
 * contents need. User topics (train, validation) are never created here.
 */
public final class RunTopics {
    private RunTopics() {}

    /** Room for a record's key, headers and batch framing on top of its value. */
    public static final int RECORD_OVERHEAD_BYTES = 64 * 1024;
    /**
     * Kafka's default {@code max.message.bytes} of a topic (the broker's {@code message.max.bytes}):
     * what a train topic created without settings takes.
     */
    public static final int KAFKA_DEFAULT_MAX_MESSAGE_BYTES = 1_048_588;

    /**
     * Checkpoints are a run's output: kept until deleted, one partition for a total order,
     * and room for a chunk of {@code chunkBytes}.
     */
    public static NewTopic checkpoints(String name, int chunkBytes) {
        return new NewTopic(name, 1, (short) -1)
                .configs(Map.of(
                        TopicConfig.RETENTION_MS_CONFIG,
                        "-1",
                        TopicConfig.MAX_MESSAGE_BYTES_CONFIG,
                        Integer.toString(chunkBytes + RECORD_OVERHEAD_BYTES)));
    }

    /**
     * The trainers' weight exchange: one partition (every node reads the rounds in one
     * order), room for a chunk, kept until the trainers delete what their checkpoints made
     * redundant (a node resumes from a checkpoint's sync point onwards).
     */
    public static NewTopic sync(String name, int chunkBytes) {
        return checkpoints(name, chunkBytes);
    }

    /**
     * Dead letters wait for an operator: kept for 30 days, with room for any record the
     * source topic accepts ({@code sourceMaxMessageBytes}) plus the reason headers.
     */
    public static NewTopic deadLetters(String name, int sourceMaxMessageBytes) {
        return new NewTopic(name, 1, (short) -1)
                .configs(Map.of(
                        TopicConfig.RETENTION_MS_CONFIG, Long.toString(TimeUnit.DAYS.toMillis(30)),
                        TopicConfig.MAX_MESSAGE_BYTES_CONFIG,
                                Integer.toString(sourceMaxMessageBytes + RECORD_OVERHEAD_BYTES)));
    }

    /** Evaluations are the evaluator's memory (its state is rebuilt from them): kept until deleted. */
    public static NewTopic evaluations(String name) {
        return new NewTopic(name, 1, (short) -1).configs(Map.of(TopicConfig.RETENTION_MS_CONFIG, "-1"));
    }

    /** Promoted models: compacted, so the latest per run is kept for ever and the ones before it go. */
    public static NewTopic models(String name) {
        return new NewTopic(name, 1, (short) -1)
                .configs(Map.of(TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_COMPACT));
    }

    /** Control is read from the beginning by every starting trainer (a STOP is final): kept until deleted. */
    public static NewTopic control(String name) {
        return new NewTopic(name, 1, (short) -1).configs(Map.of(TopicConfig.RETENTION_MS_CONFIG, "-1"));
    }

    /**
     * The topics of the cluster (those this client may see), for a caller that decides by them
     * what to {@link #ensure(Admin, Set, List) ensure}; trouble reaching the broker is retryable,
     * a refusal is not.
     */
    public static Set<String> names(Admin admin) {
        try {
            return admin.listTopics().names().get(10, TimeUnit.SECONDS);
        } catch (ExecutionException | java.util.concurrent.TimeoutException e) {
            Throwable cause = e instanceof ExecutionException ? e.getCause() : e;
            Preflight.requireAuthorized(cause, "the cluster");
            throw new StartupException(StartupException.RETRYABLE, "cannot list the topics: " + cause.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new StartupException(StartupException.RETRYABLE, "interrupted", e);
        }
    }

    /** The largest record batch a topic accepts (its {@code max.message.bytes}, explicit or the broker's). */
    public static int maxMessageBytes(Admin admin, String topic) {
        ConfigResource r = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        try {
            Config c = admin.describeConfigs(List.of(r))
                    .all()
                    .get(10, TimeUnit.SECONDS)
                    .get(r);
            return Integer.parseInt(c.get(TopicConfig.MAX_MESSAGE_BYTES_CONFIG).value());
        } catch (ExecutionException | java.util.concurrent.TimeoutException e) {
            Throwable cause = e instanceof ExecutionException ? e.getCause() : e;
            Preflight.requireAuthorized(cause, "the cluster");
            throw new StartupException(
                    StartupException.RETRYABLE,
                    "cannot read the settings of topic " + topic + ": " + cause.getMessage(),
                    e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new StartupException(StartupException.RETRYABLE, "interrupted", e);
        }
    }

    /**
     * Why topics could not be made: refused by the ACLs is configuration (exit 2: a restart
     * cannot fix it), anything else may pass (a broker restarting, a timeout) and is retried.
     */
    static StartupException cannotCreate(List<String> names, Throwable cause) {
        if (cause instanceof AuthorizationException) {
            return new StartupException(
                    StartupException.BAD_CONFIGURATION,
                    "this client may not create topics " + names
                            + " (Kafka: " + cause.getMessage()
                            + "). Create them yourself with the settings docs/deploy.md lists,"
                            + " or grant this principal CREATE on them",
                    cause);
        }
        return new StartupException(
                StartupException.RETRYABLE,
                "cannot create topics " + names + ": " + cause.getMessage()
                        + ". Create them yourself, or grant this client CREATE on them",
                cause);
    }

    /**
     * Creates the topics that do not exist yet; existing ones are left as they are.
     *
     * @return the names of the topics that existed already (an operator's settings apply to them)
     */
    public static Set<String> ensure(Admin admin, List<NewTopic> topics) {
        Set<String> existing;
        try {
            existing = admin.listTopics().names().get(10, TimeUnit.SECONDS);
        } catch (ExecutionException | java.util.concurrent.TimeoutException e) {
            throw cannotCreate(namesOf(topics), e instanceof ExecutionException ? e.getCause() : e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new StartupException(StartupException.RETRYABLE, "interrupted", e);
        }
        return ensure(admin, existing, topics);
    }

    /**
     * Creates the topics that are not among {@code existing}, the cluster's topics as the
     * caller {@linkplain #names listed} them: one listing serves a caller that decides by it what
     * to make (a topic whose settings are chosen only when it is made). One made meanwhile by
     * someone else is left as it is.
     *
     * @return the names of the topics that existed already (an operator's settings apply to them)
     */
    public static Set<String> ensure(Admin admin, Set<String> existing, List<NewTopic> topics) {
        List<NewTopic> missing = new ArrayList<>();
        Set<String> existed = new java.util.HashSet<>();
        for (NewTopic t : topics) {
            if (existing.contains(t.name())) {
                existed.add(t.name());
            } else {
                missing.add(t);
            }
        }
        if (missing.isEmpty()) {
            return existed;
        }
        try {
            admin.createTopics(missing).all().get(30, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            if (!(e.getCause() instanceof TopicExistsException)) {
                throw cannotCreate(namesOf(topics), e.getCause());
            }
        } catch (java.util.concurrent.TimeoutException e) {
            throw cannotCreate(namesOf(topics), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new StartupException(StartupException.RETRYABLE, "interrupted", e);
        }
        return existed;
    }

    private static List<String> namesOf(List<NewTopic> topics) {
        return topics.stream().map(NewTopic::name).toList();
    }
}
