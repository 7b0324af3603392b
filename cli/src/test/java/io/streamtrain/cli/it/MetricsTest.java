package io.streamtrain.cli.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.testkit.KafkaFixture;
import io.streamtrain.testkit.Repo;
import io.streamtrain.testkit.Scrape;
import io.streamtrain.testkit.ServiceProcess;
import io.streamtrain.testkit.SyntheticClusters;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * What an operator's Prometheus sees: a trainer process serves its meters, with the run's
 * tags, on the port it logs, next to {@code /healthz} and {@code /readyz}; and a scrape
 * passes {@code promtool check metrics}.
 */
@Tag("integration")
class MetricsTest {
    static final String TOPIC = "metrics.train";

    @RegisterExtension
    static final KafkaFixture kafka = new KafkaFixture();

    @BeforeAll
    static void broker() throws Exception {
        kafka.createTopic(TOPIC, 2);
        SyntheticClusters task = new SyntheticClusters(8, 3, 0.8, 0.1, 5);
        kafka.produce(TOPIC, 2, task.records(120, 8, 1));
        kafka.produce(TOPIC, 1, List.of("not a safetensors document".getBytes(StandardCharsets.UTF_8)));
    }

    @Test
    void aTrainerAndTheEvaluatorServeTheirMetersHealthAndReadiness(@TempDir Path dir) throws Exception {
        Path spec = Files.writeString(dir.resolve("run.yaml"), """
                run: metrics-run
                data: { train: %s, validation: %s }
                model: { type: mlp, inputs: 8, hidden: [16], classes: 3, dropout: 0.1 }
                batchSize: 16
                maxEpochs: 100000
                optimizer: { type: adamw, learningRate: 0.01 }
                regularization: { l1: 0.0001, l2: 0.001, weightDecay: 0.01, clipGradNorm: 0.5 }
                earlyStopping: { enabled: false }
                """.formatted(TOPIC, TOPIC));
        ServiceProcess trainer =
                new ServiceProcess(spec, kafka.broker.bootstrapServers(), "m-node-0", "--log-every", "0");
        ServiceProcess evaluator = new ServiceProcess(
                ServiceProcess.EVALUATOR,
                List.of(
                        "--bootstrap-servers",
                        kafka.broker.bootstrapServers(),
                        "--run",
                        "metrics-run",
                        "--instance-id",
                        "m-eval"));
        try {
            int port = Scrape.port(trainer);
            trainer.awaitLine(l -> l.contains("epoch 2/") && l.contains("checkpointed"), 180);
            assertEquals(200, Scrape.get(port, "/healthz").statusCode());
            assertEquals(200, Scrape.get(port, "/readyz").statusCode());
            Scrape s = Scrape.of(port);
            String[] tags = {"run=\"metrics-run\"", "role=\"trainer\"", "node=\"m-node-0\""};
            double steps = s.value("streamtrain_trainer_steps_total", tags);
            // 2 epochs of 120 records of 8 samples, 16 a batch: at least 120 steps so far
            assertTrue(steps >= 120, "steps " + steps);
            assertTrue(s.value("streamtrain_trainer_samples_total", tags) >= 16 * 120 - 16);
            assertTrue(s.value("streamtrain_trainer_records_total", tags) >= 2 * 121);
            assertTrue(s.value("streamtrain_trainer_epoch", tags) >= 2);
            assertEquals(
                    0,
                    s.value("streamtrain_trainer_steps_skipped_total", tags),
                    "every step of this run had a finite loss");
            assertEquals(
                    1,
                    s.value("streamtrain_trainer_dlq_records_total", "reason=\"decode\""),
                    "the one bad record, once");
            assertEquals(
                    0,
                    s.value("streamtrain_trainer_dlq_records_total", "reason=\"label\""),
                    "every reason is there from the start");
            assertTrue(s.value("streamtrain_trainer_checkpoints_total", tags) >= 2);
            assertTrue(s.value("streamtrain_trainer_checkpoint_size_bytes", tags) > 1000);
            assertTrue(s.value("streamtrain_trainer_checkpoint_publish_seconds_count", tags) >= 2);
            assertTrue(s.value("streamtrain_trainer_step_seconds_count", tags) >= 120);
            assertTrue(s.value("streamtrain_trainer_loss", "term=\"data\"") > 0);
            assertTrue(s.value("streamtrain_trainer_loss", "term=\"l1\"") > 0);
            // the node trains on while it is scraped, and a scrape reads its gauges one after another: a step may
            // land between the terms and the total. Of several scrapes, one taken between two steps must add up.
            boolean addsUp = false;
            for (int i = 0; i < 50 && !addsUp; i++) {
                Scrape t = i == 0 ? s : Scrape.of(port);
                double terms = t.value("streamtrain_trainer_loss", "term=\"data\"")
                        + t.value("streamtrain_trainer_loss", "term=\"l1\"")
                        + t.value("streamtrain_trainer_loss", "term=\"l2\"")
                        + t.value("streamtrain_trainer_loss", "term=\"l2sp\"");
                addsUp = Math.abs(terms - t.value("streamtrain_trainer_loss", "term=\"total\"")) <= 1e-9;
            }
            assertTrue(addsUp, "the total loss is the data loss plus the penalty terms, in no scrape of 50");
            assertTrue(
                    s.value("streamtrain_trainer_grad_norm", "stage=\"clipped\"") <= 0.5 + 1e-6,
                    "clipped to clipGradNorm");
            assertTrue(s.value("streamtrain_trainer_weight_norm") > 0);
            assertEquals(0.01, s.value("streamtrain_trainer_learning_rate"), 1e-12);
            assertEquals(0.001, s.value("streamtrain_trainer_setting", "name=\"l2\""), 1e-12);
            assertEquals(0.1, s.value("streamtrain_trainer_setting", "name=\"dropout\""), 1e-12);
            assertEquals(2, s.value("streamtrain_trainer_partitions"));
            assertEquals(0, s.value("streamtrain_trainer_paused"));
            assertTrue(s.value("streamtrain_trainer_sync_rounds_total") >= 2, "one round per epoch at least");
            assertEquals(0, s.value("streamtrain_trainer_control_commands_total", "command=\"stop\""));
            // a partition's lag meter appears at the Kafka meters' next refresh (10 s) after its assignment
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            // (the evaluator meanwhile scores the checkpoints)
            while (s.values("kafka_consumer_fetch_manager_records_lag", "topic=\"" + TOPIC + "\"")
                                    .size()
                            < 2
                    && System.nanoTime() < deadline) {
                Thread.sleep(500);
                s = Scrape.of(port);
            }
            assertEquals(
                    2,
                    s.values("kafka_consumer_fetch_manager_records_lag", "topic=\"" + TOPIC + "\"")
                            .size(),
                    "the train consumer's lag, per partition: " + s.families("kafka_consumer_fetch"));
            assertFalse(s.values("jvm_memory_used_bytes", tags).isEmpty());
            promtoolAccepts(s.text());
            assertEquals(30, readmeTable("streamtrain_trainer_").size(), "the README's trainer rows are found");
            assertEquals(
                    readmeTable("streamtrain_trainer_"),
                    registered(s, "streamtrain_trainer_"),
                    "the README's metrics table and the trainer's meters (name=type)");

            int evalPort = Scrape.port(evaluator);
            Scrape e = Scrape.of(evalPort);
            String[] run = {"run=\"metrics-run\"", "role=\"evaluator\"", "node=\"m-eval\""};
            deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            while (e.values("streamtrain_evaluator_evaluations_total", run).stream()
                                    .mapToDouble(Double::doubleValue)
                                    .sum()
                            < 2
                    && System.nanoTime() < deadline) {
                Thread.sleep(500);
                e = Scrape.of(evalPort);
            }
            assertEquals(200, Scrape.get(evalPort, "/healthz").statusCode());
            assertEquals(200, Scrape.get(evalPort, "/readyz").statusCode());
            double evaluated = e.value("streamtrain_evaluator_evaluations_total", run);
            assertTrue(evaluated >= 2, "evaluations " + evaluated);
            assertTrue(e.value("streamtrain_evaluator_epoch", run) >= 2);
            double valLoss = e.value("streamtrain_evaluator_val_loss", run);
            assertTrue(valLoss > 0 && valLoss < 5, "val_loss " + valLoss);
            assertTrue(e.value("streamtrain_evaluator_val_accuracy", run) >= 0);
            assertEquals(
                    Math.exp(valLoss), e.value("streamtrain_evaluator_val_perplexity", run), 1e-9 * Math.exp(valLoss));
            assertTrue(e.value("streamtrain_evaluator_train_loss", run) > 0);
            assertTrue(e.value("streamtrain_evaluator_best_epoch", run) >= 1);
            assertTrue(e.value("streamtrain_evaluator_best_value", run) <= valLoss);
            assertTrue(e.value("streamtrain_evaluator_last_evaluation_timestamp_seconds", run)
                    > System.currentTimeMillis() / 1e3 - 300);
            assertEquals(0, e.value("streamtrain_evaluator_stopped", run), "early stopping is off for this run");
            assertEquals(0, e.value("streamtrain_evaluator_checkpoints_rejected_total", "reason=\"corrupt\""));
            assertEquals(0, e.value("streamtrain_evaluator_early_stops_total", "reason=\"patience-exhausted\""));
            assertEquals(evaluated, e.value("streamtrain_evaluator_evaluation_seconds_count", run));
            promtoolAccepts(e.text());
            assertEquals(
                    readmeTable("streamtrain_evaluator_"),
                    registered(e, "streamtrain_evaluator_"),
                    "the README's metrics table and the evaluator's meters (name=type)");
        } finally {
            trainer.sigterm();
            evaluator.sigterm();
            trainer.awaitExit(60);
            evaluator.awaitExit(60);
            trainer.close();
            evaluator.close();
        }
    }

