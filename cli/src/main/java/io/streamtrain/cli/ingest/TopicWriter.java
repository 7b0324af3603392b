package io.streamtrain.cli.ingest;

import io.streamtrain.core.kafka.KafkaSettings;
import io.streamtrain.core.kafka.Preflight;
import io.streamtrain.core.kafka.RunTopics;
import io.streamtrain.core.kafka.StartupException;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.IntFunction;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ListOffsetsResult;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.errors.AuthorizationException;
import org.apache.kafka.common.errors.InvalidConfigurationException;
import org.apache.kafka.common.errors.InvalidPartitionsException;
import org.apache.kafka.common.errors.InvalidReplicationFactorException;
import org.apache.kafka.common.errors.InvalidTopicException;
import org.apache.kafka.common.errors.PolicyViolationException;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;

/**
 * The Kafka side of an ingest: makes sure a topic can take the records (creating it with
 * its partitions, or checking an existing one's size limit and emptiness) and writes them,
 * record {@code i} to partition {@code i % partitions} — explicit partitions, so the same
 * input gives the same layout and so the same training every time.
 */
final class TopicWriter implements AutoCloseable {
    /** Kafka's default {@code max.message.bytes} and {@code max.request.size}. */
    static final int KAFKA_DEFAULT_MESSAGE_BYTES = 1_048_588;
    /** Record batch and record framing around one value with no key and no headers, generously. */
    static final int FRAMING_BYTES = 512;

    private final KafkaSettings kafka;
    private final Admin admin;

    private TopicWriter(KafkaSettings kafka, Admin admin) {
        this.kafka = kafka;
        this.admin = admin;
    }

    /** Connects, or fails with a {@link StartupException} naming the cause within seconds. */
    static TopicWriter connect(KafkaSettings kafka) {
        Admin admin = Preflight.admin(kafka);
        try {
            Preflight.requireReachable(admin, kafka.bootstrapServers());
        } catch (RuntimeException e) {
            admin.close(Duration.ZERO);
            throw e;
        }
        return new TopicWriter(kafka, admin);
    }

    /**
     * A topic ready to be written.
     *
     * @param partitions its partition count (an existing topic keeps its own)
     * @param created whether this ingest created it
     * @param maxMessageBytes the largest record batch it accepts
     */
    record Target(String topic, int partitions, boolean created, int maxMessageBytes) {}

    /**
     * Creates the topic, or checks the existing one.
     *
     * @param largestRecord bytes of the largest record value to be written
     * @param append whether records may be added to a topic that holds some already
     * @throws StartupException exit 2 when the topic cannot take the records (too small a
     *     {@code max.message.bytes}, holds records and no {@code append}, settings the broker
     *     refuses), 1 when Kafka fails
     */
    Target prepare(
            String topic,
            int partitions,
            Optional<Short> replicationFactor,
            Map<String, String> configs,
            int largestRecord,
            boolean append) {
        boolean created = false;
        if (!exists(topic)) {
            Map<String, String> c = new HashMap<>(configs);
            int needed = largestRecord + FRAMING_BYTES;
            if (needed > KAFKA_DEFAULT_MESSAGE_BYTES) {
                // room for the record plus the same headroom the run topics get
                c.putIfAbsent(
                        TopicConfig.MAX_MESSAGE_BYTES_CONFIG,
                        Integer.toString(largestRecord + RunTopics.RECORD_OVERHEAD_BYTES));
            }
            created = create(new NewTopic(topic, Optional.of(partitions), replicationFactor).configs(c));
        }
        if (created) {
            awaitMetadata(topic);
        }
        int actualPartitions = Preflight.requireTopics(admin, List.of(topic), "the ingest target")
                .get(topic)
                .partitions()
                .size();
        int limit = RunTopics.maxMessageBytes(admin, topic);
        if (largestRecord + FRAMING_BYTES > limit) {
            throw new StartupException(
                    StartupException.BAD_CONFIGURATION,
                    "topic " + topic + " accepts records of at most " + limit
                            + " bytes (max.message.bytes), but a record here is " + largestRecord
                            + " bytes. Use fewer --records-per-message, or"
                            + " raise the topic's limit: kafka-configs.sh --alter --entity-type topics --entity-name "
                            + topic
                            + " --add-config max.message.bytes=" + (largestRecord + RunTopics.RECORD_OVERHEAD_BYTES));
        }
        if (!created && !append) {
            long records = records(topic, actualPartitions);
            if (records > 0) {
                throw new StartupException(
                        StartupException.BAD_CONFIGURATION,
                        "topic " + topic + " already holds " + records
                                + " records; an ingest would add to them and trainers would read both. Write to a new topic, delete this one"
                                + " (kafka-topics.sh --delete --topic " + topic + "), or pass --append");
            }
        }
        return new Target(topic, actualPartitions, created, limit);
    }

