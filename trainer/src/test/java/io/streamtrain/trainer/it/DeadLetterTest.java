package io.streamtrain.trainer.it;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import io.streamtrain.core.checkpoint.Checkpoint;
import io.streamtrain.core.spec.RunSpecParser;
import io.streamtrain.core.topics.Topics;
import io.streamtrain.testkit.KafkaFixture;
import io.streamtrain.testkit.SafetensorsFile;
import io.streamtrain.testkit.SafetensorsFile.Raw;
import io.streamtrain.testkit.SyntheticClusters;
import io.streamtrain.trainer.TrainerNode;
import io.streamtrain.trainer.TrainerOptions;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.header.Header;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Records a trainer cannot use go to the run's dead-letter topic once each, with the reason
 * and their origin, and everything else is trained: nothing is lost, nothing stops the run.
 */
@Tag("integration")
class DeadLetterTest {
    static final String TOPIC = "dlq.train";
    static final String RUN = "dlq";
    static final int FEATURES = 8;
    static final int CLASSES = 3;
    static final int SAMPLES_PER_RECORD = 10;

    @RegisterExtension
    static final KafkaFixture kafka = new KafkaFixture();

    /** A refused record as produced: what the DLQ must say about it. */
    record Bad(String reason, byte[] key, byte[] value) {}

    /** One bad record of every kind the trainer refuses, each built as a foreign producer would. */
    static List<Bad> badRecords() {
        long[] labels = {0, 1, 2, 1};
        float[] fine = new float[4 * FEATURES];
        Arrays.fill(fine, 0.5f);
        float[] nonFinite = fine.clone();
        nonFinite[5] = Float.NaN;
        nonFinite[17] = Float.POSITIVE_INFINITY;
        return List.of(
                new Bad(
                        "decode",
                        key("garbage"),
                        "this is not a safetensors document".getBytes(StandardCharsets.UTF_8)),
                // 5 features per sample; the model takes 8
                new Bad(
                        "shape",
                        key("five-features"),
                        SafetensorsFile.write(
                                new Raw("x", "F32", new long[] {4, 5}, SafetensorsFile.f32(new float[20])),
                                new Raw("y", "I64", new long[] {4}, SafetensorsFile.i64(labels)))),
                // booleans are no feature type
                new Bad(
                        "dtype",
                        key("bool-features"),
                        SafetensorsFile.write(
                                new Raw("x", "BOOL", new long[] {4, FEATURES}, new byte[4 * FEATURES]),
                                new Raw("y", "I64", new long[] {4}, SafetensorsFile.i64(labels)))),
                new Bad(
                        "non-finite",
                        key("nan-and-inf"),
                        SafetensorsFile.write(
                                new Raw("x", "F32", new long[] {4, FEATURES}, SafetensorsFile.f32(nonFinite)),
                                new Raw("y", "I64", new long[] {4}, SafetensorsFile.i64(labels)))),
                // class 3 of a 3-class model
                new Bad(
                        "label",
                        key("class-three"),
                        SafetensorsFile.write(
                                new Raw("x", "F32", new long[] {4, FEATURES}, SafetensorsFile.f32(fine)),
                                new Raw("y", "I64", new long[] {4}, SafetensorsFile.i64(0, 1, 3, 2)))));
    }

    @Test
    void badRecordsAreDeadLetteredOnceWithTheirReasonAndEveryGoodSampleIsTrained() throws Exception {
        kafka.createTopic(TOPIC, 2);
        List<byte[]> good = new ArrayList<>(
                new SyntheticClusters(FEATURES, CLASSES, 0.5, 0.0, 11).records(29, SAMPLES_PER_RECORD, 3));
        // what numpy writes by default (float64 features) with int32 labels: other dtypes, still good
        good.add(numpyDefaults());
        List<Bad> bad = badRecords();
        // where each bad record landed, by its key
        Map<String, RecordMetadata> badAt = new TreeMap<>();
        int produced = 0;
        try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(kafka.settings.producer())) {
            int g = 0;
            for (int i = 0; i < good.size() + bad.size(); i++) {
                // a bad record every 7th, alternating partitions, so both partitions hold some
                if (i % 7 == 3) {
                    Bad b = bad.get(i / 7);
                    badAt.put(
                            new String(b.key(), StandardCharsets.UTF_8),
                            p.send(new ProducerRecord<>(TOPIC, i % 2, b.key(), b.value()))
                                    .get());
                } else {
                    p.send(new ProducerRecord<>(TOPIC, i % 2, null, good.get(g++)))
                            .get();
                }
                produced++;
            }
            assertEquals(good.size(), g);
        }
        assertEquals(bad.size(), badAt.size());

