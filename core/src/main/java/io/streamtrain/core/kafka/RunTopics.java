package io.streamtrain.core.kafka;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.errors.TopicExistsException;

/**
 * Creates streamtrain's own topics of a run when they are missing, with the settings their
 * contents need. User topics (train, validation) are never created here.
 */
public final class RunTopics {
    private RunTopics() {}

    /** Checkpoints are a run's output: kept until deleted, one partition for a total order. */
    public static NewTopic checkpoints(String name) {
        return new NewTopic(name, 1, (short) -1).configs(Map.of(TopicConfig.RETENTION_MS_CONFIG, "-1"));
    }

    /** Dead letters wait for an operator: kept for 30 days. */
    public static NewTopic deadLetters(String name) {
        return new NewTopic(name, 1, (short) -1).configs(Map.of(TopicConfig.RETENTION_MS_CONFIG, Long.toString(TimeUnit.DAYS.toMillis(30))));
    }

    /** Creates the topics that do not exist yet; existing ones are left as they are. */
    public static void ensure(Admin admin, List<NewTopic> topics) {
        try {
            Set<String> existing = admin.listTopics().names().get(10, TimeUnit.SECONDS);
            List<NewTopic> missing = new ArrayList<>();
            for (NewTopic t : topics) {
                if (!existing.contains(t.name())) {
                    missing.add(t);
                }
            }
            if (missing.isEmpty()) {
                return;
            }
            try {
                admin.createTopics(missing).all().get(30, TimeUnit.SECONDS);
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof TopicExistsException)) {
                    throw e;
                }
            }
        } catch (ExecutionException | java.util.concurrent.TimeoutException e) {
            Throwable cause = e instanceof ExecutionException ? e.getCause() : e;
            throw new StartupException(StartupException.RETRYABLE, "cannot create topics "
                    + topics.stream().map(NewTopic::name).toList() + ": " + cause.getMessage()
                    + ". Create them yourself, or grant this client CREATE on them", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new StartupException(StartupException.RETRYABLE, "interrupted", e);
        }
    }
}
