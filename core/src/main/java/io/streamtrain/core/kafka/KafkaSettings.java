package io.streamtrain.core.kafka;

import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * How every streamtrain process talks to Kafka: the bootstrap servers plus any client
 * properties the operator passes through unchanged (security settings included), and the
 * few settings streamtrain's correctness depends on, which a pass-through cannot undo.
 *
 * <p>From the environment: {@code STREAMTRAIN_BOOTSTRAP_SERVERS}, and every
 * {@code STREAMTRAIN_KAFKA_<NAME>} as client property {@code <name>} with {@code _} read as
 * {@code .} (so {@code STREAMTRAIN_KAFKA_SECURITY_PROTOCOL=SSL} sets {@code security.protocol}).
 */
public record KafkaSettings(String bootstrapServers, Map<String, String> passthrough) {
    public static final String BOOTSTRAP_ENV = "STREAMTRAIN_BOOTSTRAP_SERVERS";
    public static final String PASSTHROUGH_ENV_PREFIX = "STREAMTRAIN_KAFKA_";
    public static final String DEFAULT_BOOTSTRAP = "localhost:9092";

    public KafkaSettings {
        passthrough = Map.copyOf(passthrough);
    }

    public static KafkaSettings of(String bootstrapServers) {
        return new KafkaSettings(bootstrapServers, Map.of());
    }

    /** @param bootstrapOverride a command-line value; wins over the environment when not null */
    public static KafkaSettings fromEnvironment(Map<String, String> env, String bootstrapOverride) {
        Map<String, String> pass = new TreeMap<>();
        env.forEach((k, v) -> {
            if (k.startsWith(PASSTHROUGH_ENV_PREFIX)) {
                pass.put(k.substring(PASSTHROUGH_ENV_PREFIX.length()).toLowerCase(Locale.ROOT).replace('_', '.'), v);
            }
        });
        String bootstrap = bootstrapOverride != null ? bootstrapOverride
                : env.getOrDefault(BOOTSTRAP_ENV, pass.getOrDefault(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, DEFAULT_BOOTSTRAP));
        return new KafkaSettings(bootstrap, pass);
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

    private Map<String, Object> base() {
        Map<String, Object> c = new HashMap<>(passthrough);
        c.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        return c;
    }
}
