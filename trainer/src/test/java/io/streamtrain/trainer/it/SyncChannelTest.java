package io.streamtrain.trainer.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.streamtrain.core.checkpoint.CheckpointManifest.OffsetRange;
import io.streamtrain.core.codec.SafeTensors;
import io.streamtrain.core.codec.Tensor;
import io.streamtrain.core.protocol.CheckpointCodec;
import io.streamtrain.core.protocol.RoundSums;
import io.streamtrain.core.protocol.SyncMessage;
import io.streamtrain.core.spec.SyncSpec;
import io.streamtrain.testkit.KafkaFixture;
import io.streamtrain.trainer.sync.Combiner;
import io.streamtrain.trainer.sync.RoundState;
import io.streamtrain.trainer.sync.SyncChannel;
import io.streamtrain.trainer.sync.SyncLog;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.zip.CRC32C;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The sync channel on a real broker: where a node starts reading a run's sync log, a write
 * the broker refuses (reported by the wait for the round, or by the next contribution), and
 * a payload that is not the one its contribution names.
 */
@Tag("integration")
class SyncChannelTest {
    @RegisterExtension
    static final KafkaFixture kafka = new KafkaFixture();

    private static SyncLog freshLog() {
        return new SyncLog(
                new Combiner(SyncSpec.strictDefaults()),
                RoundState.start(0, 0, 0, null, null, -1, 0, RoundSums.ZERO),
                null);
    }

    private static SyncMessage.Join join(String id, int generation) {
        return new SyncMessage.Join(id, generation, "a", List.of(0), List.of(new OffsetRange("t.train", 0, 0, 10)));
    }

    /** Polls until {@code count} records were read. */
    private static List<SyncChannel.Read> read(SyncChannel channel, int count) {
        List<SyncChannel.Read> out = new ArrayList<>();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (out.size() < count && System.nanoTime() < deadline) {
            out.addAll(channel.poll(Duration.ofMillis(200)));
        }
        return out;
    }

    @Test
    void aNodeWithoutACheckpointReadsTheRunFromItsFirstRecord() throws Exception {
        String topic = "streamtrain.whole.sync";
        kafka.createTopic(topic, 1);
        try (SyncChannel writer =
                new SyncChannel(kafka.settings, topic, 1 << 16, freshLog(), -1, Duration.ofSeconds(30))) {
            writer.join(join("j1", 1));
            writer.join(join("j2", 2));
        }
        try (SyncChannel reader =
                new SyncChannel(kafka.settings, topic, 1 << 16, freshLog(), -1, Duration.ofSeconds(30))) {
            List<SyncChannel.Read> reads = read(reader, 2);
            assertEquals(
                    List.of(0L, 1L),
                    reads.stream().map(SyncChannel.Read::offset).toList());
        }
    }

    @Test
    void aNodeWithoutACheckpointFailsOnALogTruncatedBelowACheckpointInsteadOfReplayingItsRest() throws Exception {
        // the race: node b finds no checkpoint, then node a publishes some and deletes the rounds before them
        String topic = "streamtrain.truncated.sync";
        kafka.createTopic(topic, 1);
        try (SyncChannel writer =
                new SyncChannel(kafka.settings, topic, 1 << 16, freshLog(), -1, Duration.ofSeconds(30))) {
            for (int i = 1; i <= 4; i++) {
                writer.join(join("j" + i, i));
            }
        }
        try (Admin admin = Admin.create(kafka.settings.admin())) {
            admin.deleteRecords(Map.of(new TopicPartition(topic, 0), RecordsToDelete.beforeOffset(2)))
                    .all()
                    .get(30, TimeUnit.SECONDS);
        }
        try (SyncChannel reader =
                new SyncChannel(kafka.settings, topic, 1 << 16, freshLog(), -1, Duration.ofSeconds(30))) {
            SyncChannel.TruncatedException e = assertThrows(
                    SyncChannel.TruncatedException.class,
                    () -> read(reader, 2),
                    "a node that starts a run from round 0 must not read a log whose first rounds are gone");
            assertEquals(true, e.getMessage().contains("were deleted"), e.getMessage());
        }
    }

    @Test
    void aContributionTheBrokerRefusesIsReportedWhileTheNodeWaitsForItsRound() throws Exception {
        // contribute() does not wait for the broker: the wait for the round must say the write failed, not time out on
        // a round
        // that never closes. The refused record is a chunk; the contribution record after it is small and is written.
        assertRefusalReportedBy("streamtrain.refused.sync", node -> read(node, 1));
    }

    @Test
    void aFailedContributionIsReportedByTheNextOneWhenNoWaitReadItsOutcome() throws Exception {
        // a round abandoned (a rebalance, a stop) before the node polled again: the next contribution must not drop the
        // earlier write unchecked, or its failure goes unsaid. It trained nothing: a small record the topic takes.
        assertRefusalReportedBy(
                "streamtrain.abandoned.sync", node -> node.contribute(contribution("next", null), null));
    }

