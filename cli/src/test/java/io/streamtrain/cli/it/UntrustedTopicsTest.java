package io.streamtrain.cli.it;

import static io.streamtrain.cli.it.ForgedRecords.bytes;
import static io.streamtrain.cli.it.ForgedRecords.copy;
import static io.streamtrain.cli.it.ForgedRecords.header;
import static io.streamtrain.cli.it.ForgedRecords.ofEpoch;
import static io.streamtrain.cli.it.ForgedRecords.send;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.streamtrain.core.control.ControlMessage;
import io.streamtrain.core.evaluation.EvaluationRecord;
import io.streamtrain.core.protocol.CheckpointCodec;
import io.streamtrain.core.protocol.Messages;
import io.streamtrain.core.spec.RunSpecParser;
import io.streamtrain.core.topics.Topics;
import io.streamtrain.evaluator.EvaluatorService;
import io.streamtrain.testkit.KafkaFixture;
import io.streamtrain.testkit.SyntheticClusters;
import io.streamtrain.trainer.TrainerNode;
import io.streamtrain.trainer.TrainerOptions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Records a writer of a run's own topics can forge (Write on {@code .checkpoints} or
 * {@code .control} is all it takes) must not crash, redirect or steer the services: each
 * fails for itself, with a reason, and the runs go on. Every case here crashed a service,
 * read a file it must not, or stopped another run before the checks it tests.
 */
