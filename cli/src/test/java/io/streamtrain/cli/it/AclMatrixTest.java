package io.streamtrain.cli.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.streamtrain.core.control.ControlMessage;
import io.streamtrain.core.evaluation.EvaluationRecord;
import io.streamtrain.core.kafka.KafkaSettings;
import io.streamtrain.core.protocol.Messages;
import io.streamtrain.core.topics.Topics;
import io.streamtrain.testkit.EmbeddedKafka;
import io.streamtrain.testkit.Repo;
import io.streamtrain.testkit.SafetensorsFile;
import io.streamtrain.testkit.ServiceProcess;
import io.streamtrain.testkit.SyntheticClusters;
import io.streamtrain.testkit.TestCa;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Strimzi overlay's users on a real SASL_SSL broker (SCRAM-SHA-512, a CA made for the test,
 * the standard authorizer): each role logs in as its own user holding exactly the ACLs of
 * {@code deploy/k8s/overlays/strimzi/kafka-users.yaml}, on the topics of its
 * {@code kafka-topics.yaml}, and a whole run works — two trainers, the evaluator, {@code ctl}
 * and {@code export} — while each of them, missing one of its ACLs, exits 2 naming what it
 * was refused. So the overlay's ACLs are enough, and what each one is for is checked.
 */
