package io.streamtrain.core.kafka;

import io.streamtrain.core.signing.Signing;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.ByteBufferDeserializer;

/**
 * How every streamtrain process talks to Kafka: the bootstrap servers plus any client
 * properties the operator passes through unchanged (security settings included), and the
 * few settings streamtrain's correctness depends on, which a pass-through cannot undo.
 *
 * <p>From the environment: {@code STREAMTRAIN_BOOTSTRAP_SERVERS}, and every
 * {@code STREAMTRAIN_KAFKA_<NAME>} as client property {@code <name>} with {@code _} read as
 * {@code .} (so {@code STREAMTRAIN_KAFKA_SECURITY_PROTOCOL=SSL} sets {@code security.protocol});
 * and the {@link Signing} of the messages this process writes and reads
 * ({@code STREAMTRAIN_SIGNING_KEY}, {@code STREAMTRAIN_TRUSTED_KEYS}).
 */
public record KafkaSettings(String bootstrapServers, Map<String, String> passthrough, Signing signing) {
    public static final String BOOTSTRAP_ENV = "STREAMTRAIN_BOOTSTRAP_SERVERS";
    public static final String PASSTHROUGH_ENV_PREFIX = "STREAMTRAIN_KAFKA_";
    public static final String DEFAULT_BOOTSTRAP = "localhost:9092";

    public KafkaSettings {
        passthrough = Map.copyOf(passthrough);
        signing = signing == null ? Signing.off() : signing;
    }

    /** Client properties passed through, nothing signed or checked. */
    public KafkaSettings(String bootstrapServers, Map<String, String> passthrough) {
        this(bootstrapServers, passthrough, Signing.off());
    }

    public static KafkaSettings of(String bootstrapServers) {
        return new KafkaSettings(bootstrapServers, Map.of());
    }

    /** These settings, signing and checking messages as {@code signing} says. */
    public KafkaSettings withSigning(Signing signing) {
        return new KafkaSettings(bootstrapServers, passthrough, signing);
    }

    /**
     * @param bootstrapOverride a command-line value; wins over the environment when not null
     * @throws StartupException (exit 2) when a signing variable names a file that cannot be used
     */
    public static KafkaSettings fromEnvironment(Map<String, String> env, String bootstrapOverride) {
        Map<String, String> pass = new TreeMap<>();
        env.forEach((k, v) -> {
            if (k.startsWith(PASSTHROUGH_ENV_PREFIX)) {
                pass.put(
                        k.substring(PASSTHROUGH_ENV_PREFIX.length())
                                .toLowerCase(Locale.ROOT)
                                .replace('_', '.'),
                        v);
            }
        });
        String bootstrap = bootstrapOverride != null
                ? bootstrapOverride
                : env.getOrDefault(
                        BOOTSTRAP_ENV,
                        pass.getOrDefault(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, DEFAULT_BOOTSTRAP));
        return new KafkaSettings(bootstrap, pass, Signing.fromEnvironment(env));
    }

    /**
     * The Kafka principal these settings log in as, as the broker's ACLs name it under its
     * default rules, when the settings say it: SASL PLAIN/SCRAM users, Kerberos principals,
     * OAuth subjects named in the JAAS configuration, TLS client certificates (see
     * {@link ClientPrincipal}). Empty otherwise (plaintext, a token from an identity provider):
     * the broker alone knows.
     */
    public Optional<String> principal() {
        return ClientPrincipal.of(passthrough);
    }

    public Map<String, Object> admin() {
        Map<String, Object> c = base();
        // fail a startup check within seconds rather than Kafka's default minute
        c.put(CommonClientConfigs.DEFAULT_API_TIMEOUT_MS_CONFIG, 10_000);
        c.put(CommonClientConfigs.REQUEST_TIMEOUT_MS_CONFIG, 10_000);
        return c;
    }