        TrainerNode node = new TrainerNode(
                RunSpecParser.parse("""
                run: %s
                data: { train: %s }
                model: { type: mlp, inputs: %d, hidden: [16], classes: %d }
                batchSize: 16
                maxEpochs: 2
                optimizer: { type: adamw, learningRate: 0.01 }
                """.formatted(RUN, TOPIC, FEATURES, CLASSES)),
                kafka.settings,
                TrainerOptions.defaults("node-dlq"));
        assertEquals(TrainerNode.Outcome.FINISHED, node.run());

        // exactly one dead letter per bad record, although every epoch met each of them
        List<ConsumerRecord<byte[], byte[]>> letters = kafka.readAll(Topics.deadLetters(RUN));
        assertEquals(
                bad.size(),
                letters.size(),
                "dead letters: "
                        + letters.stream().map(DeadLetterTest::describe).toList());
        for (Bad b : bad) {
            String key = new String(b.key(), StandardCharsets.UTF_8);
            List<ConsumerRecord<byte[], byte[]>> mine = letters.stream()
                    .filter(r -> Arrays.equals(b.key(), r.key()))
                    .toList();
            assertEquals(1, mine.size(), "dead letters for " + key);
            ConsumerRecord<byte[], byte[]> letter = mine.get(0);
            RecordMetadata at = badAt.get(key);
            assertEquals(b.reason(), header(letter, "streamtrain.dlq.reason"), key + " reason");
            assertEquals(TOPIC, header(letter, "streamtrain.source.topic"), key + " source topic");
            assertEquals(
                    Integer.toString(at.partition()),
                    header(letter, "streamtrain.source.partition"),
                    key + " source partition");
            assertEquals(
                    Long.toString(at.offset()), header(letter, "streamtrain.source.offset"), key + " source offset");
            assertArrayEquals(
                    b.value(), letter.value(), key + ": the original value, untouched, so it can be replayed");
            assertFalse(header(letter, "streamtrain.dlq.detail").isBlank(), key + " needs a human-readable detail");
        }

        // every good sample trained in every epoch; good + dead-lettered = all that was produced
        List<Checkpoint> cps = kafka.checkpoints(RUN);
        assertEquals(List.of(1, 2), cps.stream().map(c -> c.manifest().epoch()).toList());
        for (Checkpoint c : cps) {
            Map<String, Double> m = c.manifest().metrics();
            String epoch = "epoch " + c.manifest().epoch() + " " + m;
            assertEquals((double) (good.size() * SAMPLES_PER_RECORD), m.get("samples"), epoch);
            assertEquals((double) produced, m.get("records"), epoch);
            assertEquals((double) bad.size(), m.get("rejected"), epoch);
            assertEquals(
                    produced,
                    c.manifest().offsets().stream().mapToLong(r -> r.count()).sum(),
                    epoch + " offset ranges");
            assertEquals(
                    produced,
                    m.get("samples") / SAMPLES_PER_RECORD + letters.size(),
                    epoch + ": trained + dead-lettered");
        }
    }

    /** A good record of float64 features and int32 labels, SAMPLES_PER_RECORD samples. */
    private static byte[] numpyDefaults() {
        ByteBuffer x = ByteBuffer.allocate(SAMPLES_PER_RECORD * FEATURES * 8).order(ByteOrder.LITTLE_ENDIAN);
        ByteBuffer y = ByteBuffer.allocate(SAMPLES_PER_RECORD * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (int s = 0; s < SAMPLES_PER_RECORD; s++) {
            for (int f = 0; f < FEATURES; f++) {
                x.putDouble(0.1 * (s % CLASSES) - 0.05 * f);
            }
            y.putInt(s % CLASSES);
        }
        return SafetensorsFile.write(
                new Raw("x", "F64", new long[] {SAMPLES_PER_RECORD, FEATURES}, x.array()),
                new Raw("y", "I32", new long[] {SAMPLES_PER_RECORD}, y.array()));
    }

    private static byte[] key(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static String header(ConsumerRecord<byte[], byte[]> r, String name) {
        Header h = r.headers().lastHeader(name);
        assertNotNull(h, "header " + name + " on the dead letter at offset " + r.offset());
        return new String(h.value(), StandardCharsets.UTF_8);
    }

    private static String describe(ConsumerRecord<byte[], byte[]> r) {
        List<String> hs = new ArrayList<>();
        r.headers().forEach(h -> hs.add(h.key() + "=" + new String(h.value(), StandardCharsets.UTF_8)));
        return r.offset() + " " + hs;
    }
}
