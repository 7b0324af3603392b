package io.streamtrain.evaluator.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.testkit.ServiceProcess;
import java.net.ServerSocket;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** The evaluator's exit codes tell Kubernetes what to do: 1 retry, 0 done, 2 never. */
@Tag("integration")
class EvaluatorLifecycleTest {
    @Test
    void anUnreachableBrokerIsARetryableExitWithAClearMessage() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort(); // closed again: nothing listens there
        }
        try (ServiceProcess evaluator =
                new ServiceProcess(ServiceProcess.EVALUATOR, List.of("--bootstrap-servers", "127.0.0.1:" + port))) {
            assertEquals(1, evaluator.awaitExit(60), evaluator.output());
            assertTrue(evaluator.output().contains("cannot reach Kafka at 127.0.0.1:" + port), evaluator.output());
        }
    }

    @Test
    void aBadOptionIsExitCode2() throws Exception {
        try (ServiceProcess evaluator =
                new ServiceProcess(ServiceProcess.EVALUATOR, List.of("--validation-memory", "lots"))) {
            assertEquals(2, evaluator.awaitExit(60), evaluator.output());
            assertTrue(evaluator.output().contains("--validation-memory"), evaluator.output());
        }
    }
}
