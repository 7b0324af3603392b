package io.streamtrain.cli.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.core.control.ControlMessage;
import io.streamtrain.core.evaluation.EvaluationRecord;
import io.streamtrain.core.kafka.KafkaSettings;
import io.streamtrain.core.protocol.Messages;
import io.streamtrain.core.spec.RunSpecParser;
import io.streamtrain.core.topics.Topics;
import io.streamtrain.evaluator.EvaluatorService;
import io.streamtrain.testkit.KafkaFixture;
import io.streamtrain.testkit.ServiceProcess;
import io.streamtrain.testkit.SyntheticClusters;
import io.streamtrain.trainer.TrainerNode;
import io.streamtrain.trainer.TrainerOptions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * An evaluator killed with SIGKILL — between checkpoints or in the middle of one — and
 * started again reaches the same decision at the same epoch as one never interrupted, and
 * publishes no evaluation twice.
 */
@Tag("integration")
class EvaluatorCrashTest {
    static final int EPOCHS = 14;

    @RegisterExtension
    static final KafkaFixture kafka = new KafkaFixture();

    @BeforeAll
    static void broker() throws Exception {
        SyntheticClusters task = new SyntheticClusters(16, 4, 2.0, 0.2, 21);
        kafka.createTopic("crash.train", 2);
        kafka.produce("crash.train", 2, task.records(12, 16, 1));
        kafka.createTopic("crash.validation", 1);
        kafka.produce("crash.validation", 1, task.records(32, 32, 2));
    }

    /** The same run under two ids: same seed and data, so bit-identical checkpoints. */
    static void train(String run) throws InterruptedException {
        TrainerNode node = new TrainerNode(
                RunSpecParser.parse("""
                run: %s
                data: { train: crash.train, validation: crash.validation }
                model: { type: mlp, inputs: 16, hidden: [256, 256], classes: 4 }
                init: { seed: 5 }
                batchSize: 16
                maxEpochs: %d
                optimizer: { type: adam, learningRate: 0.003 }
                earlyStopping: { patience: 3 }
                """.formatted(run, EPOCHS)),
                kafka.settings,
                TrainerOptions.defaults("n").withLogEverySteps(0));
        assertEquals(TrainerNode.Outcome.FINISHED, node.run(), "no evaluator yet: the trainer runs all epochs");
    }

