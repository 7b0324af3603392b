package io.streamtrain.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.cli.Streamtrain;
import io.streamtrain.testkit.KafkaFixture;
import io.streamtrain.testkit.MonitoringQueries;
import io.streamtrain.testkit.MonitoringQueries.Query;
import io.streamtrain.testkit.MonitoringQueries.Source;
import io.streamtrain.testkit.PrometheusFixture;
import io.streamtrain.testkit.Scrape;
import io.streamtrain.testkit.ServiceProcess;
import io.streamtrain.testkit.SyntheticClusters;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The dashboard and the rules against a real run: two trainer processes and the evaluator,
 * scraped by a real Prometheus, and every expression of every panel, variable, annotation
 * and rule of {@code deploy/} run through Prometheus's HTTP API. A query that returns no
 * data, or does not parse, fails the test with the panel's (or rule's) name.
 */
@Tag("integration")
class DashboardQueriesTest {
    static final String RUN = "dash";
    static final String TOPIC = "dash.train";
    static final String VALIDATION = "dash.validation";

    @RegisterExtension
    static final KafkaFixture kafka = new KafkaFixture();

    @BeforeAll
    static void broker() throws Exception {
        // small and noisy: a wide model overfits it within a few epochs, and the evaluator stops the run
        SyntheticClusters task = new SyntheticClusters(16, 4, 0.6, 0.3, 21);
        kafka.createTopic(TOPIC, 2);
        // enough for an epoch to take seconds (the run is paused before it can stop), and uneven: partition 1's node
        // runs
        // out of each epoch at once and spends the rest of it waiting in rounds, so the PAUSE finds it waiting
        kafka.produce(TOPIC, 2, task.records(40, 16, 1));
        kafka.produce(TOPIC, 1, task.records(800, 16, 3));
        kafka.produce(TOPIC, 1, List.of("not a batch".getBytes(StandardCharsets.UTF_8))); // one dead letter
        kafka.createTopic(VALIDATION, 1);
        kafka.produce(VALIDATION, 1, task.records(20, 32, 2));
    }

