package io.streamtrain.cli.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.core.topics.Topics;
import io.streamtrain.testkit.KafkaFixture;
import io.streamtrain.testkit.Scrape;
import io.streamtrain.testkit.ServiceProcess;
import io.streamtrain.testkit.SyntheticClusters;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The trainer as a process, as Kubernetes runs it: what it does on SIGTERM, and how it
 * fails when the user got something wrong — one clear message within seconds, and the
 * exit code that says whether a restart can help (1) or not (2).
 */
@Tag("integration")
class TrainerLifecycleTest {
    static final String TOPIC = "lifecycle.train";
    /** The trainer's own SIGTERM budget (TrainerCommand.GRACE), inside Kubernetes' default 30 s. */
    static final long GRACE_SECONDS = 25;

    @RegisterExtension
    static final KafkaFixture kafka = new KafkaFixture();

    @TempDir
    Path dir;

    @BeforeAll
    static void broker() throws Exception {
        kafka.createTopic(TOPIC, 2);
        // 40,000 samples at batchSize 8: an epoch far longer than the test waits
        kafka.produce(TOPIC, 2, new SyntheticClusters(8, 3, 0.5, 0.0, 31).records(400, 100, 8));
    }

    static String spec(String run, String topic) {
        return """
                run: %s
                data: { train: %s }
                model: { type: mlp, inputs: 8, hidden: [16], classes: 3 }
                batchSize: 8
                maxEpochs: 3
                optimizer: { type: adamw, learningRate: 0.01 }
                regularization: { l2: 0.0001, weightDecay: 0.01 }
                """.formatted(run, topic);
    }

