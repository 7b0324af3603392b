package io.streamtrain.cli.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.core.control.ControlMessage;
import io.streamtrain.core.evaluation.EvaluationRecord;
import io.streamtrain.core.evaluation.ValidationPlan;
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
import java.util.function.Consumer;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * What a running evaluator knows of a run is what a restarted one rebuilds: the validation
 * data its checkpoints are scored on (the run's validation plan, fixed by its first
 * evaluation) and whether an operator stopped it.
 */
@Tag("integration")
class EvaluatorRunStateTest {
    static final int EPOCHS = 5;
    static final SyntheticClusters TASK = new SyntheticClusters(8, 3, 0.8, 0.1, 4);

    @RegisterExtension
    static final KafkaFixture kafka = new KafkaFixture();

    @BeforeAll
    static void broker() throws Exception {
        kafka.createTopic("state.train", 2);
        kafka.produce("state.train", 2, TASK.records(16, 16, 1));
        kafka.createTopic("state.validation", 2);
        kafka.produce("state.validation", 2, TASK.records(8, 16, 2));
    }

    /** Trains all epochs with no evaluator about: the same run id and early stopping give bit-identical checkpoints. */
    static void train(String run, String earlyStopping) throws InterruptedException {
        TrainerNode node = new TrainerNode(
                RunSpecParser.parse("""
                run: %s
                data: { train: state.train, validation: state.validation }
                model: { type: mlp, inputs: 8, hidden: [32], classes: 3 }
                init: { seed: 9 }
                batchSize: 16
                maxEpochs: %d
                earlyStopping: %s
                """.formatted(run, EPOCHS, earlyStopping)),
                kafka.settings,
                TrainerOptions.defaults("n").withLogEverySteps(0));
        assertEquals(TrainerNode.Outcome.FINISHED, node.run());
    }

    /** An evaluator of {@code run} in this JVM, called with each evaluation it commits; {@link #close} stops it. */
    static final class Evaluator implements AutoCloseable {
        final EvaluatorService service;
        final List<EvaluationRecord> seen = new CopyOnWriteArrayList<>();
        final Thread thread;

        Evaluator(String run, Consumer<EvaluationRecord> listener) {
            service = new EvaluatorService(kafka.settings, List.of(run), "state-" + run);
            service.addListener(seen::add);
            service.addListener(listener);
            thread = new Thread(service::run, "evaluator-" + run);
            thread.start();
        }

        void awaitEvaluations(int count) throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            while (seen.size() < count && System.nanoTime() < deadline) {
                Thread.sleep(50);
            }
            assertEquals(count, seen.size(), "evaluations committed: " + seen);
        }

