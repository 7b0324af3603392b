package io.streamtrain.core.kafka;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.common.errors.ClusterAuthorizationException;
import org.apache.kafka.common.errors.TopicAuthorizationException;
import org.junit.jupiter.api.Test;

class RunTopicsTest {
    @Test
    void topicsTheAclsRefuseToCreateAreBadConfigurationAndTheRestIsRetried() {
        List<String> names = List.of("streamtrain.r.checkpoints");
        for (Throwable refused : List.of(
                new TopicAuthorizationException("Authorization failed."),
                new ClusterAuthorizationException("Cluster authorization failed."))) {
            StartupException e = RunTopics.cannotCreate(names, refused);
            assertEquals(
                    StartupException.BAD_CONFIGURATION,
                    e.exitCode(),
                    "a restart cannot grant CREATE: " + e.getMessage());
            assertTrue(
                    e.getMessage().contains("may not create topics [streamtrain.r.checkpoints]")
                            && e.getMessage().contains("CREATE"),
                    e.getMessage());
        }
        StartupException slow = RunTopics.cannotCreate(names, new TimeoutException("timed out"));
        assertEquals(StartupException.RETRYABLE, slow.exitCode(), "a broker that did not answer in time may next time");
    }
}