    private boolean exists(String topic) {
        return Preflight.topicNames(admin, kafka.bootstrapServers()).contains(topic);
    }

    /**
     * Waits until the brokers describe a topic just created: the creation is acknowledged by
     * the controller, and a broker's metadata may follow a moment later.
     */
    private void awaitMetadata(String topic) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        try {
            while (System.nanoTime() < deadline) {
                try {
                    admin.describeTopics(List.of(topic)).allTopicNames().get(10, TimeUnit.SECONDS);
                    return;
                } catch (ExecutionException e) {
                    if (!(e.getCause() instanceof UnknownTopicOrPartitionException)) {
                        return; // the describe that follows names the problem
                    }
                }
                Thread.sleep(100);
            }
        } catch (java.util.concurrent.TimeoutException e) {
            // the describe that follows names it
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new StartupException(StartupException.RETRYABLE, "interrupted", e);
        }
    }

    /** @return whether this call created it (false: someone else did at the same moment) */
    private boolean create(NewTopic topic) {
        try {
            admin.createTopics(List.of(topic)).all().get(30, TimeUnit.SECONDS);
            return true;
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof TopicExistsException) {
                return false;
            }
            Preflight.requireAuthorized(cause, kafka.bootstrapServers());
            if (cause instanceof InvalidReplicationFactorException
                    || cause instanceof InvalidPartitionsException
                    || cause instanceof InvalidConfigurationException
                    || cause instanceof PolicyViolationException
                    || cause instanceof InvalidTopicException) {
                throw new StartupException(
                        StartupException.BAD_CONFIGURATION,
                        "Kafka refused to create topic " + topic.name() + ": " + cause.getMessage()
                                + ". Check --partitions, --replication-factor and --topic-config",
                        e);
            }
            throw new StartupException(
                    StartupException.RETRYABLE, "cannot create topic " + topic.name() + ": " + cause.getMessage(), e);
        } catch (java.util.concurrent.TimeoutException e) {
            throw new StartupException(StartupException.RETRYABLE, "timed out creating topic " + topic.name(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new StartupException(StartupException.RETRYABLE, "interrupted", e);
        }
    }

    /** Records between each partition's start and end offsets, summed. */
    private long records(String topic, int partitions) {
        try {
            Map<TopicPartition, OffsetSpec> earliest = new HashMap<>();
            Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
            for (int p = 0; p < partitions; p++) {
                earliest.put(new TopicPartition(topic, p), OffsetSpec.earliest());
                latest.put(new TopicPartition(topic, p), OffsetSpec.latest());
            }
            Map<TopicPartition, ListOffsetsResult.ListOffsetsResultInfo> begin =
                    admin.listOffsets(earliest).all().get(10, TimeUnit.SECONDS);
            Map<TopicPartition, ListOffsetsResult.ListOffsetsResultInfo> end =
                    admin.listOffsets(latest).all().get(10, TimeUnit.SECONDS);
            long n = 0;
            for (TopicPartition tp : end.keySet()) {
                n += end.get(tp).offset() - begin.get(tp).offset();
            }
            return n;
        } catch (ExecutionException e) {
            Preflight.requireAuthorized(e.getCause(), kafka.bootstrapServers());
            throw new StartupException(
                    StartupException.RETRYABLE,
                    "cannot read the offsets of " + topic + ": " + e.getCause().getMessage(),
                    e);
        } catch (java.util.concurrent.TimeoutException e) {
            throw new StartupException(StartupException.RETRYABLE, "timed out reading the offsets of " + topic, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new StartupException(StartupException.RETRYABLE, "interrupted", e);
        }
    }

    /**
     * Writes {@code count} records, {@code record.apply(i)} to partition {@code i % partitions},
     * counting each acknowledged one in {@code progress}.
     *
     * @return the bytes of record values written
     * @throws StartupException when Kafka refuses a record (exit 2 for a record too large or
     *     a missing permission, 1 otherwise); what was acknowledged before stays on the topic
     */
    @SuppressWarnings("FutureReturnValueIgnored") // each send's callback takes its outcome
    long write(Target target, int count, int largestRecord, IntFunction<byte[]> record, Progress progress) {
        Map<String, Object> config = kafka.producer();
        // a record may be larger than the client's 1 MiB default request; the topic's limit was checked above
        config.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, (int) Math.max(
                setting(config, ProducerConfig.MAX_REQUEST_SIZE_CONFIG, 1 << 20), largestRecord + FRAMING_BYTES));
        config.put(
                ProducerConfig.BUFFER_MEMORY_CONFIG,
                Math.max(setting(config, ProducerConfig.BUFFER_MEMORY_CONFIG, 32L << 20), 2L * largestRecord));
        if (target.maxMessageBytes() - FRAMING_BYTES < setting(config, ProducerConfig.BATCH_SIZE_CONFIG, 16_384)) {
            // batches of small records must stay under a topic limit smaller than the producer's batch
            config.put(ProducerConfig.BATCH_SIZE_CONFIG, Math.max(1, target.maxMessageBytes() - FRAMING_BYTES));
        }
        AtomicReference<Exception> failure = new AtomicReference<>();
        long bytes = 0;
        int sent = 0;
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(config)) {
            for (int i = 0; i < count && failure.get() == null; i++) {
                byte[] value = record.apply(i);
                int size = value.length;
                producer.send(
                        new ProducerRecord<>(target.topic(), i % target.partitions(), null, value), (metadata, e) -> {
                            if (e != null) {
                                failure.compareAndSet(null, e);
                            } else {
                                progress.add(1, size);
                            }
                        });
                bytes += size;
                sent++;
            }
            producer.flush();
        } catch (org.apache.kafka.common.KafkaException e) {
            failure.compareAndSet(null, e);
        }
        Exception e = failure.get();
        if (e != null) {
            int code = e instanceof RecordTooLargeException || e instanceof AuthorizationException
                    ? StartupException.BAD_CONFIGURATION
                    : StartupException.RETRYABLE;
            Preflight.requireAuthorized(e, kafka.bootstrapServers());
            throw new StartupException(
                    code,
                    "writing " + target.topic() + " failed after " + progress.records() + " of " + count
                            + " records (" + sent + " sent): " + e.getMessage()
                            + ". What was acknowledged stays on the topic: ingest into a new"
                            + " topic, or delete this one and run again",
                    e);
        }
        return bytes;
    }

    /** A numeric client setting as the operator passed it through, or Kafka's default. */
    private static long setting(Map<String, Object> config, String key, long kafkaDefault) {
        Object v = config.get(key);
        return v == null ? kafkaDefault : Long.parseLong(v.toString().trim());
    }

    @Override
    public void close() {
        admin.close(Duration.ofSeconds(5));
    }
}