        @Override
        public void close() throws InterruptedException {
            service.close();
            thread.join(30_000);
            assertTrue(!thread.isAlive(), "the evaluator stops when closed");
        }
    }

    static List<EvaluationRecord> evaluations(String run) throws Exception {
        List<EvaluationRecord> out = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> r : kafka.readAll(Topics.evaluations(run))) {
            Messages.decodeEvaluation(r.value()).ifPresent(out::add);
        }
        return out;
    }

    static List<ControlMessage.Stop> stops(String run) throws Exception {
        List<ControlMessage.Stop> out = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> r : kafka.readAll(Topics.control(run))) {
            if (Messages.decodeControl(r.value()).orElse(null) instanceof ControlMessage.Stop s) {
                out.add(s);
            }
        }
        return out;
    }

    static void operatorStop(String run) throws Exception {
        ControlMessage.Stop stop =
                new ControlMessage.Stop(run, Messages.newId(), Messages.now(), "operator", "enough", null, "alice");
        try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(kafka.settings.producer())) {
            p.send(new ProducerRecord<>(Topics.control(run), Messages.encode(stop)))
                    .get(30, TimeUnit.SECONDS);
        }
    }

    @Test
    void aRestartedEvaluatorScoresLaterCheckpointsOnTheValidationDataOfTheFirst() throws Exception {
        // patience above maxEpochs: every epoch is evaluated, the last stops the run (max-epochs)
        train("plan-ref", "{ patience: 10 }");
        train("plan-restart", "{ patience: 10 }");
        try (Evaluator reference = new Evaluator("plan-ref", e -> {})) {
            reference.awaitEvaluations(EPOCHS);
        }
        List<EvaluationRecord> expected = evaluations("plan-ref");
        ValidationPlan plan = expected.get(0).validation();
        assertNotNull(plan, "the first evaluation carries the run's validation plan: " + expected.get(0));
        assertEquals(
                new ValidationPlan("state.validation", Map.of(0, 4L, 1, 4L)),
                plan,
                "the topic's 8 records, 4 per partition");

        // evaluated up to epoch 2, then the evaluator stops ...
        Evaluator[] first = new Evaluator[1];
        try (Evaluator e = new Evaluator("plan-restart", ev -> {
            if (ev.epoch() == 2) {
                first[0].service.close(); // on its own thread: nothing after epoch 2 is taken up
            }
        })) {
            first[0] = e;
            e.awaitEvaluations(2);
        }
        assertEquals(
                List.of(1, 2),
                evaluations("plan-restart").stream()
                        .map(EvaluationRecord::epoch)
                        .toList());
        // ... more validation data arrives, and a new evaluator takes the run up
        kafka.produce("state.validation", 2, TASK.records(6, 16, 3));
        try (Evaluator restarted = new Evaluator("plan-restart", e -> {})) {
            restarted.awaitEvaluations(EPOCHS - 2);
        }

        List<EvaluationRecord> actual = evaluations("plan-restart");
        assertEquals(
                expected.stream().map(EvaluationRecord::epoch).toList(),
                actual.stream().map(EvaluationRecord::epoch).toList());
        for (int i = 0; i < EPOCHS; i++) {
            EvaluationRecord a = actual.get(i);
            EvaluationRecord e = expected.get(i);
            String epoch = "epoch " + e.epoch();
            assertEquals(plan, e.validation(), epoch);
            assertEquals(
                    plan, a.validation(), epoch + ": the plan of the run's first evaluation, not the topic's end now");
            assertEquals(128.0, a.metrics().get("val_samples"), epoch);
            assertEquals(e.metrics(), a.metrics(), epoch + ": the same checkpoint on the same data");
            assertEquals(e.decision(), a.decision(), epoch);
            assertEquals(e.waitCount(), a.waitCount(), epoch);
        }
        assertEquals(EvaluationRecord.STOP, actual.get(EPOCHS - 1).decision(), "max-epochs, as the reference");
    }

    @Test
    void aRunningEvaluatorEvaluatesNothingAfterAnOperatorsStopAndSendsNoStopOfItsOwn() throws Exception {
        // evaluated to the end, epoch 5 would get the evaluator's own STOP (max-epochs)
        train("stop-live", "{ patience: 10 }");
        try (Evaluator evaluator = new Evaluator("stop-live", ev -> {
            if (ev.epoch() == 2) {
                try {
                    // on the evaluator's thread, between two checkpoints it has already polled
                    operatorStop("stop-live");
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }
        })) {
            evaluator.awaitEvaluations(2);
            awaitConsumed(Topics.checkpoints("stop-live"));
        }
        assertEquals(
                List.of(1, 2),
                evaluations("stop-live").stream().map(EvaluationRecord::epoch).toList(),
                "no checkpoint is evaluated after the STOP");
        List<ControlMessage.Stop> stops = stops("stop-live");
        assertEquals(1, stops.size(), "only the operator's STOP: " + stops);
        assertEquals("alice", stops.get(0).source());
    }

    @Test
    void aRunningEvaluatorSaysWhenAnOperatorStopsARun() throws Exception {
        train("stop-idle", "{ enabled: false }");
        List<String> args = List.of(
                "--run", "stop-idle", "--bootstrap-servers", kafka.broker.bootstrapServers(), "--instance-id", "idle");
        try (ServiceProcess evaluator = new ServiceProcess(ServiceProcess.EVALUATOR, args)) {
            evaluator.awaitLine(l -> l.contains("run stop-idle epoch " + EPOCHS + " "), 120);
            int before = evaluator.lineCount();
            operatorStop("stop-idle");
            // no checkpoint comes after it: the evaluator notices the STOP itself, within its poll interval
            evaluator.awaitLineAfter(before, l -> l.contains("run stop-idle: stopped by alice (operator: enough)"), 10);
            evaluator.sigterm();
            assertEquals(0, evaluator.awaitExit(30), evaluator.output());
        }
    }

    /** Waits until the evaluators' group has committed past the last record of {@code topic} (partition 0). */
    static void awaitConsumed(String topic) throws Exception {
        TopicPartition tp = new TopicPartition(topic, 0);
        List<ConsumerRecord<byte[], byte[]>> records = kafka.readAll(topic);
        // past the last record, not the topic's end offset: a transaction's commit marker takes an offset too
        long end = records.get(records.size() - 1).offset() + 1;
        try (Admin admin = Admin.create(kafka.settings.admin())) {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            long committed = -1;
            while (committed < end && System.nanoTime() < deadline) {
                Thread.sleep(100);
                var offsets = admin.listConsumerGroupOffsets(Topics.EVALUATOR_GROUP)
                        .partitionsToOffsetAndMetadata()
                        .get(30, TimeUnit.SECONDS);
                committed = offsets.get(tp) == null ? -1 : offsets.get(tp).offset();
            }
            assertEquals(end, committed, "the evaluator has taken up every record of " + topic);
        }
    }
}
