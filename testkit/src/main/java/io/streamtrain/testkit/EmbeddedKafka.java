package io.streamtrain.testkit;

import io.streamtrain.core.kafka.KafkaSettings;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import kafka.server.KafkaConfig;
import kafka.server.KafkaRaftServer;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.utils.Time;
import org.apache.kafka.metadata.storage.Formatter;

/**
 * A real single-node Kafka broker (KRaft, broker and controller in one process) for
 * {@code streamtrain local}, the demo and the tests. It listens on free loopback ports,
 * keeps its data in a directory of its own, and removes it on {@link #close()} unless the
 * directory was given by the caller.
 *
 * <p>{@link #stop()} and {@link #restart()} take the broker away and bring it back on the
 * same ports with the same data, as a broker restart in a real cluster does: clients keep
 * their bootstrap address and find their topics, groups and transactions again.
 *
 * <p>{@link #startSecured} adds what a shared cluster has: a SASL_SSL listener (SCRAM-SHA-512,
 * the given TLS key) and Kafka's standard authorizer, so a client there can do only what ACLs
 * allow its user. The plaintext listener stays for setting the cluster up: its clients are
 * {@code User:ANONYMOUS}, a super user (users, ACLs, topics and data are made through it).
 */
public final class EmbeddedKafka implements AutoCloseable {
    /** The SASL mechanism of the secured listener. */
    public static final String SCRAM = "SCRAM-SHA-512";

    /** The TLS key of a secured broker: a PKCS12 keystore holding its key and certificate chain. */
    public record Tls(Path keystore, String password) {}

    private final Path dataDir;
    private final boolean ownsDir;
    private final int brokerPort;
    /** The SASL_SSL listener's port, or -1 when the broker is not secured. */
    private final int securedPort;

    private final KafkaConfig config;
    private KafkaRaftServer server;

    private EmbeddedKafka(Path dataDir, boolean ownsDir) throws Exception {
        this(dataDir, ownsDir, null);
    }

    private EmbeddedKafka(Path dataDir, boolean ownsDir, Tls tls) throws Exception {
        this.dataDir = dataDir;
        this.ownsDir = ownsDir;
        this.brokerPort = freePort();
        this.securedPort = tls == null ? -1 : freePort();
        // KRaft cannot bind the controller to port 0 (the voter address must be known up front)
        int controllerPort = freePort();
        Properties props = properties(dataDir, brokerPort, controllerPort);
        if (tls != null) {
            secure(props, brokerPort, securedPort, controllerPort, tls);
        }
        this.config = KafkaConfig.fromProps(props, false);
        if (!Files.exists(dataDir.resolve("logs").resolve("meta.properties"))) {
            format(config);
        }
        this.server = launch(config);
    }

    private static KafkaRaftServer launch(KafkaConfig config) {
        KafkaRaftServer s = new KafkaRaftServer(config, Time.SYSTEM);
        try {
            s.startup();
        } catch (RuntimeException e) {
            s.shutdown();
            throw e;
        }
        return s;
    }

    /** Starts a broker with its data in a new temporary directory. */
    public static EmbeddedKafka start() throws Exception {
        return new EmbeddedKafka(Files.createTempDirectory("streamtrain-kafka-"), true);
    }

    /** Starts a broker with its data in {@code dir}, kept after close (a restart finds it). */
    public static EmbeddedKafka start(Path dir) throws Exception {
        Files.createDirectories(dir);
        return new EmbeddedKafka(dir, false);
    }

    /**
     * Starts a broker in a new temporary directory with a SASL_SSL listener (SCRAM-SHA-512, the
     * key in {@code tls}) next to the plaintext one, and the standard authorizer: on the secured
     * listener a user may do what its ACLs allow and nothing else.
     */
    public static EmbeddedKafka startSecured(Tls tls) throws Exception {
        return new EmbeddedKafka(Files.createTempDirectory("streamtrain-kafka-"), true, tls);
    }

    /** The plaintext listener; on a secured broker its clients are the super user {@code User:ANONYMOUS}. */
    public String bootstrapServers() {
        return "127.0.0.1:" + brokerPort;
    }

    /** The SASL_SSL listener of a broker started by {@link #startSecured}. */
    public String securedBootstrapServers() {
        if (securedPort < 0) {
            throw new IllegalStateException("this broker has no secured listener: start it with startSecured");
        }
        return "127.0.0.1:" + securedPort;
    }

    public Path dataDir() {
        return dataDir;
    }