    /** A consumer of raw records that commits only what the caller commits explicitly. */
    public Map<String, Object> consumer(String groupId) {
        Map<String, Object> c = base();
        if (groupId != null) {
            c.put(ConsumerConfig.GROUP_ID_CONFIG, groupId);
        }
        c.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        c.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        // offsets are committed with the checkpoint that accounts for them, never in the background
        c.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        // never see records of aborted transactions (half-written checkpoints, rolled-back DLQ records)
        c.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        c.putIfAbsent(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        // reading a topic must never create it (a typo in a spec would make an empty topic)
        c.put(ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, false);
        return c;
    }

    public Map<String, Object> producer() {
        Map<String, Object> c = base();
        c.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        c.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        c.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        c.put(ProducerConfig.ACKS_CONFIG, "all");
        return c;
    }

    /** A transactional producer; a newer instance with the same id fences an older one. */
    public Map<String, Object> transactionalProducer(String transactionalId) {
        Map<String, Object> c = producer();
        c.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, transactionalId);
        return c;
    }

    // ---- Each client streamtrain builds, by role: the one place that answers how it is configured ----

    /** Reads a topic once, without a group: control history, the latest checkpoint, an epoch plan. */
    public Map<String, Object> reader() {
        return consumer(null);
    }

    /** The train feed's {@code fetch.max.wait.ms}: how long an epoch's first fetch may wait behind the previous one. */
    public static final int EPOCH_START_FETCH_WAIT_MS = 50;