    /** Contributes a 64 KB chunk to a topic that takes 4 KB records; {@code next} must throw the broker's refusal. */
    private static void assertRefusalReportedBy(String topic, Consumer<SyncChannel> next) throws Exception {
        try (Admin admin = Admin.create(kafka.settings.admin())) {
            admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1).configs(Map.of("max.message.bytes", "4096"))))
                    .all()
                    .get(30, TimeUnit.SECONDS);
        }
        try (SyncChannel node =
                new SyncChannel(kafka.settings, topic, 1 << 16, freshLog(), -1, Duration.ofSeconds(30))) {
            node.contribute(contribution("refused", null), new byte[1 << 16]);
            KafkaException e = assertThrows(KafkaException.class, () -> next.accept(node));
            assertTrue(
                    e.getMessage().contains("could not write to " + topic + ": ")
                            && e.getMessage().contains("larger than"),
                    e.getMessage());
        }
    }

    @Test
    void aContributionWhosePayloadIsNotTheOneItNamesIsIgnoredAndTheNextOneRead() throws Exception {
        String topic = "streamtrain.altered.sync";
        kafka.createTopic(topic, 1);
        byte[] payload = SafeTensors.write(List.of(Tensor.ofFloats("w", new long[] {4096}, new float[4096])), Map.of());
        CRC32C crc = new CRC32C();
        crc.update(payload);
        SyncMessage.Contribution named = contribution(
                "altered", new SyncMessage.PayloadRef(String.format("%08x", crc.getValue()), payload.length, 2));
        byte[] altered = payload.clone();
        altered[altered.length - 1] ^= 1; // one bit of the last weight: still a readable document, of the same size
        try (KafkaProducer<byte[], byte[]> raw = new KafkaProducer<>(kafka.settings.producer())) {
            for (ProducerRecord<byte[], byte[]> r :
                    CheckpointCodec.chunkRecords(topic, named.id(), altered, payload.length / 2 + 1)) {
                raw.send(r).get(30, TimeUnit.SECONDS);
            }
            RecordHeaders h = new RecordHeaders();
            h.add(CheckpointCodec.TYPE_HEADER, "contribution".getBytes(StandardCharsets.UTF_8));
            raw.send(new ProducerRecord<>(
                            topic,
                            0,
                            named.id().getBytes(StandardCharsets.UTF_8),
                            new ObjectMapper().writeValueAsBytes(named),
                            h))
                    .get(30, TimeUnit.SECONDS);
        }
        try (SyncChannel node = new SyncChannel(
                kafka.settings, topic, payload.length / 2 + 1, freshLog(), -1, Duration.ofSeconds(30))) {
            node.contribute(contribution("intact", null), payload);
            List<String> read =
                    read(node, 1).stream().map(r -> r.message().id()).toList();
            assertEquals(
                    List.of("intact"),
                    read,
                    "the altered payload must not reach the sync log; the intact one after it must");
        }
    }

    /**
     * A node does not read its own payload back (a lone node's round is its whole state): once the
     * broker has acknowledged it, the reader moves past its chunks, and the contribution reaches
     * the log with the bytes the node wrote, checked against the checksum its record names.
     */
    @Test
    void aNodeReadsItsOwnContributionBackWithoutItsChunks() throws Exception {
        String topic = "streamtrain.own.sync";
        kafka.createTopic(topic, 1);
        KafkaConsumer<byte[], byte[]> reader = new KafkaConsumer<>(kafka.settings.syncReader(OWN_CHUNK));
        try (SyncChannel node = readingWith(reader, topic)) {
            node.join(join("j1", 1));
            assertEquals(List.of("j1"), ids(read(node, 1)));
            node.contribute(contribution("own", null), OWN_PAYLOAD);
            assertEquals(List.of("own"), ids(read(node, 1)));
            assertEquals(
                    2.0,
                    recordsConsumed(reader),
                    "the join and the contribution's record, not its " + OWN_CHUNKS + " chunks");
        }
    }

    /** A record this node had not read before its own chunks: nothing is skipped, the log is read as it is. */
    @Test
    void aRecordBeforeItsOwnChunksIsReadAndTheChunksWithIt() throws Exception {
        String topic = "streamtrain.own-after-other.sync";
        kafka.createTopic(topic, 1);
        KafkaConsumer<byte[], byte[]> reader = new KafkaConsumer<>(kafka.settings.syncReader(OWN_CHUNK));
        try (SyncChannel other =
                        new SyncChannel(kafka.settings, topic, OWN_CHUNK, freshLog(), -1, Duration.ofSeconds(30));
                SyncChannel node = readingWith(reader, topic)) {
            other.join(join("other", 1));
            node.contribute(contribution("own", null), OWN_PAYLOAD);
            assertEquals(List.of("other", "own"), ids(read(node, 2)));
            assertEquals(2.0 + OWN_CHUNKS, recordsConsumed(reader));
        }
    }

    private static final int OWN_CHUNK = 1 << 16;
    /** 256 KB of weights and a safetensors header: five chunks of 64 KB. */
    private static final byte[] OWN_PAYLOAD =
            SafeTensors.write(List.of(Tensor.ofFloats("w", new long[] {65536}, new float[65536])), Map.of());

    private static final int OWN_CHUNKS = CheckpointCodec.chunkCount(OWN_PAYLOAD.length, OWN_CHUNK);

    /** A node's channel whose reader the test holds, to read its metrics. */
    private static SyncChannel readingWith(KafkaConsumer<byte[], byte[]> reader, String topic) {
        return new SyncChannel(
                new KafkaProducer<>(kafka.settings.syncProducer(OWN_CHUNK)),
                reader,
                topic,
                OWN_CHUNK,
                freshLog(),
                -1,
                Duration.ofSeconds(30));
    }

    private static List<String> ids(List<SyncChannel.Read> reads) {
        return reads.stream().map(r -> r.message().id()).toList();
    }

    /** The reader's own count of the records it returned (Kafka's consumer metric {@code records-consumed-total}). */
    private static double recordsConsumed(KafkaConsumer<byte[], byte[]> reader) {
        return reader.metrics().entrySet().stream()
                .filter(e -> e.getKey().name().equals("records-consumed-total")
                        && e.getKey().group().equals("consumer-fetch-manager-metrics")
                        && !e.getKey().tags().containsKey("topic"))
                .mapToDouble(e -> ((Number) e.getValue().metricValue()).doubleValue())
                .findFirst()
                .orElseThrow();
    }

    /**
     * With signatures checked, a join or contribution no key trusted with {@code sync} signed is not
     * read into the log, and a trainer's signed records are (SyncPayloadCheckTest: nor is a signed
     * contribution whose payload is not the one its SHA-256 names).
     */
    @Test
    void withSignaturesCheckedOnlyTrustedNodesRecordsReachTheLog() throws Exception {
        String topic = "streamtrain.signed.sync";
        kafka.createTopic(topic, 1);
        io.streamtrain.core.signing.SigningKey trainer = io.streamtrain.core.signing.SigningKey.generate("trainer");
        io.streamtrain.core.signing.SigningKey operator = io.streamtrain.core.signing.SigningKey.generate("alice");
        io.streamtrain.core.signing.TrustedKeys trusted = io.streamtrain.core.signing.TrustedKeys.parse(
                trainer.trustedLine("trainer") + "\n" + operator.trustedLine("operator") + "\n", "trusted-keys");
        byte[] payload = SafeTensors.write(List.of(Tensor.ofFloats("w", new long[] {1024}, new float[1024])), Map.of());
        try (SyncChannel forger =
                        new SyncChannel(kafka.settings, topic, 1 << 16, freshLog(), -1, Duration.ofSeconds(30));
                SyncChannel wrongRole = new SyncChannel(
                        kafka.settings.withSigning(new io.streamtrain.core.signing.Signing(operator, null)),
                        topic,
                        1 << 16,
                        freshLog(),
                        -1,
                        Duration.ofSeconds(30));
                SyncChannel node = new SyncChannel(
                        kafka.settings.withSigning(new io.streamtrain.core.signing.Signing(trainer, null)),
                        topic,
                        1 << 16,
                        freshLog(),
                        -1,
                        Duration.ofSeconds(30))) {
            forger.join(join("unsigned", 1));
            wrongRole.join(join("operator-signed", 1));
            forger.contribute(contribution("unsigned-contribution", null), payload);
            node.join(join("trainer-signed", 1));
            node.contribute(contribution("trainer-contribution", null), payload);
            read(node, 5);
        }
        try (SyncChannel checking = new SyncChannel(
                kafka.settings.withSigning(new io.streamtrain.core.signing.Signing(trainer, trusted)),
                topic,
                1 << 16,
                freshLog(),
                -1,
                Duration.ofSeconds(30))) {
            List<String> read =
                    read(checking, 2).stream().map(r -> r.message().id()).toList();
            assertEquals(List.of("trainer-signed", "trainer-contribution"), read);
            assertEquals(
                    3, checking.refused(), "the unsigned join and contribution and the operator's join are refused");
        }
    }

    private static SyncMessage.Contribution contribution(String id, SyncMessage.PayloadRef payload) {
        return new SyncMessage.Contribution(
                id,
                1,
                "a",
                1,
                1,
                10,
                List.of(new OffsetRange("t.train", 0, 0, 10)),
                RoundSums.ZERO,
                payload,
                List.of());
    }
}