    /**
     * Creates a topic on this broker (replication factor 1: there is one broker) and waits until
     * the broker serves every partition of it: the controller has committed a topic before the
     * broker's metadata has it, and a test writing its data at once should not meet that gap (a
     * write to a just-created topic failed once in a test run).
     */
    public void createTopic(String name, int partitions) throws Exception {
        try (Admin admin = Admin.create(KafkaSettings.of(bootstrapServers()).admin())) {
            admin.createTopics(List.of(new NewTopic(name, partitions, (short) 1)))
                    .all()
                    .get(30, TimeUnit.SECONDS);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (!servesEveryPartition(admin, name, partitions)) {
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("topic " + name + " was created but its " + partitions
                            + " partitions have no leader after 30 s");
                }
                Thread.sleep(20);
            }
        }
    }

    private static boolean servesEveryPartition(Admin admin, String topic, int partitions) throws Exception {
        try {
            TopicDescription d = admin.describeTopics(List.of(topic))
                    .allTopicNames()
                    .get(10, TimeUnit.SECONDS)
                    .get(topic);
            return d.partitions().size() == partitions
                    && d.partitions().stream()
                            .allMatch(p -> p.leader() != null && !p.leader().isEmpty());
        } catch (ExecutionException e) {
            if (e.getCause() instanceof UnknownTopicOrPartitionException) {
                return false;
            }
            throw e;
        }
    }

    /**
     * Writes {@code values} with a plain producer, record {@code i} to partition
     * {@code i % partitions}: explicit partitions (not the sticky partitioner) give the same
     * layout, and so the same training, every time.
     */
    public void produceRoundRobin(String topic, int partitions, List<byte[]> values) {
        try (KafkaProducer<byte[], byte[]> p =
                new KafkaProducer<>(KafkaSettings.of(bootstrapServers()).producer())) {
            List<Future<RecordMetadata>> sent = new ArrayList<>();
            for (int i = 0; i < values.size(); i++) {
                sent.add(p.send(new ProducerRecord<>(topic, i % partitions, null, values.get(i))));
            }
            for (Future<RecordMetadata> s : sent) {
                s.get(); // a test's data is all there, or the test fails here
            }
        } catch (ExecutionException e) {
            throw new IllegalStateException("producing to " + topic + " failed: " + e.getCause(), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while producing to " + topic, e);
        }
    }

    private static Properties properties(Path dir, int brokerPort, int controllerPort) {
        Properties p = new Properties();
        p.put("process.roles", "broker,controller");
        p.put("node.id", "1");
        p.put("controller.quorum.voters", "1@127.0.0.1:" + controllerPort);
        p.put("listeners", "PLAINTEXT://127.0.0.1:" + brokerPort + ",CONTROLLER://127.0.0.1:" + controllerPort);
        p.put("advertised.listeners", "PLAINTEXT://127.0.0.1:" + brokerPort);
        p.put("controller.listener.names", "CONTROLLER");
        p.put("inter.broker.listener.name", "PLAINTEXT");
        p.put("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT");
        p.put("log.dirs", dir.resolve("logs").toString());
        // one node: every internal topic has a single replica, or transactions never initialize
        p.put("offsets.topic.replication.factor", "1");
        p.put("offsets.topic.num.partitions", "1");
        p.put("transaction.state.log.replication.factor", "1");
        p.put("transaction.state.log.min.isr", "1");
        p.put("transaction.state.log.num.partitions", "1");
        p.put("share.coordinator.state.topic.replication.factor", "1");
        p.put("share.coordinator.state.topic.min.isr", "1");
        p.put("default.replication.factor", "1");
        p.put("min.insync.replicas", "1");
        // a trainer joining alone should not wait for companions that are not coming
        p.put("group.initial.rebalance.delay.ms", "0");
        // topics are created deliberately, with their partitions, never by a typo
        p.put("auto.create.topics.enable", "false");
        // the default is forever: a broken setup must fail, not hang
        p.put("server.max.startup.time.ms", "60000");
        return p;
    }

    private static void secure(Properties p, int brokerPort, int securedPort, int controllerPort, Tls tls) {
        p.put(
                "listeners",
                "PLAINTEXT://127.0.0.1:" + brokerPort + ",SASL_SSL://127.0.0.1:" + securedPort
                        + ",CONTROLLER://127.0.0.1:" + controllerPort);
        p.put("advertised.listeners", "PLAINTEXT://127.0.0.1:" + brokerPort + ",SASL_SSL://127.0.0.1:" + securedPort);
        p.put("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT");
        p.put("sasl.enabled.mechanisms", SCRAM);
        p.put(
                "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config",
                "org.apache.kafka.common.security.scram.ScramLoginModule required;");
        p.put("ssl.keystore.type", "PKCS12");
        p.put("ssl.keystore.location", tls.keystore().toString());
        p.put("ssl.keystore.password", tls.password());
        p.put("ssl.key.password", tls.password());
        p.put("authorizer.class.name", "org.apache.kafka.metadata.authorizer.StandardAuthorizer");
        // the controller, the broker to itself and the setup: all on the plaintext listeners, as ANONYMOUS
        p.put("super.users", "User:ANONYMOUS");
        p.put("allow.everyone.if.no.acl.found", "false");
    }

    private static void format(KafkaConfig config) throws Exception {
        Formatter formatter = new Formatter()
                .setPrintStream(new PrintStream(OutputStream.nullOutputStream()))
                .setNodeId(config.nodeId())
                .setClusterId(Uuid.randomUuid().toString())
                .setControllerListenerName(config.controllerListenerNames().get(0))
                .setMetadataLogDirectory(config.metadataLogDir())
                .setHasDynamicQuorum(false);
        config.logDirs().forEach(formatter::addDirectory);
        formatter.run();
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            s.setReuseAddress(true);
            return s.getLocalPort();
        }
    }

    /** Whether the broker is up (started and not {@link #stop() stopped}). */
    public synchronized boolean isRunning() {
        return server != null;
    }

    /**
     * Shuts the broker down and keeps its data and ports, so {@link #restart()} brings the
     * same cluster back; clients see connection refused until then. Does nothing when the
     * broker is already stopped.
     */
    public synchronized void stop() {
        if (server != null) {
            KafkaRaftServer s = server;
            server = null;
            s.shutdown();
            s.awaitShutdown();
        }
    }

    /** Starts the broker again (stopping it first if it runs) on the same ports, with the same data. */
    public synchronized void restart() {
        stop();
        server = launch(config);
    }

    @Override
    public synchronized void close() {
        stop();
        if (ownsDir) {
            try (Stream<Path> files = Files.walk(dataDir)) {
                files.sorted(Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
            } catch (IOException e) {
                throw new UncheckedIOException("cannot remove " + dataDir, e);
            }
        }
    }
}