@Tag("integration")
class UntrustedTopicsTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @RegisterExtension
    static final KafkaFixture kafka = new KafkaFixture();

    @BeforeAll
    static void broker() throws Exception {
        SyntheticClusters task = new SyntheticClusters(8, 3, 0.8, 0.0, 4);
        kafka.createTopic("trust.train", 1);
        kafka.produce("trust.train", 1, task.records(8, 16, 1));
        kafka.createTopic("trust.validation", 1);
        kafka.produce("trust.validation", 1, task.records(4, 16, 2));
    }

    private static String spec(String run, int epochs) {
        return """
                run: %s
                data: { train: trust.train, validation: trust.validation }
                model: { type: mlp, inputs: 8, hidden: [16], classes: 3 }
                maxEpochs: %d
                earlyStopping: { patience: 10 }
                checkpoints: { chunkBytes: 1024 }
                """.formatted(run, epochs);
    }

    @Test
    void forgedCheckpointRecordsAreRejectedOneByOneAndAStopForAnotherRunStopsNothing() throws Exception {
        assertEquals(
                TrainerNode.Outcome.FINISHED,
                new TrainerNode(
                                RunSpecParser.parse(spec("trust-source", 2)),
                                kafka.settings,
                                TrainerOptions.defaults("n"))
                        .run());
        List<ConsumerRecord<byte[], byte[]>> source = kafka.readAll(Topics.checkpoints("trust-source"));
        List<ConsumerRecord<byte[], byte[]>> epoch1 = ofEpoch(source, 1);
        List<ConsumerRecord<byte[], byte[]>> epoch2 = ofEpoch(source, 2);
        ConsumerRecord<byte[], byte[]> sourceManifest = epoch1.get(epoch1.size() - 1);
        assertEquals(CheckpointCodec.MANIFEST, header(sourceManifest, CheckpointCodec.TYPE_HEADER));

        kafka.createTopic(Topics.checkpoints("trust"), 1);
        kafka.createTopic(Topics.checkpoints("trust-b"), 1);
        try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(kafka.settings.producer())) {
            String a = Topics.checkpoints("trust");
            // a chunk claiming two billion chunks: "Requested array size exceeds VM limit" on every restart, before
            RecordHeaders huge = new RecordHeaders();
            huge.add(CheckpointCodec.TYPE_HEADER, bytes(CheckpointCodec.CHUNK));
            huge.add(CheckpointCodec.ID_HEADER, bytes("trust-e0001-poison"));
            huge.add(CheckpointCodec.CHUNK_HEADER, bytes("0"));
            huge.add(CheckpointCodec.CHUNKS_HEADER, bytes(Integer.toString(Integer.MAX_VALUE)));
            send(p, new ProducerRecord<byte[], byte[]>(a, 0, (byte[]) null, new byte[] {1, 2, 3}, huge));
            // claim checks naming the evaluator's environment (its SASL password) and an endless file
            send(p, manifest(a, sourceManifest, "trust", "file:///proc/self/environ", 4096));
            send(p, manifest(a, sourceManifest, "trust", "file:///dev/zero", 1 << 30));
            // a genuine checkpoint of another run, copied here as it is
            copy(p, epoch1, a, "trust-source", m -> {});
            // and the same one as this run's: evaluated
            copy(p, epoch1, a, "trust", m -> {});
            // a snapshot whose spec names another validation topic: once, it moved the run's evaluations there for good
            copy(p, epoch1, a, "trust", m -> {
                m.put("kind", "snapshot");
                ((ObjectNode) m.get("spec").get("data")).put("validation", "trust.other");
            });
            copy(p, epoch2, a, "trust", m -> {});
            // run B's genuine checkpoints
            copy(p, source, Topics.checkpoints("trust-b"), "trust-b", m -> {});
            // on A's control topic, a STOP that names run B
            kafka.createTopic(Topics.control("trust"), 1);
            send(
                    p,
                    new ProducerRecord<>(
                            Topics.control("trust"),
                            Messages.encode(new ControlMessage.Stop(
                                    "trust-b",
                                    "forged-stop",
                                    Messages.now(),
                                    "operator",
                                    "stop B from A's topic",
                                    null,
                                    "mallory"))));
        }

        List<EvaluationRecord> seen = new CopyOnWriteArrayList<>();
        AtomicReference<Throwable> died = new AtomicReference<>();
        EvaluatorService evaluator = new EvaluatorService(kafka.settings, List.of("trust", "trust-b"), "trust-it");
        evaluator.addListener(seen::add);
        Thread t = new Thread(
                () -> {
                    try {
                        evaluator.run();
                    } catch (Throwable e) {
                        died.set(e);
                    }
                },
                "evaluator");
        t.start();
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            while (seen.size() < 8 && died.get() == null && System.nanoTime() < deadline) {
                Thread.sleep(50);
            }
            assertEquals(null, died.get(), "the evaluator serves on");
            assertTrue(t.isAlive(), "the evaluator serves on");
        } finally {
            evaluator.close();
            t.join(30_000);
        }

        List<EvaluationRecord> onA = evaluations("trust");
        assertEquals(
                List.of("rejected", "rejected", "rejected", "evaluated", "rejected", "evaluated"),
                onA.stream().map(EvaluationRecord::status).toList(),
                onA.toString());
        // this evaluator names no store: a claim check is read from none (CheckpointCodecTest: nor from outside those
        // named)
        assertTrue(
                onA.get(0).explanation().contains("/proc/self/environ is not read"),
                onA.get(0).explanation());
        assertTrue(
                onA.get(1).explanation().contains("/dev/zero is not read"),
                onA.get(1).explanation());
        assertTrue(
                onA.get(2).explanation().contains("names run trust-source"),
                onA.get(2).explanation());
        assertTrue(
                onA.get(4).explanation().contains("data.validation trust.validation → trust.other"),
                onA.get(4).explanation());
        assertEquals(
                "trust.validation",
                onA.get(5).validation().topic(),
                "epoch 2 is scored on the run's own validation data");
        assertEquals(onA.get(3).validation(), onA.get(5).validation());
        for (EvaluationRecord e : onA) {
            assertFalse(
                    e.toString().contains("PATH=") || e.toString().contains("HOME="),
                    "nothing of the environment leaks: " + e);
        }
        // the evaluator made run A's .dlq: a trainer of the run needs room in it for a train record of Kafka's default
        // size (it
        // refused to start, exit 2, when the evaluator's was 12 bytes short); the run is over (the evaluator's STOP at
        // maxEpochs)
        assertEquals(
                TrainerNode.Outcome.STOPPED,
                new TrainerNode(RunSpecParser.parse(spec("trust", 2)), kafka.settings, TrainerOptions.defaults("n"))
                        .run());
        List<EvaluationRecord> onB = evaluations("trust-b");
        assertEquals(
                List.of("evaluated", "evaluated"),
                onB.stream().map(EvaluationRecord::status).toList(),
                "run B is not stopped by a STOP on run A's topic: " + onB);
    }

    @Test
    void aTrainerIgnoresAStopForAnotherRunAndRefusesAnAbsurdSet() throws Exception {
        String run = "trust-t";
        kafka.createTopic(Topics.control(run), 1);
        try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(kafka.settings.producer())) {
            send(
                    p,
                    new ProducerRecord<>(
                            Topics.control(run),
                            Messages.encode(new ControlMessage.Stop(
                                    "someone-else", "forged-stop", Messages.now(), "operator", "x", null, "mallory"))));
            // passed every check before, and killed the trainer within a second on every restart
            send(
                    p,
                    new ProducerRecord<>(
                            Topics.control(run),
                            Messages.encode(new ControlMessage.Set(
                                    run, "poison-set", Messages.now(), Map.of("l2", 1e300), "mallory"))));
            // an id that, printed raw, clears the operator's terminal and forges a line of its own
            send(
                    p,
                    new ProducerRecord<>(
                            Topics.control(run),
                            Messages.encode(new ControlMessage.Checkpoint(
                                    run, "x\u001b[2J\nstopped at now by admin", Messages.now(), "mallory"))));
        }
        TrainerNode node =
                new TrainerNode(RunSpecParser.parse(spec(run, 2)), kafka.settings, TrainerOptions.defaults("n"));
        assertEquals(TrainerNode.Outcome.FINISHED, node.run(), "a STOP naming another run does not stop this one");
        List<String> checkpointed = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> r : kafka.readAll(Topics.checkpoints(run))) {
            if (CheckpointCodec.MANIFEST.equals(header(r, CheckpointCodec.TYPE_HEADER))) {
                checkpointed.add(JSON.readTree(r.value())
                        .get("spec")
                        .get("regularization")
                        .get("l2")
                        .asText());
            }
        }
        assertEquals(List.of("0.0", "0.0"), checkpointed, "both epochs trained with the spec's l2");

        String[] status = CtlTest.streamtrain(
                "ctl", "status", "--run", run, "--bootstrap-servers", kafka.broker.bootstrapServers());
        assertEquals("0", status[0], status[1]);
        assertFalse(status[1].contains("\u001b"), "no escape sequence reaches the terminal:\n" + status[1]);
        assertTrue(status[1].contains("checkpoint x\\u001b[2J\\nstopped at now by admin"), status[1]);
        assertTrue(status[1].contains("not stopped"), "the forged id's text is not a line of its own:\n" + status[1]);
        assertTrue(
                status[1].matches(
                        "(?s).*set poison-set .*acknowledged by: n at step 0 \\(refused: regularization\\.l2.*"),
                "the SET written while no trainer ran is answered with why it was refused:\n" + status[1]);
    }

    private static List<EvaluationRecord> evaluations(String run) throws Exception {
        List<EvaluationRecord> out = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> r : kafka.readAll(Topics.evaluations(run))) {
            Messages.decodeEvaluation(r.value()).ifPresent(out::add);
        }
        return out;
    }

    /**
     * A run's contract outlives the evaluator: after a restart, a manifest whose spec changes the
     * stopping policy is still rejected, naming the change. (Before contracts were recorded in the
     * evaluations, a restarted evaluator fixed only the validation topic until it scored a
     * checkpoint again, so the first manifest after a restart could set the run's policy.)
     */
    @Test
    void aRunsContractOutlivesAnEvaluatorRestart() throws Exception {
        assertEquals(
                TrainerNode.Outcome.FINISHED,
                new TrainerNode(
                                RunSpecParser.parse(spec("contract-source", 3)),
                                kafka.settings,
                                TrainerOptions.defaults("n"))
                        .run());
        List<ConsumerRecord<byte[], byte[]>> source = kafka.readAll(Topics.checkpoints("contract-source"));
        String topic = Topics.checkpoints("contract");
        kafka.createTopic(topic, 1);
        try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(kafka.settings.producer())) {
            copy(p, ofEpoch(source, 1), topic, "contract", m -> {});
        }
        evaluateUntil("contract", 1);
        try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(kafka.settings.producer())) {
            // after the restart: epoch 2 claiming patience 0 and two epochs (it would have stopped the run at once)
            copy(p, ofEpoch(source, 2), topic, "contract", m -> {
                ObjectNode spec = (ObjectNode) m.get("spec");
                spec.put("maxEpochs", 2);
                ((ObjectNode) spec.get("earlyStopping")).put("patience", 0);
            });
            copy(p, ofEpoch(source, 2), topic, "contract", m -> {});
        }
        evaluateUntil("contract", 3);
        List<EvaluationRecord> records = evaluations("contract");
        assertEquals(
                List.of("evaluated", "rejected", "evaluated"),
                records.stream().map(EvaluationRecord::status).toList(),
                records.toString());
        assertTrue(
                records.get(1).explanation().contains("fixed: earlyStopping.patience 10 → 0; maxEpochs 3 → 2."),
                records.get(1).explanation());
        assertEquals(
                EvaluationRecord.CONTINUE,
                records.get(2).decision(),
                "the genuine epoch 2 goes on under the run's own policy");
    }

    /**
     * An operator who registers a run's spec before its first checkpoint fixes its contract: a
     * forged manifest that is the run's very first checkpoint cannot move it to another
     * validation topic (without a registration, the first accepted checkpoint fixes the
     * contract, forged or not), a trainer with a spec that changes it does not start, and a
     * second registration cannot change it.
     */
    @Test
    void aSpecRegisteredBeforeTheFirstCheckpointFixesTheRunsContract() throws Exception {
        assertEquals(
                TrainerNode.Outcome.FINISHED,
                new TrainerNode(
                                RunSpecParser.parse(spec("registered-source", 1)),
                                kafka.settings,
                                TrainerOptions.defaults("n"))
                        .run());
        String bootstrap = kafka.broker.bootstrapServers();
        java.nio.file.Path file = java.nio.file.Files.createTempFile("registered", ".yaml");
        java.nio.file.Files.writeString(file, spec("registered", 3));
        String[] registered = CtlTest.streamtrain(
                "ctl", "register", "--run", "registered", "--spec", file.toString(), "--bootstrap-servers", bootstrap);
        assertEquals("0", registered[0], registered[1]);
        assertTrue(
                registered[1].contains("REGISTER") && registered[1].contains("data.validation trust.validation"),
                registered[1]);

        java.nio.file.Files.writeString(file, spec("registered", 3));
        String[] again = CtlTest.streamtrain(
                "ctl", "register", "--run", "registered", "--spec", file.toString(), "--bootstrap-servers", bootstrap);
        assertEquals("0", again[0]);
        assertTrue(again[1].contains("registered already with this contract"), again[1]);
        java.nio.file.Files.writeString(file, spec("registered", 5));
        assertEquals(
                "2",
                CtlTest.streamtrain(
                        "ctl",
                        "register",
                        "--run",
                        "registered",
                        "--spec",
                        file.toString(),
                        "--bootstrap-servers",
                        bootstrap)[0],
                "a run's contract does not change");

        io.streamtrain.core.kafka.StartupException refused = org.junit.jupiter.api.Assertions.assertThrows(
                io.streamtrain.core.kafka.StartupException.class,
                () -> new TrainerNode(
                                RunSpecParser.parse(spec("registered", 4)),
                                kafka.settings,
                                TrainerOptions.defaults("n"))
                        .run());
        assertEquals(2, refused.exitCode());
        assertTrue(refused.getMessage().contains("maxEpochs 3 → 4"), refused.getMessage());

        List<ConsumerRecord<byte[], byte[]>> source = kafka.readAll(Topics.checkpoints("registered-source"));
        String topic = Topics.checkpoints(
                "registered"); // made by the trainer that was refused (it sets the run's topics up first)
        try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(kafka.settings.producer())) {
            // the run's first checkpoint, forged: scored on another validation topic, it would fix that as the run's
            copy(
                    p,
                    ofEpoch(source, 1),
                    topic,
                    "registered",
                    m -> ((ObjectNode) m.get("spec").get("data")).put("validation", "trust.train"));
            copy(p, ofEpoch(source, 1), topic, "registered", m -> ((ObjectNode) m.get("spec")).put("maxEpochs", 3));
        }
        evaluateUntil("registered", 2);
        List<EvaluationRecord> records = evaluations("registered");
        assertEquals(
                List.of("rejected", "evaluated"),
                records.stream().map(EvaluationRecord::status).toList(),
                records.toString());
        assertTrue(
                records.get(0).explanation().contains("the spec registered for the run")
                        && records.get(0).explanation().contains("data.validation trust.validation → trust.train"),
                records.get(0).explanation());
        String[] status = CtlTest.streamtrain("ctl", "status", "--run", "registered", "--bootstrap-servers", bootstrap);
        assertTrue(status[1].contains("the run's contract: data.validation trust.validation"), status[1]);
    }

    /**
     * Without signatures anyone who may write a run's checkpoint topic can write a manifest of a
     * higher epoch naming another model, and every start of the run would refuse it for good
     * (exit 2: "checkpoints of a different model"). With the run registered, its trainers skip a
     * manifest that breaks the registration, say so, and train.
     */
    @Test
    void aRegisteredRunsTrainersSkipAForgedManifestThatBreaksTheRegistration() throws Exception {
        assertEquals(
                TrainerNode.Outcome.FINISHED,
                new TrainerNode(
                                RunSpecParser.parse(spec("skip-source", 1)),
                                kafka.settings,
                                TrainerOptions.defaults("n"))
                        .run());
        java.nio.file.Path file = java.nio.file.Files.createTempFile("reg-skip", ".yaml");
        java.nio.file.Files.writeString(file, spec("reg-skip", 1));
        assertEquals(
                "0",
                CtlTest.streamtrain(
                        "ctl",
                        "register",
                        "--run",
                        "reg-skip",
                        "--spec",
                        file.toString(),
                        "--bootstrap-servers",
                        kafka.broker.bootstrapServers())[0]);
        String topic = Topics.checkpoints("reg-skip");
        kafka.createTopic(topic, 1);
        try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(kafka.settings.producer())) {
            copy(p, ofEpoch(kafka.readAll(Topics.checkpoints("skip-source")), 1), topic, "reg-skip", m -> {
                m.put("epoch", 99);
                ((ObjectNode) m.get("spec").get("model")).putArray("hidden").add(17);
            });
        }
        assertEquals(
                TrainerNode.Outcome.FINISHED,
                new TrainerNode(RunSpecParser.parse(spec("reg-skip", 1)), kafka.settings, TrainerOptions.defaults("n"))
                        .run(),
                "the forged manifest is not the run's: the run trains");
    }

    /**
     * A 2 KB manifest naming a model of 400 M parameters ({@code hidden: [20000, 20000]}) once
     * cost the evaluator 1.5 GB before anything was checked: now its payload, which holds a
     * small model, cannot hold what its spec names, and it is rejected before the model is built.
     */
    @Test
    void aForgedManifestNamingAHugeModelIsRejectedBeforeTheModelIsBuilt() throws Exception {
        assertEquals(
                TrainerNode.Outcome.FINISHED,
                new TrainerNode(
                                RunSpecParser.parse(spec("huge-source", 1)),
                                kafka.settings,
                                TrainerOptions.defaults("n"))
                        .run());
        List<ConsumerRecord<byte[], byte[]>> source = kafka.readAll(Topics.checkpoints("huge-source"));
        String topic = Topics.checkpoints("huge");
        kafka.createTopic(topic, 1);
        try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(kafka.settings.producer())) {
            copy(
                    p,
                    ofEpoch(source, 1),
                    topic,
                    "huge",
                    m -> ((ObjectNode) m.get("spec").get("model"))
                            .putArray("hidden")
                            .add(20000)
                            .add(20000));
        }
        evaluateUntil("huge", 1);
        EvaluationRecord rejected = evaluations("huge").get(0);
        assertEquals(EvaluationRecord.REJECTED, rejected.status());
        assertTrue(
                rejected.explanation().contains("at least 400")
                        && rejected.explanation().contains("the model is not built"),
                rejected.explanation());
    }

    /** Runs an evaluator (a new instance each time: a restart) until the run has {@code records} evaluation records. */
    private static void evaluateUntil(String run, int records) throws Exception {
        EvaluatorService evaluator = new EvaluatorService(kafka.settings, List.of(run), run + "-ev");
        Thread t = new Thread(evaluator::run, "evaluator-" + run);
        t.start();
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            while (evaluations(run).size() < records) {
                assertTrue(
                        System.nanoTime() < deadline,
                        "not " + records + " evaluations within 120 s: " + evaluations(run));
                Thread.sleep(100);
            }
        } finally {
            evaluator.close();
            t.join(30_000);
        }
    }

    /** A manifest whose payload is a claim check on {@code uri}. */
    private static ProducerRecord<byte[], byte[]> manifest(
            String topic, ConsumerRecord<byte[], byte[]> model, String run, String uri, long size) throws Exception {
        ObjectNode m = (ObjectNode) JSON.readTree(model.value());
        m.put("run", run);
        ((ObjectNode) m.get("spec")).put("run", run);
        m.put("checkpointId", run + "-e0001-" + Integer.toHexString(uri.hashCode()));
        ObjectNode payload = (ObjectNode) m.get("payload");
        payload.put("store", "file").put("uri", uri).put("size", size).put("chunks", 0);
        RecordHeaders h = new RecordHeaders();
        h.add(CheckpointCodec.TYPE_HEADER, bytes(CheckpointCodec.MANIFEST));
        h.add(CheckpointCodec.ID_HEADER, bytes(m.get("checkpointId").asText()));
        return new ProducerRecord<byte[], byte[]>(topic, 0, (byte[]) null, JSON.writeValueAsBytes(m), h);
    }
}