    @Test
    void sigtermMidEpochExits143WithinTheGracePeriodAndLeavesTheGroup() throws Exception {
        String run = "sigterm";
        Path spec = Files.writeString(dir.resolve("run.yaml"), spec(run, TOPIC));
        try (ServiceProcess trainer =
                new ServiceProcess(spec, kafka.broker.bootstrapServers(), "node-t", "--log-every", "10")) {
            trainer.awaitLine(l -> l.contains("epoch 1 step"), 120);
            long signalled = System.nanoTime();
            trainer.sigterm();
            int exit = trainer.awaitExit(GRACE_SECONDS + 10);
            long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - signalled);
            // not 0: Kubernetes would count the pod's Job index as complete although the run is not done
            assertEquals(143, exit, trainer.output());
            assertTrue(
                    tookMs < GRACE_SECONDS * 1000,
                    "stopped after " + tookMs + " ms; the grace period is " + GRACE_SECONDS + " s");
            assertTrue(trainer.output().contains("stopped on signal; a restart resumes the run"), trainer.output());
            assertFalse(
                    trainer.output().contains("checkpointed"),
                    "the signal must land mid-epoch 1:\n" + trainer.output());
        }
        // the node left the group on its way out, so the partitions can move at once;
        // asked right away, not after a session timeout
        try (Admin admin = Admin.create(kafka.settings.admin())) {
            String group = Topics.trainerGroup(run);
            ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(group))
                    .all()
                    .get(30, TimeUnit.SECONDS)
                    .get(group);
            assertEquals(
                    List.of(),
                    d.members().stream().map(m -> m.consumerId()).toList(),
                    "members of " + group + " (" + d.groupState() + ")");
            // an abandoned epoch commits nothing: the next node starts epoch 1 from the beginning
            Map<TopicPartition, OffsetAndMetadata> committed = admin.listConsumerGroupOffsets(group)
                    .partitionsToOffsetAndMetadata()
                    .get(30, TimeUnit.SECONDS);
            assertEquals(Map.of(), committed, "offsets committed by a node stopped mid-epoch 1");
        }
    }

    /**
     * Under a controller that restarts every pod that ends (the continuous overlay's
     * StatefulSet), a trainer whose run is done must not exit into a crash loop: with
     * {@code --when-done idle} a trainer of a stopped run says so once, stays up, live and ready,
     * and exits 0 on SIGTERM. Without it, a trainer exits 0 when the run is stopped (what a Job
     * wants); a mode it does not know is bad configuration.
     */
    @Test
    void aTrainerOfADoneRunIdlesUntilSigtermWithWhenDoneIdleThenExitsZero() throws Exception {
        String run = "idle";
        Path spec = Files.writeString(dir.resolve("run.yaml"), spec(run, TOPIC));
        try (ServiceProcess trainer =
                new ServiceProcess(spec, kafka.broker.bootstrapServers(), "node-e", "--log-every", "10")) {
            trainer.awaitLine(l -> l.contains("epoch 1 step"), 120);
            CommandRun stop = CommandRun.of(
                    "ctl",
                    "stop",
                    "--run",
                    run,
                    "--reason",
                    "done",
                    "--bootstrap-servers",
                    kafka.broker.bootstrapServers());
            assertEquals(0, stop.exitCode(), stop.toString());
            assertEquals(0, trainer.awaitExit(60), "--when-done exit, the default:\n" + trainer.output());
        }
        // the pod restarted by its controller: the run is done
        try (ServiceProcess trainer =
                new ServiceProcess(spec, kafka.broker.bootstrapServers(), "node-i", "--when-done", "idle")) {
            int port = Scrape.port(trainer);
            trainer.awaitLine(l -> l.contains("idles until SIGTERM (--when-done idle)"), 120);
            Thread.sleep(5_000);
            assertTrue(trainer.alive(), "an idle trainer does not exit:\n" + trainer.output());
            assertEquals(200, Scrape.get(port, "/healthz").statusCode(), "live: no liveness restart");
            assertEquals(200, Scrape.get(port, "/readyz").statusCode(), "ready: no disruption budget held up");
            trainer.sigterm();
            assertEquals(0, trainer.awaitExit(GRACE_SECONDS + 10), trainer.output());
            assertTrue(trainer.output().contains("stopped on signal (the run is done)"), trainer.output());
        }
        try (ServiceProcess trainer =
                new ServiceProcess(spec, kafka.broker.bootstrapServers(), "node-x", "--when-done", "linger")) {
            assertEquals(2, trainer.awaitExit(60), trainer.output());
            assertTrue(trainer.output().contains("--when-done is linger; allowed: exit, idle"), trainer.output());
        }
    }

    @Test
    void unreachableBrokerFailsWithinSecondsNamingTheAddress() throws Exception {
        String bootstrap = "127.0.0.1:" + closedPort();
        Path spec = Files.writeString(dir.resolve("run.yaml"), spec("unreachable", TOPIC));
        long started = System.nanoTime();
        try (ServiceProcess trainer = new ServiceProcess(spec, bootstrap, "node-u")) {
            int exit = trainer.awaitExit(60);
            long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
            String out = trainer.output();
            assertEquals(1, exit, "a broker that is not up yet is retryable (exit 1), not bad configuration:\n" + out);
            assertTrue(tookMs < 30_000, "took " + tookMs + " ms to give up:\n" + out);
            assertTrue(out.contains("cannot reach Kafka at " + bootstrap), out);
            assertTrue(
                    out.contains("--bootstrap-servers") && out.contains("STREAMTRAIN_BOOTSTRAP_SERVERS"),
                    "the message names the fix:\n" + out);
            assertNoStackTrace(out);
        }
    }

    @Test
    void missingTrainTopicIsBadConfigurationNamingTheTopic() throws Exception {
        Path spec = Files.writeString(dir.resolve("run.yaml"), spec("no-topic", "no.such.topic"));
        try (ServiceProcess trainer = new ServiceProcess(spec, kafka.broker.bootstrapServers(), "node-m")) {
            int exit = trainer.awaitExit(60);
            String out = trainer.output();
            assertEquals(2, exit, out);
            assertTrue(out.contains("no.such.topic") && out.contains("do not exist"), out);
            assertNoStackTrace(out);
        }
        // the trainer created nothing in the user's namespace on its way out
        try (Admin admin = Admin.create(kafka.settings.admin())) {
            assertFalse(admin.listTopics().names().get(30, TimeUnit.SECONDS).contains("no.such.topic"));
        }
    }

    @Test
    void aClaimCheckStoreItCannotWriteIsBadConfigurationBeforeAnyTraining() throws Exception {
        // the run's directory in the store is taken by a file: no user, root included, can write there
        Path store = Files.createDirectories(dir.resolve("store"));
        Files.writeString(store.resolve("no-store"), "not a directory");
        Path spec = Files.writeString(
                dir.resolve("store.yaml"), spec("no-store", TOPIC) + "checkpoints: { store: " + store.toUri() + " }\n");
        try (ServiceProcess trainer = new ServiceProcess(spec, kafka.broker.bootstrapServers(), "node-w")) {
            int exit = trainer.awaitExit(60);
            String out = trainer.output();
            assertEquals(2, exit, "a restart cannot make the store writable:\n" + out);
            assertTrue(out.contains("cannot write checkpoint payloads to " + store.toUri()), out);
            assertFalse(out.contains("epoch 1 step"), "it says so before training:\n" + out);
            assertNoStackTrace(out);
        }
    }

    @Test
    void jsonLogsAreOneJsonObjectPerLineAndAnUnknownFormatIsRefused() throws Exception {
        Path spec = Files.writeString(dir.resolve("json.yaml"), spec("json-logs", TOPIC));
        List<String> args = List.of(
                "--spec",
                spec.toString(),
                "--bootstrap-servers",
                kafka.broker.bootstrapServers(),
                "--node-id",
                "node-j");
        try (ServiceProcess trainer =
                new ServiceProcess(ServiceProcess.TRAINER, args, Map.of("STREAMTRAIN_LOG_FORMAT", "json"))) {
            trainer.awaitLine(l -> l.contains("starting run json-logs"), 60);
            com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
            List<String> lines = trainer.output().lines().toList();
            for (String line : lines) {
                com.fasterxml.jackson.databind.JsonNode event =
                        json.readTree(line); // throws on a line that is not JSON
                assertTrue(
                        event.hasNonNull("level") && event.hasNonNull("loggerName") && event.has("formattedMessage"),
                        line);
            }
            assertTrue(
                    lines.stream()
                            .anyMatch(l -> l.contains("\"level\":\"INFO\"") && l.contains("starting run json-logs")),
                    lines.toString());
        }
        try (ServiceProcess trainer =
                new ServiceProcess(ServiceProcess.TRAINER, args, Map.of("STREAMTRAIN_LOG_FORMAT", "xml"))) {
            int exit = trainer.awaitExit(60);
            String out = trainer.output();
            assertEquals(2, exit, "a format logback has no appender for would silence every log line:\n" + out);
            assertTrue(out.contains("STREAMTRAIN_LOG_FORMAT=xml is not a log format; use one of [text, json]"), out);
        }
    }

    @Test
    void unknownSpecKeyIsBadConfigurationNamingTheKeyPath() throws Exception {
        String misspelt = spec("bad-spec", TOPIC) + "regularisation: { l2: 0.01 }\n";
        Path top = Files.writeString(dir.resolve("top.yaml"), misspelt);
        try (ServiceProcess trainer = new ServiceProcess(top, kafka.broker.bootstrapServers(), "node-s")) {
            int exit = trainer.awaitExit(60);
            String out = trainer.output();
            assertEquals(2, exit, out);
            assertTrue(out.contains("unknown key 'regularisation'"), out);
            // and the keys allowed there, among them the one that was meant
            assertTrue(out.contains("regularization"), out);
            assertNoStackTrace(out);
        }
        Path nested = Files.writeString(
                dir.resolve("nested.yaml"),
                spec("bad-spec", TOPIC).replace("regularization: { l2: 0.0001", "regularization: { l3: 0.0001"));
        try (ServiceProcess trainer = new ServiceProcess(nested, kafka.broker.bootstrapServers(), "node-s")) {
            int exit = trainer.awaitExit(60);
            String out = trainer.output();
            assertEquals(2, exit, out);
            assertTrue(out.contains("regularization.l3"), "the full key path:\n" + out);
            assertNoStackTrace(out);
        }
    }

    @Test
    void helpListsTheOptionsAndExitsZero() throws Exception {
        try (ServiceProcess trainer = new ServiceProcess(List.of("--help"))) {
            int exit = trainer.awaitExit(60);
            String out = trainer.output();
            assertEquals(0, exit, out);
            for (String option : List.of("--spec", "--bootstrap-servers", "--node-id", "--when-done")) {
                assertTrue(out.contains(option), option + " in:\n" + out);
            }
        }
    }

    /** A loopback port nothing listens on. */
    private static int closedPort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    /** A user error is explained in words; a stack trace may follow in a debug log, never instead. */
    private static void assertNoStackTrace(String out) {
        assertFalse(
                out.lines().anyMatch(l -> l.startsWith("\tat ") || l.startsWith("Exception in thread")),
                "a stack trace in:\n" + out);
    }
}
