package io.streamtrain.cli.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.core.checkpoint.CheckpointAssembler;
import io.streamtrain.core.checkpoint.PayloadSources;
import io.streamtrain.core.control.ControlMessage;
import io.streamtrain.core.evaluation.EvaluationRecord;
import io.streamtrain.core.kafka.KafkaSettings;
import io.streamtrain.core.kafka.StartupException;
import io.streamtrain.core.protocol.CheckpointCodec;
import io.streamtrain.core.protocol.DeadLetters;
import io.streamtrain.core.protocol.Messages;
import io.streamtrain.core.protocol.SyncCodec;
import io.streamtrain.core.protocol.SyncMessage;
import io.streamtrain.core.signing.Signing;
import io.streamtrain.core.signing.SigningKey;
import io.streamtrain.core.signing.TrustedKeys;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.core.spec.RunSpecParser;
import io.streamtrain.core.topics.Topics;
import io.streamtrain.evaluator.EvaluatorService;
import io.streamtrain.testkit.KafkaFixture;
import io.streamtrain.testkit.ServiceProcess;
import io.streamtrain.testkit.SyntheticClusters;
import io.streamtrain.trainer.TrainerNode;
import io.streamtrain.trainer.TrainerOptions;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Signed messages on a real broker: with trusted keys configured, a run acts only on what a
 * key trusted with the right signed. Someone with Write on the run's topics but no such key
 * (no key, an unknown key, the evaluator's key used to PAUSE) cannot stop, pause or steer the
 * run, nor get a forged manifest evaluated; an operator's signed SET and STOP work, their
 * acknowledgements name the signer, a replayed command is not applied twice, and {@code ctl
 * status} shows who signed what and what was refused.
 */
@Tag("integration")
class SignedMessagesTest {
    private static final String RUN = "signed";

    @RegisterExtension
    static final KafkaFixture kafka = new KafkaFixture();

    @TempDir
    static Path keys;

    @BeforeAll
    static void setUp() throws Exception {
        SyntheticClusters task = new SyntheticClusters(16, 4, 2.0, 0.2, 31);
        kafka.createTopic("signed.train", 2);
        kafka.produce("signed.train", 2, task.records(64, 16, 1));
        kafka.createTopic("signed.validation", 1);
        kafka.produce("signed.validation", 1, task.records(4, 32, 2));
        for (String[] k : new String[][] {{"alice", "operator"}, {"evaluator", "evaluator"}, {"trainer", "trainer"}}) {
            String[] made = CtlTest.streamtrain("keys", "new", k[0], "--may", k[1], "--dir", keys.toString());
            assertEquals("0", made[0], made[1]);
        }
        // mallory has a well-formed key the run does not trust
        String[] made = CtlTest.streamtrain(
                "keys",
                "new",
                "mallory",
                "--may",
                "operator",
                "--dir",
                keys.resolve("elsewhere").toString());
        assertEquals("0", made[0], made[1]);
    }

    /** The offset of the forged join written to the sync topic. */
    private static long forgedJoinOffset = -1;

    private static String header(ConsumerRecord<byte[], byte[]> r, String name) {
        org.apache.kafka.common.header.Header h = r.headers().lastHeader(name);
        return h == null ? null : new String(h.value(), StandardCharsets.UTF_8);
    }

    private static Signing signing(String key) {
        return new Signing(SigningKey.read(keys.resolve(key + ".key")), TrustedKeys.read(keys.resolve("trusted-keys")));
    }

    private static final RunSpec SPEC = RunSpecParser.parse("""
            run: signed
            data: { train: signed.train, validation: signed.validation }
            model: { type: mlp, inputs: 16, hidden: [32], classes: 4 }
            init: { seed: 3 }
            batchSize: 16
            maxEpochs: 100000
            optimizer: { type: adam, learningRate: 0.003 }
            earlyStopping: { enabled: false }
            """);

    @Test
    void onlyMessagesSignedByAKeyTrustedWithTheirRightSteerTheRun() throws Exception {
        String bootstrap = kafka.broker.bootstrapServers();
        KafkaSettings plain = KafkaSettings.of(bootstrap);
        TrainerNode node = new TrainerNode(
                SPEC,
                plain.withSigning(signing("trainer")),
                TrainerOptions.defaults("n").withLogEverySteps(0));
        NodeThread trainer = NodeThread.start(node, "signed-trainer");
        EvaluatorService evaluator =
                new EvaluatorService(plain.withSigning(signing("evaluator")), List.of(RUN), "signed-ev");
        Thread ev = new Thread(evaluator::run, "signed-evaluator");
        ev.start();
        try {
            await(
                    () -> evaluations().stream().anyMatch(EvaluationRecord::evaluated),
                    120,
                    "the evaluator scores the trainer's signed checkpoints");

            // Write on .control without the right key: an unsigned STOP claiming to be the evaluator, one signed by an
            // untrusted key, and a PAUSE signed by the evaluator's key (trusted to stop, not to pause)
            String control = Topics.control(RUN);
            try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(plain.producer())) {
                p.send(new ProducerRecord<>(
                                control,
                                Messages.encode(new ControlMessage.Stop(
                                        RUN,
                                        "forged-1",
                                        Messages.now(),
                                        "patience-exhausted",
                                        "forged",
                                        null,
                                        "evaluator"))))
                        .get();
                Signing mallory = new Signing(SigningKey.read(keys.resolve("elsewhere/mallory.key")), null);
                p.send(mallory.sign(new ProducerRecord<>(
                                control,
                                Messages.encode(new ControlMessage.Stop(
                                        RUN, "forged-2", Messages.now(), "operator", "forged", null, "alice")))))
                        .get();
                p.send(signing("evaluator")
                                .sign(new ProducerRecord<>(
                                        control,
                                        Messages.encode(new ControlMessage.Pause(
                                                RUN, "forged-3", Messages.now(), "evaluator")))))
                        .get();
                // a forged manifest: a genuine one's bytes under a new id and the highest epoch (to be taken as the
                // latest), unsigned
                ConsumerRecord<byte[], byte[]> genuine = kafka.readAll(Topics.checkpoints(RUN)).stream()
                        .filter(r -> CheckpointCodec.MANIFEST.equals(CheckpointCodec.typeOf(r)))
                        .findFirst()
                        .orElseThrow();
                String forged = new String(genuine.value(), StandardCharsets.UTF_8)
                        .replaceFirst("\"checkpointId\":\"[^\"]+\"", "\"checkpointId\":\"forged-manifest\"")
                        .replaceFirst("\"epoch\":\\d+", "\"epoch\":99999");
                ProducerRecord<byte[], byte[]> manifest =
                        new ProducerRecord<>(Topics.checkpoints(RUN), 0, null, forged.getBytes(StandardCharsets.UTF_8));
                manifest.headers()
                        .add(CheckpointCodec.TYPE_HEADER, CheckpointCodec.MANIFEST.getBytes(StandardCharsets.UTF_8))
                        .add(CheckpointCodec.ID_HEADER, "forged-manifest".getBytes(StandardCharsets.UTF_8));
                p.send(manifest).get();
                // a join on the sync topic, unsigned: no round counts it; its epoch's checkpoint dead-letters it
                forgedJoinOffset = p.send(SyncCodec.record(
                                Topics.sync(RUN),
                                new SyncMessage.Join("forged-join", 1, "mallory", List.of(0, 1), List.of())))
                        .get()
                        .offset();
            }
            await(
                    () -> evaluations().stream().anyMatch(e -> "forged-manifest".equals(e.checkpointId())),
                    60,
                    "the forged manifest is answered");
            EvaluationRecord rejected = evaluations().stream()
                    .filter(e -> "forged-manifest".equals(e.checkpointId()))
                    .findFirst()
                    .orElseThrow();
            assertEquals(EvaluationRecord.REJECTED, rejected.status(), rejected.toString());
            assertTrue(rejected.explanation().contains("is refused: not signed"), rejected.explanation());
            int epochBefore = lastEpoch();
            await(
                    () -> lastEpoch() >= epochBefore + 2,
                    120,
                    "the run trains on: none of the forged commands was acted on");
            assertTrue(trainer.alive(), "the trainer did not obey the forged STOPs: " + trainer.outcome());
            List<ConsumerRecord<byte[], byte[]>> syncDeadLetters = kafka.readAll(Topics.deadLetters(RUN)).stream()
                    .filter(r -> Topics.sync(RUN).equals(header(r, DeadLetters.SOURCE_TOPIC)))
                    .toList();
            assertEquals(1, syncDeadLetters.size(), "the forged join is dead-lettered once: " + syncDeadLetters);
            ConsumerRecord<byte[], byte[]> joinLetter = syncDeadLetters.get(0);
            assertEquals(DeadLetters.SIGNATURE, header(joinLetter, DeadLetters.REASON));
            assertEquals(Long.toString(forgedJoinOffset), header(joinLetter, DeadLetters.SOURCE_OFFSET));
            assertTrue(
                    header(joinLetter, DeadLetters.DETAIL).contains("not signed"),
                    header(joinLetter, DeadLetters.DETAIL));
            assertTrue(new String(joinLetter.value(), StandardCharsets.UTF_8).contains("forged-join"));
            assertTrue(
                    acks().stream().noneMatch(a -> a.command().startsWith("forged-")),
                    "forged commands are not acknowledged: " + acks());

            // the operator's signed SET is applied and its acknowledgement names the signer
            Map<String, String> alice = Map.of(
                    Signing.KEY_ENV,
                    keys.resolve("alice.key").toString(),
                    Signing.TRUSTED_ENV,
                    keys.resolve("trusted-keys").toString());
            String sent =
                    cli(alice, "ctl", "set", "--run", RUN, "--bootstrap-servers", bootstrap, "learningRate=0.002");
            assertTrue(sent.contains("signed by alice"), sent);
            await(
                    () -> acks().stream().anyMatch(a -> "alice".equals(a.signer()) && a.applied()),
                    60,
                    "the SET is acknowledged as alice's");
            ControlMessage.Ack setAck = acks().stream()
                    .filter(a -> "alice".equals(a.signer()))
                    .findFirst()
                    .orElseThrow();

            // the same signed record written again (a replay) is not applied again
            ConsumerRecord<byte[], byte[]> setRecord = kafka.readAll(control).stream()
                    .filter(r -> new String(r.value(), StandardCharsets.UTF_8)
                            .contains("\"id\":\"" + setAck.command() + "\""))
                    .findFirst()
                    .orElseThrow();
            try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(plain.producer())) {
                ProducerRecord<byte[], byte[]> replay = new ProducerRecord<>(control, setRecord.value());
                setRecord.headers().forEach(h -> replay.headers().add(h));
                p.send(replay).get();
            }
            int epochNow = lastEpoch();
            await(() -> lastEpoch() >= epochNow + 1, 120, "training goes on after the replay");
            assertEquals(
                    1,
                    acks().stream()
                            .filter(a -> setAck.command().equals(a.command()))
                            .count(),
                    "one acknowledgement: " + acks());

            // her REVOKE takes the SET back: a later epoch trains with the spec's learning rate again
            await(
                    () -> manifests().stream()
                            .anyMatch(m -> m.runSpec().optimizer().learningRate() == 0.002),
                    120,
                    "an epoch checkpointed under the SET");
            String revoked =
                    cli(alice, "ctl", "revoke", "--run", RUN, "--bootstrap-servers", bootstrap, setAck.command());
            assertTrue(revoked.contains("REVOKE") && revoked.contains("signed by alice"), revoked);
            await(
                    () -> acks().stream()
                            .anyMatch(a -> a.applied()
                                    && "alice".equals(a.signer())
                                    && !a.command().equals(setAck.command())),
                    60,
                    "the REVOKE is acknowledged as alice's");
            long revokedAt = acks().stream()
                    .filter(a -> a.applied()
                            && "alice".equals(a.signer())
                            && !a.command().equals(setAck.command()))
                    .mapToLong(ControlMessage.Ack::step)
                    .min()
                    .orElseThrow();
            await(
                    () -> manifests().stream().anyMatch(m -> m.step() > revokedAt),
                    120,
                    "an epoch ends after the revoke");
            for (io.streamtrain.core.checkpoint.CheckpointManifest m : manifests()) {
                if (m.step() > revokedAt) {
                    assertEquals(
                            0.003,
                            m.runSpec().optimizer().learningRate(),
                            "epoch " + m.epoch() + " ends with the SET revoked");
                }
            }

            String status = cli(alice, "ctl", "status", "--run", RUN, "--bootstrap-servers", bootstrap);
            assertTrue(
                    status.contains("by alice (signed by alice) {learningRate=0.002}: acknowledged by: n at step"),
                    status);
            assertTrue(status.contains("forged-1 at ") && status.contains("refused, not acted on: not signed"), status);
            assertTrue(status.contains("refused, not acted on: signed by key 'mallory', which is not trusted"), status);
            assertTrue(status.contains("refused, not acted on: key evaluator is not trusted with pause"), status);
            assertTrue(status.contains("not stopped"), status);
            assertTrue(
                    status.contains("refused, not counted: not signed") && !status.contains("last epoch 99999"),
                    "the forged manifest is not one of the run's checkpoints: " + status);
            assertTrue(
                    status.contains("(signed by alice) of SET " + setAck.command() + ": acknowledged by: n at step "
                            + revokedAt),
                    status);

            // an operator without a key cannot send once signatures are checked; with one, STOP ends the run
            Map<String, String> keyless =
                    Map.of(Signing.TRUSTED_ENV, keys.resolve("trusted-keys").toString());
            ServiceProcess refused = new ServiceProcess(
                    "io.streamtrain.cli.Streamtrain",
                    List.of("ctl", "stop", "--run", RUN, "--bootstrap-servers", bootstrap),
                    keyless);
            assertEquals(2, refused.awaitExit(60), refused.output());
            assertTrue(refused.output().contains("has no signing key"), refused.output());
            // the run's latest checkpoint is its newest trusted one: the forged "epoch 99999" is skipped, not chosen
            // and refused
            String scored = cli(
                    alice,
                    "score",
                    "run:" + RUN + "@latest",
                    "--topic",
                    "signed.validation",
                    "--bootstrap-servers",
                    bootstrap);
            assertTrue(
                    scored.contains("of run " + RUN + " (latest: epoch ")
                            && !scored.contains("forged-manifest")
                            && !scored.contains("99999"),
                    scored);
            cli(alice, "ctl", "stop", "--run", RUN, "--bootstrap-servers", bootstrap, "--reason", "done");
            assertEquals(TrainerNode.Outcome.STOPPED, trainer.await(Duration.ofSeconds(60)));
            assertTrue(
                    acks().stream()
                            .anyMatch(a ->
                                    "alice".equals(a.signer()) && !a.command().equals(setAck.command())),
                    "the STOP's acknowledgement names alice: " + acks());
        } finally {
            evaluator.close();
            ev.join(30_000);
            if (trainer.alive()) {
                node.requestStop();
                trainer.await(Duration.ofSeconds(30));
            }
        }
        // every manifest the trainer wrote verifies under the trusted keys; the forged one does not
        CheckpointAssembler checked = new CheckpointAssembler(PayloadSources.none(), signing("alice"));
        int verified = 0;
        List<String> refusedIds = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> r : kafka.readAll(Topics.checkpoints(RUN))) {
            try {
                verified += checked.accept(r) == null ? 0 : 1;
            } catch (io.streamtrain.core.checkpoint.CheckpointRejectedException e) {
                assertTrue(e.untrusted(), e.getMessage());
                refusedIds.add(e.checkpointId());
            }
        }
        assertTrue(verified >= 3, "the trainer's manifests verify: " + verified);
        assertEquals(List.of("forged-manifest"), refusedIds);
    }

    @Test
    void aServiceWhoseOwnMessagesWouldBeRefusedDoesNotStart() {
        KafkaSettings keyless = KafkaSettings.of(kafka.broker.bootstrapServers())
                .withSigning(new Signing(null, TrustedKeys.read(keys.resolve("trusted-keys"))));
        TrainerNode node = new TrainerNode(SPEC, keyless, TrainerOptions.defaults("k"));
        StartupException e = org.junit.jupiter.api.Assertions.assertThrows(StartupException.class, node::run);
        assertEquals(2, e.exitCode());
        assertTrue(e.getMessage().contains("the trainer has no signing key"), e.getMessage());
        KafkaSettings wrongRole =
                KafkaSettings.of(kafka.broker.bootstrapServers()).withSigning(signing("alice"));
        StartupException ev = org.junit.jupiter.api.Assertions.assertThrows(
                StartupException.class, () -> new EvaluatorService(wrongRole, List.of(RUN), "wrong").run());
        assertTrue(ev.getMessage().contains("alice is not trusted with evaluation"), ev.getMessage());
    }

    private static String cli(Map<String, String> env, String... args) throws Exception {
        try (ServiceProcess p = new ServiceProcess("io.streamtrain.cli.Streamtrain", List.of(args), env)) {
            int code = p.awaitExit(120);
            assertEquals(0, code, String.join(" ", args) + ":\n" + p.output());
            return p.output();
        }
    }

    private static List<io.streamtrain.core.checkpoint.CheckpointManifest> manifests() {
        List<io.streamtrain.core.checkpoint.CheckpointManifest> out = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> r : kafka.readAll(Topics.checkpoints(RUN))) {
            if (CheckpointCodec.MANIFEST.equals(CheckpointCodec.typeOf(r))) {
                try {
                    io.streamtrain.core.checkpoint.CheckpointManifest m = CheckpointCodec.manifestFromJson(r.value());
                    if (RUN.equals(m.run()) && !"forged-manifest".equals(m.checkpointId())) {
                        out.add(m);
                    }
                } catch (java.io.IOException e) {
                    throw new AssertionError(e);
                }
            }
        }
        return out;
    }

    private static List<EvaluationRecord> evaluations() {
        List<EvaluationRecord> out = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> r : kafka.readAll(Topics.evaluations(RUN))) {
            try {
                Messages.decodeEvaluation(r.value()).ifPresent(out::add);
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        }
        return out;
    }

    private static List<ControlMessage.Ack> acks() {
        List<ControlMessage.Ack> out = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> r : kafka.readAll(Topics.control(RUN))) {
            try {
                Optional<ControlMessage> m = Messages.decodeControl(r.value());
                if (m.isPresent() && m.get() instanceof ControlMessage.Ack a) {
                    out.add(a);
                }
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        }
        return out;
    }

    private static int lastEpoch() {
        return evaluations().stream()
                .filter(EvaluationRecord::evaluated)
                .mapToInt(EvaluationRecord::epoch)
                .max()
                .orElse(0);
    }

    private static void await(java.util.function.BooleanSupplier condition, int seconds, String what)
            throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (!condition.getAsBoolean()) {
            assertTrue(System.nanoTime() < deadline, "not within " + seconds + " s: " + what);
            Thread.sleep(200);
        }
    }
}
