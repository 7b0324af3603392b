package io.streamtrain.lab.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.core.kafka.KafkaSettings;
import io.streamtrain.core.kafka.TopicReader;
import io.streamtrain.core.topics.Topics;
import io.streamtrain.lab.Lab;
import io.streamtrain.lab.report.RunReport;
import io.streamtrain.testkit.SyntheticClusters;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A run an operator stops mid-way (ctl stop, which no evaluation records) is reported as stopped early, with who stopped it. */
@Tag("integration")
class OperatorStopReportTest {
    private static final String RUN = "halted";
    private static final int EPOCHS = 200;

    @Test
    void aRunStoppedByAnOperatorIsReportedStoppedEarly(@TempDir Path dir) throws Exception {
        ByteArrayOutputStream printed = new ByteArrayOutputStream();
        PrintStream out = new PrintStream(printed, true, StandardCharsets.UTF_8);
        AtomicReference<RunReport> report = new AtomicReference<>();
        int exit = Lab.run("operator-stop-test", false, 1, dir, out, lab -> {
            KafkaSettings kafka = KafkaSettings.of(lab.bootstrapServers());
            try (Admin admin = Admin.create(kafka.admin())) {
                admin.createTopics(List.of(
                                new NewTopic("halted.train", 1, (short) 1),
                                new NewTopic("halted.validation", 1, (short) 1)))
                        .all()
                        .get(30, TimeUnit.SECONDS);
            }
            SyntheticClusters task = new SyntheticClusters(8, 3, 0.5, 0.1, 5);
            try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(kafka.producer())) {
                for (byte[] r : task.records(20, 16, 1)) {
                    p.send(new ProducerRecord<>("halted.train", 0, null, r)).get();
                }
                for (byte[] r : task.records(2, 16, 2)) {
                    p.send(new ProducerRecord<>("halted.validation", 0, null, r))
                            .get();
                }
            }
            FutureTask<Void> operator = new FutureTask<>(() -> {
                awaitACheckpoint(kafka);
                String[] stop = LabCommandLine.streamtrain(
                        "ctl",
                        "stop",
                        "--run",
                        RUN,
                        "--reason",
                        "enough for today",
                        "--bootstrap-servers",
                        lab.bootstrapServers());
                assertEquals("0", stop[0], stop[1]);
                return null;
            });
            new Thread(operator, "operator").start();
            report.set(lab.train("""
                    run: %s
                    data: { train: halted.train, validation: halted.validation }
                    model: { type: mlp, inputs: 8, hidden: [16], classes: 3 }
                    batchSize: 16
                    maxEpochs: %d
                    optimizer: { type: adam, learningRate: 0.001 }
                    earlyStopping: { enabled: false }
                    """.formatted(RUN, EPOCHS), 320));
            // the operator's own failure (no checkpoint came, ctl stop refused) is this test's, with its cause
            operator.get(60, TimeUnit.SECONDS);
            return 0;
        });
        String shown = printed.toString(StandardCharsets.UTF_8);
        assertEquals(0, exit, shown);
        RunReport r = report.get();
        assertEquals("operator", r.outcome().stopReason(), shown);
        assertEquals("enough for today", r.outcome().stopExplanation());
        assertTrue(
                r.outcome().stoppedEarly(), "stopped by an operator long before epoch " + EPOCHS + ": " + r.outcome());
        assertTrue(shown.contains("streamtrain: run " + RUN + " stopped early after"), shown);
        String html = Files.readString(dir.resolve(RUN).resolve("report.html"));
        assertTrue(html.contains("Stopped") && html.contains("(operator)"), "the report page's headline");
    }

    private static void awaitACheckpoint(KafkaSettings kafka) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (System.nanoTime() < deadline) {
            try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(kafka.consumer(null))) {
                if (!TopicReader.readAll(c, Topics.checkpoints(RUN), Duration.ofSeconds(10))
                        .isEmpty()) {
                    return;
                }
            } catch (RuntimeException notYet) {
                // the topic appears when the trainer starts
            }
            Thread.sleep(200);
        }
        throw new AssertionError("no checkpoint of " + RUN + " within 120 s");
    }
}