    static List<EvaluationRecord> evaluations(String run) throws Exception {
        List<EvaluationRecord> out = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> r : kafka.readAll(Topics.evaluations(run))) {
            Messages.decodeEvaluation(r.value()).ifPresent(out::add);
        }
        return out;
    }

    @Test
    void killedAndRestartedItDecidesAsIfUninterrupted() throws Exception {
        train("crash-ref");
        train("crash-kill");

        // the reference: one evaluator that is never interrupted
        List<EvaluationRecord> seen = new CopyOnWriteArrayList<>();
        EvaluatorService reference =
                new EvaluatorService(KafkaSettings.of(kafka.broker.bootstrapServers()), List.of("crash-ref"), "ref");
        reference.addListener(seen::add);
        Thread t = new Thread(reference::run, "reference-evaluator");
        t.start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (seen.stream().noneMatch(e -> EvaluationRecord.STOP.equals(e.decision()))
                && seen.size() < EPOCHS
                && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        reference.close();
        t.join(30_000);
        List<EvaluationRecord> expected = evaluations("crash-ref");
        EvaluationRecord expectedLast = expected.get(expected.size() - 1);
        assertEquals(
                EvaluationRecord.STOP,
                expectedLast.decision(),
                "the reference run overfits and is stopped: " + expected);

        // the same checkpoints, evaluated by a child process killed twice on its way
        List<String> args = List.of(
                "--run",
                "crash-kill",
                "--bootstrap-servers",
                kafka.broker.bootstrapServers(),
                "--instance-id",
                "crashy");
        // the group's own settings: a restarted instance (same --instance-id) is a static member that takes its
        // partitions back at
        // once, not after its killed predecessor's session timed out (Kafka's default 45 s: the restart idled that
        // long, before)
        Map<String, String> env = Map.of();
        List<Long> gaps = new ArrayList<>();
        long killedAt = 0;
        for (String killAt : List.of("run crash-kill epoch 1 ", "run crash-kill epoch 3 ")) {
            try (ServiceProcess evaluator = new ServiceProcess(ServiceProcess.EVALUATOR, args, env)) {
                if (killedAt > 0) {
                    evaluator.awaitLine(l -> l.contains("run crash-kill epoch "), 120);
                    gaps.add(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - killedAt));
                }
                evaluator.awaitLine(l -> l.contains(killAt), 120);
                evaluator.sigkill(); // somewhere between this evaluation and the next
                killedAt = System.nanoTime();
                evaluator.awaitExit(30);
            }
        }
        try (ServiceProcess evaluator = new ServiceProcess(ServiceProcess.EVALUATOR, args, env)) {
            evaluator.awaitLine(l -> l.contains("run crash-kill epoch "), 120);
            gaps.add(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - killedAt));
            evaluator.awaitLine(
                    l -> l.contains("run crash-kill epoch " + expectedLast.epoch() + " ") && l.contains("STOP"), 180);
            evaluator.sigterm();
            assertEquals(0, evaluator.awaitExit(30), evaluator.output());
        }
        System.out.println(
                "EvaluatorCrashTest: from a SIGKILL to the restarted evaluator's next evaluation: " + gaps + " ms");
        // a new JVM loads PyTorch and scores a checkpoint in a few seconds; the predecessor's session alone took 45
        for (long gap : gaps) {
            assertTrue(gap < 30_000, "a restarted evaluator waited " + gap + " ms before it evaluated: " + gaps);
        }

        List<EvaluationRecord> actual = evaluations("crash-kill");
        assertEquals(
                expected.stream().map(EvaluationRecord::epoch).toList(),
                actual.stream().map(EvaluationRecord::epoch).toList(),
                "every epoch evaluated exactly once, up to the same stop");
        for (int i = 0; i < expected.size(); i++) {
            EvaluationRecord a = actual.get(i);
            EvaluationRecord e = expected.get(i);
            assertEquals(e.metrics().get("val_loss"), a.metrics().get("val_loss"), "epoch " + e.epoch());
            assertEquals(e.decision(), a.decision(), "epoch " + e.epoch());
            assertEquals(e.waitCount(), a.waitCount(), "epoch " + e.epoch());
            assertEquals(e.best().epoch(), a.best().epoch(), "epoch " + e.epoch());
        }
        assertEquals(expectedLast.reason(), actual.get(actual.size() - 1).reason());
        List<ControlMessage> control = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> r : kafka.readAll(Topics.control("crash-kill"))) {
            Messages.decodeControl(r.value()).ifPresent(control::add);
        }
        assertEquals(
                1,
                control.stream().filter(m -> m instanceof ControlMessage.Stop).count(),
                "one STOP: " + control);
        assertTrue(control.stream()
                .anyMatch(m -> m instanceof ControlMessage.Stop s
                        && s.best().epoch() == expectedLast.best().epoch()));
        // the group's committed offset says how far the run's history reaches: a new owner reads at least that far
        try (org.apache.kafka.clients.admin.Admin admin =
                org.apache.kafka.clients.admin.Admin.create(kafka.settings.admin())) {
            var committed = admin.listConsumerGroupOffsets(Topics.EVALUATOR_GROUP)
                    .partitionsToOffsetAndMetadata()
                    .get(30, TimeUnit.SECONDS)
                    .get(new org.apache.kafka.common.TopicPartition(Topics.checkpoints("crash-kill"), 0));
            List<ConsumerRecord<byte[], byte[]>> records = kafka.readAll(Topics.evaluations("crash-kill"));
            assertEquals(
                    "evaluations-through=" + records.get(records.size() - 1).offset(), committed.metadata());
        }
    }
}
