package io.streamtrain.evaluator;

import io.streamtrain.core.checkpoint.CheckpointManifest;
import io.streamtrain.core.codec.SafeTensors;
import io.streamtrain.core.codec.Tensor;
import io.streamtrain.core.protocol.CheckpointCodec;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.core.spec.RunSpecParser;
import io.streamtrain.core.topics.Topics;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.MockConsumer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.record.TimestampType;

/** Runs, checkpoints and the records of a checkpoint topic, made by hand. */
final class Fixtures {
    static final String RUN = "r";

    private Fixtures() {}

    /** The run's spec, with these earlyStopping entries; {@code validation} null for none. */
    static RunSpec spec(String validation, String earlyStopping) {
        return RunSpecParser.parse("run: " + RUN + "\ndata: { train: t"
                + (validation == null ? "" : ", validation: " + validation)
                + " }\nmodel: { inputs: 4, classes: 2 }\nmaxEpochs: 10\nearlyStopping: { " + earlyStopping + " }\n");
    }

    /** A small safetensors payload; seeds give different bytes. */
    static byte[] payload(int seed) {
        float[] w = new float[64];
        for (int i = 0; i < w.length; i++) {
            w[i] = seed + i / 64f;
        }
        return SafeTensors.write(List.of(Tensor.ofFloats("w", new long[] {8, 8}, w)), Map.of());
    }

    /** The manifest of an epoch's checkpoint (or a snapshot's) whose payload is on Kafka in {@code chunks} chunks. */
    static CheckpointManifest manifest(
            RunSpec spec, String id, int epoch, boolean snapshot, byte[] payload, int chunks, Double dataLoss) {
        return new CheckpointManifest(
                CheckpointManifest.VERSION,
                CheckpointManifest.TYPE,
                RUN,
                id,
                epoch,
                epoch,
                100L * epoch,
                RunSpecParser.toJson(spec),
                List.of(new CheckpointManifest.ParameterInfo("w", "F32", new long[] {8, 8})),
                new CheckpointManifest.Payload(CheckpointCodec.sha256(payload), payload.length, "kafka", null, chunks),
                List.of(),
                dataLoss == null ? Map.of() : Map.of("data_loss", dataLoss),
                "node-0",
                "2026-01-01T00:00:00Z",
                snapshot ? CheckpointManifest.SNAPSHOT : CheckpointManifest.EPOCH,
                null,
                null,
                null);
    }

    static CheckpointManifest manifest(RunSpec spec, String id, int epoch) {
        return manifest(spec, id, epoch, false, payload(epoch), 1, 0.5);
    }

    /** A record as a consumer would see it at {@code offset} of partition 0. */
    static ConsumerRecord<byte[], byte[]> consumed(ProducerRecord<byte[], byte[]> p, long offset) {
        RecordHeaders h = new RecordHeaders();
        for (Header x : p.headers()) {
            h.add(x.key(), x.value());
        }
        return new ConsumerRecord<>(
                p.topic(),
                0,
                offset,
                0L,
                TimestampType.CREATE_TIME,
                p.key() == null ? -1 : p.key().length,
                p.value() == null ? -1 : p.value().length,
                p.key(),
                p.value(),
                h,
                Optional.empty());
    }

    static String header(ProducerRecord<byte[], byte[]> r, String key) {
        Header h = r.headers().lastHeader(key);
        return h == null ? null : new String(h.value(), StandardCharsets.UTF_8);
    }

    /**
     * Every read of {@code tp} with {@code consumer} (assign, seek to the beginning, poll to
     * the end) finds these values, at offsets from 0.
     */
    static void feed(MockConsumer<byte[], byte[]> consumer, TopicPartition tp, List<byte[]> values) {
        List<ConsumerRecord<byte[], byte[]>> records = new ArrayList<>();
        for (int o = 0; o < values.size(); o++) {
            records.add(new ConsumerRecord<>(tp.topic(), tp.partition(), o, null, values.get(o)));
        }
        feedRecords(consumer, tp, records);
    }

    /** As {@link #feed}, with records as they were consumed (their headers too), at offsets from 0 of {@code tp}. */
    static void feedRecords(
            MockConsumer<byte[], byte[]> consumer, TopicPartition tp, List<ConsumerRecord<byte[], byte[]>> records) {
        consumer.updatePartitions(tp.topic(), List.of(new PartitionInfo(tp.topic(), tp.partition(), null, null, null)));
        consumer.updateBeginningOffsets(Map.of(tp, 0L));
        consumer.updateEndOffsets(Map.of(tp, (long) records.size()));
        for (int i = 0; i < 10; i++) {
            // records can only be added to an assigned partition: each read assigns it anew, then polls
            consumer.schedulePollTask(() -> {
                if (consumer.assignment().contains(tp) && consumer.position(tp) == 0) {
                    records.forEach(consumer::addRecord);
                }
            });
        }
    }

    /** The run's checkpoint topic as it is written: records get consecutive offsets from 0. */
    static final class CheckpointTopic {
        final String topic = Topics.checkpoints(RUN);
        final List<ConsumerRecord<byte[], byte[]>> records = new ArrayList<>();

        /** The payload's chunks, {@code chunkBytes} each, not yet appended: to interleave them with others'. */
        List<ProducerRecord<byte[], byte[]>> chunks(String id, byte[] payload, int chunkBytes) {
            return CheckpointCodec.chunkRecords(topic, id, payload, chunkBytes);
        }

        ConsumerRecord<byte[], byte[]> append(ProducerRecord<byte[], byte[]> p) {
            ConsumerRecord<byte[], byte[]> r = consumed(p, records.size());
            records.add(r);
            return r;
        }

        ConsumerRecord<byte[], byte[]> appendManifest(CheckpointManifest m) {
            return append(CheckpointCodec.manifestRecord(topic, m));
        }

        /** The payload's first two chunks, the second with one bit flipped: its checkpoint fails its SHA-256. */
        void appendCorrupted(String id, byte[] payload, int chunkBytes) {
            List<ProducerRecord<byte[], byte[]>> chunks = chunks(id, payload, chunkBytes);
            append(chunks.get(0));
            ProducerRecord<byte[], byte[]> second = chunks.get(1);
            byte[] flipped = second.value().clone();
            flipped[0] ^= 1;
            append(new ProducerRecord<>(second.topic(), second.partition(), second.key(), flipped, second.headers()));
        }
    }

    /** The WARN lines {@code source}'s logger wrote while {@code action} ran, formatted. */
    static List<String> warnings(Class<?> source, Runnable action) {
        ch.qos.logback.core.read.ListAppender<ch.qos.logback.classic.spi.ILoggingEvent> logged =
                new ch.qos.logback.core.read.ListAppender<>();
        ch.qos.logback.classic.Logger log = (ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger(source);
        logged.start();
        log.addAppender(logged);
        try {
            action.run();
        } finally {
            log.detachAppender(logged);
        }
        return logged.list.stream()
                .filter(l -> l.getLevel() == ch.qos.logback.classic.Level.WARN)
                .map(ch.qos.logback.classic.spi.ILoggingEvent::getFormattedMessage)
                .toList();
    }
}