@Tag("integration")
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class AclMatrixTest {
    private static final Path OVERLAY = Repo.path("deploy", "k8s", "overlays", "strimzi");
    /** The overlay's run and data topics, as its manifests name them. */
    private static final String RUN = "fashion-mlp-01";

    private static final String TRAIN = "fashion.train";
    private static final String VALIDATION = "fashion.validation";
    private static final int EPOCHS = 3;
    private static final String STREAMTRAIN = "io.streamtrain.cli.Streamtrain";

    @TempDir
    static Path dir;

    private static EmbeddedKafka broker;
    private static Path caCertificate;
    private static Path spec;
    private static final Map<String, String> passwords = new HashMap<>();
    /** Each user's ACLs as the overlay grants them. */
    private static final Map<String, List<AclBinding>> acls = new HashMap<>();

    @BeforeAll
    static void cluster() throws Exception {
        String storePassword = UUID.randomUUID().toString();
        caCertificate = TestCa.make(dir.resolve("tls"), storePassword);
        broker = EmbeddedKafka.startSecured(
                new EmbeddedKafka.Tls(dir.resolve("tls").resolve(TestCa.BROKER_KEYSTORE), storePassword));
        ObjectMapper yaml = new ObjectMapper(new YAMLFactory());
        try (Admin admin =
                Admin.create(KafkaSettings.of(broker.bootstrapServers()).admin())) {
            List<NewTopic> topics = new ArrayList<>();
            for (JsonNode topic : yaml.readValues(
                            yaml.createParser(
                                    OVERLAY.resolve("kafka-topics.yaml").toFile()),
                            JsonNode.class)
                    .readAll()) {
                Map<String, String> config = new HashMap<>();
                topic.path("spec")
                        .path("config")
                        .properties()
                        .forEach(e -> config.put(e.getKey(), e.getValue().asText()));
                topics.add(new NewTopic(
                                topic.path("spec").path("topicName").asText(),
                                topic.path("spec").path("partitions").asInt(),
                                (short) 1)
                        .configs(config));
            }
            admin.createTopics(topics).all().get(30, TimeUnit.SECONDS);
            for (JsonNode user : yaml.readValues(
                            yaml.createParser(
                                    OVERLAY.resolve("kafka-users.yaml").toFile()),
                            JsonNode.class)
                    .readAll()) {
                String name = user.path("metadata").path("name").asText();
                assertEquals(
                        "scram-sha-512",
                        user.path("spec").path("authentication").path("type").asText(),
                        name);
                passwords.put(name, UUID.randomUUID().toString());
                admin.alterUserScramCredentials(List.of(new UserScramCredentialUpsertion(
                                name,
                                new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192),
                                passwords.get(name))))
                        .all()
                        .get(30, TimeUnit.SECONDS);
                acls.put(
                        name,
                        bindings(name, user.path("spec").path("authorization").path("acls")));
                admin.createAcls(acls.get(name)).all().get(30, TimeUnit.SECONDS);
            }
        }
        SyntheticClusters task = new SyntheticClusters(16, 4, 2.0, 0.2, 3);
        broker.produceRoundRobin(TRAIN, 4, task.records(16, 16, 1));
        broker.produceRoundRobin(VALIDATION, 1, task.records(8, 32, 2));
        spec = dir.resolve("spec.yaml");
        Files.writeString(spec, """
                run: %s
                data: { train: %s, validation: %s }
                model: { type: mlp, inputs: 16, hidden: [32], classes: 4 }
                init: { seed: 11 }
                batchSize: 16
                maxEpochs: %d
                optimizer: { type: adam, learningRate: 0.01 }
                earlyStopping: { patience: 10 }
                sync: { minNodes: 2 }
                """.formatted(RUN, TRAIN, VALIDATION, EPOCHS));
    }

    @AfterAll
    static void stop() {
        if (broker != null) {
            broker.close();
        }
    }

    /** The KafkaUser's {@code acls} as Kafka's bindings for {@code User:name}. */
    private static List<AclBinding> bindings(String user, JsonNode entries) {
        List<AclBinding> out = new ArrayList<>();
        for (JsonNode e : entries) {
            JsonNode r = e.path("resource");
            ResourceType type = switch (r.path("type").asText()) {
                case "topic" -> ResourceType.TOPIC;
                case "group" -> ResourceType.GROUP;
                case "transactionalId" -> ResourceType.TRANSACTIONAL_ID;
                case "cluster" -> ResourceType.CLUSTER;
                default -> throw new AssertionError("a resource type this test does not know: " + r);
            };
            PatternType pattern = switch (r.path("patternType").asText("literal")) { // Strimzi's names for Kafka's
                case "literal" -> PatternType.LITERAL;
                case "prefix" -> PatternType.PREFIXED;
                default -> throw new AssertionError("a pattern type this test does not know: " + r);
            };
            for (JsonNode op : e.path("operations")) {
                AclOperation operation = AclOperation.fromString(
                        op.asText().replaceAll("([a-z])([A-Z])", "$1_$2").toUpperCase(Locale.ROOT));
                assertTrue(operation != AclOperation.UNKNOWN, "an operation Kafka does not know: " + op);
                out.add(new AclBinding(
                        new ResourcePattern(type, r.path("name").asText(), pattern),
                        new AccessControlEntry("User:" + user, "*", operation, AclPermissionType.ALLOW)));
            }
        }
        return out;
    }

    /** The client settings of the overlay's kafka.env, logging in as {@code user}. */
    private static Map<String, String> as(String user) {
        return Map.of(
                "STREAMTRAIN_KAFKA_SECURITY_PROTOCOL",
                "SASL_SSL",
                "STREAMTRAIN_KAFKA_SASL_MECHANISM",
                EmbeddedKafka.SCRAM,
                "STREAMTRAIN_KAFKA_SASL_JAAS_CONFIG",
                "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"" + user + "\" password=\""
                        + passwords.get(user) + "\";",
                "STREAMTRAIN_KAFKA_SSL_TRUSTSTORE_TYPE",
                "PEM",
                "STREAMTRAIN_KAFKA_SSL_TRUSTSTORE_LOCATION",
                caCertificate.toString());
    }

    private static ServiceProcess trainer(String node) throws IOException {
        return new ServiceProcess(
                ServiceProcess.TRAINER,
                List.of(
                        "--spec",
                        spec.toString(),
                        "--bootstrap-servers",
                        broker.securedBootstrapServers(),
                        "--node-id",
                        node,
                        "--broker-wait",
                        "20"),
                as("streamtrain-trainer"));
    }

    private static ServiceProcess evaluator() throws IOException {
        return new ServiceProcess(
                ServiceProcess.EVALUATOR,
                List.of(
                        "--bootstrap-servers",
                        broker.securedBootstrapServers(),
                        "--run",
                        RUN,
                        "--instance-id",
                        "acl-evaluator"),
                as("streamtrain-evaluator"));
    }

    private static ServiceProcess operator(String... args) throws IOException {
        List<String> command = new ArrayList<>(List.of(args));
        command.addAll(List.of("--bootstrap-servers", broker.securedBootstrapServers()));
        return new ServiceProcess(STREAMTRAIN, command, as("streamtrain-operator"));
    }

    /**
     * Takes one of {@code user}'s ACLs away while {@code attempt} runs: it must exit 2 and say
     * what it was refused.
     */
    private static void withoutOne(
            String user, Predicate<AclBinding> which, String named, ServiceProcessSupplier attempt) throws Exception {
        List<AclBinding> removed = acls.get(user).stream().filter(which).toList();
        assertTrue(!removed.isEmpty(), "the overlay grants " + user + " no such ACL");
        try (Admin admin =
                Admin.create(KafkaSettings.of(broker.bootstrapServers()).admin())) {
            admin.deleteAcls(removed.stream().map(AclBinding::toFilter).toList())
                    .all()
                    .get(30, TimeUnit.SECONDS);
            try (ServiceProcess p = attempt.start()) {
                int exit = p.awaitExit(120);
                assertEquals(
                        2,
                        exit,
                        user + " without " + removed + ": exit 2 (a permanent refusal, not retried), output:\n"
                                + p.output());
                assertTrue(
                        p.output().contains(named),
                        user + " without " + removed + " must name " + named + "; output:\n" + p.output());
            } finally {
                admin.createAcls(removed).all().get(30, TimeUnit.SECONDS);
            }
        }
    }

    @FunctionalInterface
    private interface ServiceProcessSupplier {
        ServiceProcess start() throws Exception;
    }

    private static Predicate<AclBinding> on(ResourceType type, String name, AclOperation operation) {
        return b -> b.pattern().resourceType() == type
                && b.pattern().name().equals(name)
                && b.entry().operation() == operation;
    }

    /**
     * Each names the operation and the resource: the services check their topics' ACLs at
     * their start ({@code Preflight.requireOperations}), so a missing Write on the checkpoints
     * no longer waits for the first epoch's end, nor a missing Write on the evaluations for the
     * first checkpoint (an evaluator without it looked fine until then).
     */
    @Test
    @Order(1)
    void eachRoleMissingOneOfItsAclsExitsTwoNamingWhatItWasRefused() throws Exception {
        withoutOne(
                "streamtrain-trainer",
                on(ResourceType.GROUP, Topics.trainerGroup(RUN), AclOperation.READ),
                "needs Read on group " + Topics.trainerGroup(RUN),
                () -> trainer("lacking"));
        withoutOne(
                "streamtrain-trainer",
                on(ResourceType.TOPIC, Topics.sync(RUN), AclOperation.WRITE),
                "needs Write on topic " + Topics.sync(RUN),
                () -> trainer("lacking"));
        withoutOne(
                "streamtrain-trainer",
                on(ResourceType.TOPIC, Topics.checkpoints(RUN), AclOperation.WRITE),
                "needs Write on topic " + Topics.checkpoints(RUN),
                () -> trainer("lacking"));
        withoutOne(
                "streamtrain-evaluator",
                on(ResourceType.TOPIC, Topics.checkpoints(RUN), AclOperation.READ),
                "needs Read on topic " + Topics.checkpoints(RUN),
                AclMatrixTest::evaluator);
        withoutOne(
                "streamtrain-evaluator",
                on(ResourceType.TOPIC, Topics.evaluations(RUN), AclOperation.WRITE),
                "needs Write on topic " + Topics.evaluations(RUN),
                AclMatrixTest::evaluator);
        withoutOne(
                "streamtrain-operator",
                on(ResourceType.TOPIC, Topics.control(RUN), AclOperation.WRITE),
                "needs Write on " + Topics.control(RUN),
                () -> operator("ctl", "pause", "--run", RUN));
    }

    @Test
    @Order(2)
    void aWholeRunWorksWithEachRoleUnderItsOwnUserAndItsAclsAlone() throws Exception {
        try (ServiceProcess evaluator = evaluator();
                ServiceProcess a = trainer("acl-a");
                ServiceProcess b = trainer("acl-b")) {
            assertEquals(0, a.awaitExit(240), "trainer a, output:\n" + a.output());
            assertEquals(0, b.awaitExit(60), "trainer b, output:\n" + b.output());
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            while (evaluations().size() < EPOCHS && System.nanoTime() < deadline) {
                assertTrue(evaluator.alive(), "the evaluator exited; output:\n" + evaluator.output());
                Thread.sleep(200);
            }
            assertEquals(
                    List.of(1, 2, 3),
                    evaluations().stream().map(EvaluationRecord::epoch).toList(),
                    "every epoch evaluated; evaluator output:\n" + evaluator.output());
        }

        try (ServiceProcess status = operator("ctl", "status", "--run", RUN)) {
            assertEquals(0, status.awaitExit(60), status.output());
            assertTrue(status.output().contains("epoch " + EPOCHS), status.output());
        }
        try (ServiceProcess resume = operator("ctl", "resume", "--run", RUN)) {
            assertEquals(0, resume.awaitExit(60), "the operator writes commands: " + resume.output());
        }
        List<String> sources = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> r : readAll(Topics.control(RUN))) {
            if (Messages.decodeControl(r.value()).orElse(null) instanceof ControlMessage.Resume command) {
                sources.add(command.source());
            }
        }
        assertEquals(
                List.of("User:streamtrain-operator"),
                sources,
                "unsigned, a command names the Kafka principal that wrote it");
        Path exported = dir.resolve("best.safetensors");
        try (ServiceProcess export = operator("export", "--run", RUN, "--best", "-o", exported.toString())) {
            assertEquals(0, export.awaitExit(60), export.output());
        }
        assertTrue(Files.size(exported) > 0);
        SafetensorsFile.parse(Files.readAllBytes(exported)); // a readable model
    }

    @Test
    @Order(3)
    void readingTheFinishedRunsResultsWithoutReadOnItsCheckpointsExitsTwoNamingTheTopic() throws Exception {
        withoutOne(
                "streamtrain-operator",
                on(ResourceType.TOPIC, Topics.checkpoints(RUN), AclOperation.READ),
                Topics.checkpoints(RUN),
                () -> operator("ctl", "status", "--run", RUN));
        withoutOne(
                "streamtrain-operator",
                on(ResourceType.TOPIC, Topics.checkpoints(RUN), AclOperation.READ),
                Topics.checkpoints(RUN),
                () -> operator(
                        "export",
                        "--run",
                        RUN,
                        "--best",
                        "-o",
                        dir.resolve("refused.safetensors").toString()));
        assertTrue(Files.notExists(dir.resolve("refused.safetensors")), "nothing written");
    }

    /** The run's evaluations, read as the super user. */
    private static List<EvaluationRecord> evaluations() throws Exception {
        List<EvaluationRecord> out = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> r : readAll(Topics.evaluations(RUN))) {
            Messages.decodeEvaluation(r.value()).ifPresent(out::add);
        }
        return out;
    }

    /** A one-partition topic from its start to its end, read as the super user. */
    private static List<ConsumerRecord<byte[], byte[]>> readAll(String topic) {
        List<ConsumerRecord<byte[], byte[]>> out = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> c =
                new KafkaConsumer<>(KafkaSettings.of(broker.bootstrapServers()).reader())) {
            TopicPartition p = new TopicPartition(topic, 0);
            c.assign(List.of(p));
            c.seekToBeginning(List.of(p));
            long end = c.endOffsets(List.of(p)).get(p);
            while (c.position(p) < end) {
                c.poll(java.time.Duration.ofMillis(200)).forEach(out::add);
            }
        }
        return out;
    }
}