    /** A trainer's batch feed: a member of the run's trainer group. */
    public Map<String, Object> trainFeedConsumer(String groupId) {
        Map<String, Object> c = consumer(groupId);
        // the feed seeks to the epoch plan itself; a position Kafka cannot serve must fail loudly, never jump
        c.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "none");
        // values as views of the fetched bytes: the feed decodes them from there, with no copy into an array first
        c.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteBufferDeserializer.class.getName());
        // every epoch starts with a seek back to the plan's start, while the fetch the consumer sent on reaching
        // the end is still at the broker, which holds a fetch with no data for this long; the consumer sends the
        // seek's fetch only after it: 500 ms (Kafka's default) was a 0.5 s gap in the feed at every epoch start
        // (docs/benchmarks.md, "The epoch's first fetch"). A short wait costs a few empty fetches a second when
        // there is nothing to read
        c.putIfAbsent(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, EPOCH_START_FETCH_WAIT_MS);
        autotunedSocket(c);
        // a node that died is noticed in seconds: the others wait for it in their round
        return noticedDeadInSeconds(c);
    }

    /**
     * Reads the earlier records a continuous run's windows replay ({@code data.window.replay}),
     * beside the batch feed and outside its group: it seeks to each window's replay itself.
     */
    public Map<String, Object> replayReader() {
        Map<String, Object> c = consumer(null);
        // records retention removed must fail loudly (the node says which setting to raise), never jump
        c.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "none");
        c.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteBufferDeserializer.class.getName());
        // every window seeks back: its fetch must not wait long behind the one before
        c.putIfAbsent(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, EPOCH_START_FETCH_WAIT_MS);
        return c;
    }

    /** Writes a trainer's joins and contributions (payloads in chunks of {@code chunkBytes}). */
    public Map<String, Object> syncProducer(int chunkBytes) {
        Map<String, Object> p = producer();
        p.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, chunkBytes + RunTopics.RECORD_OVERHEAD_BYTES);
        // the other nodes wait for a contribution: send it now
        p.put(ProducerConfig.LINGER_MS_CONFIG, 0);
        return p;
    }

    /** Reads the sync log from an explicit position. */
    public Map<String, Object> syncReader(int chunkBytes) {
        Map<String, Object> c = consumer(null);
        // a position that is gone (deleted below a newer checkpoint) must fail, never skip rounds
        c.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "none");
        // a round's contributions in one fetch, not a chunk or two per broker round trip: the nodes wait for them
        c.put(
                ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG,
                Math.max(ROUND_FETCH_BYTES, chunkBytes + RunTopics.RECORD_OVERHEAD_BYTES));
        c.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 10);
        // a lone node reads its round back between steps, one poll a step: with Kafka's 64 KB socket
        // buffer that is 64 KB a step, and a 16 MB state came back after the next epoch had ended
        return autotunedSocket(c);
    }

    /** Acknowledges control commands (not transactional: a node killed mid-transaction would hold back every reader). */
    public Map<String, Object> ackProducer() {
        return producer();
    }

    /** Writes dead letters, each as large as the largest record of the train topic ({@code maxRecordBytes}). */
    public Map<String, Object> deadLetterProducer(int maxRecordBytes) {
        Map<String, Object> p = producer();
        p.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, RunTopics.RECORD_OVERHEAD_BYTES + maxRecordBytes);
        return p;
    }

    /** Publishes a run's checkpoints: one transactional id per run, so a new publisher fences the old. */
    public Map<String, Object> checkpointProducer(String transactionalId, int chunkBytes) {
        Map<String, Object> p = transactionalProducer(transactionalId);
        p.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, RunTopics.RECORD_OVERHEAD_BYTES + chunkBytes);
        return p;
    }

    /**
     * The evaluator's subscription to every run's checkpoint topic: a static member named by
     * its instance id, so a restarted instance takes its partitions back at once instead of
     * waiting for its predecessor's session to time out (it leaves the group when it stops).
     */
    public Map<String, Object> evaluatorCheckpointConsumer(String groupId, String instanceId) {
        Map<String, Object> c = consumer(groupId);
        c.putIfAbsent(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, groupId + "." + instanceId);
        // an instance that died (and is not restarted under its id) is noticed in seconds
        noticedDeadInSeconds(c);
        // see a run's checkpoint topic within seconds of its first trainer creating it
        c.put(ConsumerConfig.METADATA_MAX_AGE_CONFIG, 5_000);
        c.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        // a poll's records are scored one by one: keep a batch well inside max.poll.interval.ms
        c.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 50);
        return c;
    }

    /**
     * Follows a run's checkpoint topic as it is written (how the lab shows a run's epochs):
     * a short fetch wait, or a committed manifest waits for the broker's 500 ms default.
     */
    public Map<String, Object> checkpointFollower() {
        Map<String, Object> c = consumer(null);
        c.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 10);
        return c;
    }

    /** The evaluator's reader of control topics, whose end offsets it reads after every checkpoint. */
    public Map<String, Object> evaluatorControlReader() {
        Map<String, Object> c = consumer(null);
        // a fetch waiting at the broker holds up the next request on its connection: the control topic's end
        // offsets, read after every checkpoint, must not wait out the default 500 ms of an idle fetch
        c.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 10);
        return c;
    }

    /** Writes evaluation records and STOPs together with the checkpoint offsets, in one transaction. */
    public Map<String, Object> evaluationProducer(String transactionalId) {
        Map<String, Object> p = transactionalProducer(transactionalId);
        p.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, EVALUATION_REQUEST_BYTES);
        return p;
    }

    /** What one fetch of the sync log may bring (Kafka's whole-response limit, fetch.max.bytes, is 50 MB). */
    private static final int ROUND_FETCH_BYTES = 32 << 20;
    /** Evaluation records are small; the limit only keeps a pathological one from being refused. */
    private static final int EVALUATION_REQUEST_BYTES = 16 << 20;

    /**
     * The operating system sizes the socket's receive buffer (Linux grows it with the flow, up to
     * {@code net.ipv4.tcp_rmem}) instead of Kafka's fixed 64 KB, which also turns off that growth:
     * a consumer that reads megabytes a second then fetches and wakes far less often per byte, as
     * librdkafka does by default (docs/benchmarks.md, "Socket buffers"). An operator's {@code
     * receive.buffer.bytes} still wins.
     */
    private static Map<String, Object> autotunedSocket(Map<String, Object> c) {
        c.putIfAbsent(ConsumerConfig.RECEIVE_BUFFER_CONFIG, -1);
        return c;
    }

    /** A group member that died leaves the group within 10 s, not Kafka's default 45 s (unless the operator set otherwise). */
    private static Map<String, Object> noticedDeadInSeconds(Map<String, Object> c) {
        c.putIfAbsent(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, 10_000);
        c.putIfAbsent(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, 3_000);
        return c;
    }

    private Map<String, Object> base() {
        Map<String, Object> c = new HashMap<>(passthrough);
        c.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        return c;
    }
}