    @Test
    void theDashboardsCatalogueIsTheReadmeTable() throws Exception {
        java.util.SortedMap<String, String> catalogue = new java.util.TreeMap<>();
        for (io.streamtrain.testkit.MetricCatalogue.Meter m : io.streamtrain.testkit.MetricCatalogue.STREAMTRAIN) {
            catalogue.put(m.name(), m.type().name().toLowerCase(java.util.Locale.ROOT));
        }
        assertEquals(
                readmeTable("streamtrain_"),
                catalogue,
                "deploy/'s meter catalogue (MetricCatalogue) and the README's table");
    }

    /** The README's metrics table rows whose name starts with {@code prefix}, as name=type. */
    static java.util.SortedMap<String, String> readmeTable(String prefix) throws java.io.IOException {
        java.util.SortedMap<String, String> out = new java.util.TreeMap<>();
        Path readme = Repo.path("README.md");
        for (String line : Files.readAllLines(readme)) {
            String[] cells = line.split("\\|");
            if (cells.length > 3 && cells[1].strip().startsWith("`" + prefix)) {
                out.put(cells[1].strip().replace("`", ""), cells[2].strip());
            }
        }
        return out;
    }

    /** The meter families of a scrape whose name starts with {@code prefix}, as name=type (a histogram's _max gauge is its own). */
    static java.util.SortedMap<String, String> registered(Scrape s, String prefix) {
        java.util.SortedMap<String, String> out = new java.util.TreeMap<>();
        for (String line : s.text().split("\n")) {
            String[] t = line.split(" ");
            if (line.startsWith("# TYPE " + prefix) && t.length == 4) {
                out.put(t[2], t[3]);
            }
        }
        out.keySet()
                .removeIf(name ->
                        name.endsWith("_max") && "histogram".equals(out.get(name.substring(0, name.length() - 4))));
        return out;
    }

    /** {@code promtool check metrics} reads a scrape on stdin and names every problem it sees. */
    static void promtoolAccepts(String scrape) throws Exception {
        Process p;
        try {
            p = new ProcessBuilder("promtool", "check", "metrics")
                    .redirectErrorStream(true)
                    .start();
        } catch (java.io.IOException e) {
            throw new AssertionError("promtool is missing: install the Debian package prometheus (.ci/run does)", e);
        }
        p.getOutputStream().write(scrape.getBytes(StandardCharsets.UTF_8));
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), "promtool check metrics:\n" + out);
        assertEquals("", out.strip(), "promtool check metrics found problems");
    }
}