    @Test
    void everyPanelVariableAnnotationAndRuleHasDataFromARealRun(@TempDir Path dir) throws Exception {
        Path spec = Files.writeString(dir.resolve("dash.yaml"), """
                run: %s
                data: { train: %s, validation: %s }
                model: { type: mlp, inputs: 16, hidden: [256], classes: 4 }
                init: { seed: 3 }
                batchSize: 16
                maxEpochs: 200
                optimizer: { type: adam, learningRate: 0.01 }
                regularization: { l2: 0.0001, clipGradNorm: 5.0 }
                earlyStopping: { monitor: val_loss, patience: 4 }
                # a round held longer than --broker-wait ends a waiting node, unless a PAUSE holds the run
                sync: { everySteps: 10, minNodes: 2, timeoutSeconds: 2 }
                """.formatted(RUN, TOPIC, VALIDATION));
        String bootstrap = kafka.broker.bootstrapServers();
        List<ServiceProcess> trainers = List.of(
                new ServiceProcess(spec, bootstrap, "dash-node-0", "--log-every", "0", "--broker-wait", "5"),
                new ServiceProcess(spec, bootstrap, "dash-node-1", "--log-every", "0", "--broker-wait", "5"));
        ServiceProcess evaluator = new ServiceProcess(
                ServiceProcess.EVALUATOR,
                List.of("--bootstrap-servers", bootstrap, "--run", RUN, "--instance-id", "dash-evaluator"));
        Instant started = Instant.now();
        PrometheusFixture.Builder scrape = PrometheusFixture.builder().optRuleFile(MonitoringQueries.RULES);
        for (ServiceProcess t : trainers) {
            scrape.target("streamtrain-trainer", "127.0.0.1:" + Scrape.port(t));
        }
        scrape.target("streamtrain-evaluator", "127.0.0.1:" + Scrape.port(evaluator));
        try (PrometheusFixture prometheus = scrape.start()) {
            prometheus.awaitTargetsUp(Duration.ofSeconds(60));
            // hold the run once the evaluator has scored a checkpoint: every meter has a value by then, and the
            // run cannot stop while the panels are queried
            awaitQuery(
                    prometheus,
                    "streamtrain_evaluator_evaluations_total{run=\"" + RUN + "\"} >= 1",
                    Duration.ofSeconds(180));
            ctl("pause", "--run", RUN, "--bootstrap-servers", bootstrap);
            try {
                awaitQuery(
                        prometheus,
                        "min(streamtrain_trainer_paused{run=\"" + RUN + "\"}) == 1",
                        Duration.ofSeconds(60));
            } catch (AssertionError e) {
                throw new AssertionError(
                        e.getMessage() + " (did the run stop before the PAUSE?)\n"
                                + trainers.get(0).output(),
                        e);
            }

            List<Query> all = MonitoringQueries.all(MonitoringQueries.defaultVariables(RUN));
            List<Query> now = all.stream()
                    .filter(q -> q.source() != Source.ALERT_RULE && q.source() != Source.ANNOTATION)
                    .toList();
            assertTrue(now.size() > 40, "the dashboard's and the rules' expressions are found: " + now.size());
            Map<String, String> failing = prometheus.withoutData(now, Duration.ofSeconds(60));
            assertTrue(
                    failing.isEmpty(),
                    "no data from a real run (2 trainers, the evaluator):\n"
                            + failing.entrySet().stream()
                                    .map(e -> e.getKey() + ": " + e.getValue())
                                    .collect(Collectors.joining("\n")));

            // a pause longer than --broker-wait (5 s): a node waiting in a round for the paused other must not give up
            Thread.sleep(8_000);
            ctl("resume", "--run", RUN, "--bootstrap-servers", bootstrap);
            for (ServiceProcess t : trainers) {
                // paused far longer than --broker-wait: a node that waited for the other's round in the pause goes on
                assertEquals(0, t.awaitExit(300), "a trainer ends on the evaluator's STOP:\n" + t.output());
                assertTrue(t.output().contains("stopped by evaluator (patience-exhausted)"), t.output());
            }
            awaitQuery(prometheus, "streamtrain_evaluator_stopped{run=\"" + RUN + "\"} == 1", Duration.ofSeconds(30));

            // annotations mark events: over the run, each has some
            List<String> silent = new ArrayList<>();
            for (Query q :
                    all.stream().filter(q -> q.source() == Source.ANNOTATION).toList()) {
                // the last event's scrape may land a scrape interval after the gauge that announced it was read
                long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
                while (prometheus
                        .queryRange(q.expr(), started, Instant.now(), Duration.ofSeconds(1))
                        .isEmpty()) {
                    if (System.nanoTime() > deadline) {
                        silent.add(q.name() + ": " + q.expr());
                        break;
                    }
                    Thread.sleep(500);
                }
            }
            assertTrue(
                    silent.isEmpty(),
                    "annotations without an event over a run that was paused, resumed and stopped early:\n"
                            + String.join("\n", silent));
            // the alert rules parse and evaluate (whether they fire is promtool test rules' business)
            for (PrometheusFixture.Rule r : prometheus.rules()) {
                assertEquals("ok", r.health(), r.group() + " " + r.name() + ": " + r.lastError());
            }
            assertFalse(prometheus.rules().isEmpty());
        } finally {
            evaluator.sigterm();
            evaluator.awaitExit(60);
            for (ServiceProcess t : trainers) {
                t.close();
            }
            evaluator.close();
        }
    }

    private static void awaitQuery(PrometheusFixture prometheus, String expr, Duration timeout)
            throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (prometheus.query(expr).isEmpty()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("no result for " + expr + " within " + timeout.toSeconds() + " s");
            }
            Thread.sleep(250);
        }
    }

    /** {@code streamtrain ctl ARGS}, in this JVM; fails the test with what it printed unless it succeeds. */
    private static void ctl(String... args) {
        StringWriter printed = new StringWriter();
        String[] command = Stream.concat(Stream.of("ctl"), Arrays.stream(args)).toArray(String[]::new);
        assertEquals(
                0,
                Streamtrain.run(new PrintWriter(printed, true), command),
                () -> "streamtrain ctl " + String.join(" ", args) + ":\n" + printed);
    }
}
