package io.streamtrain.trainer.sync;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.streamtrain.core.checkpoint.CheckpointManifest.OffsetRange;
import io.streamtrain.core.codec.SafeTensors;
import io.streamtrain.core.codec.Tensor;
import io.streamtrain.core.protocol.CheckpointCodec;
import io.streamtrain.core.protocol.RoundSums;
import io.streamtrain.core.protocol.SyncCodec;
import io.streamtrain.core.protocol.SyncMessage;
import io.streamtrain.core.spec.SyncSpec;
import io.streamtrain.testkit.ReadBack;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Future;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.MockConsumer;
import org.apache.kafka.clients.producer.Callback;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;

/**
 * A node does not read its own payload back from the sync log when nothing can be missed by
 * skipping it, and reads the log as it is otherwise (the real broker's side: SyncChannelTest).
 */
class OwnPayloadTest {
    private static final String TOPIC = "streamtrain.unit.sync";
    private static final TopicPartition P = new TopicPartition(TOPIC, 0);
    private static final int CHUNK_BYTES = 4096;

    /** One partition: every record sent gets the next offset, which its acknowledgement reports, and reaches the reader. */
    private static final class Topic {
        final List<ConsumerRecord<byte[], byte[]>> log = new ArrayList<>();
        /** The offsets the reader returned to the channel. */
        final List<Long> returned = new ArrayList<>();
        /** Runs before each record this node sends (another node writing in between). */
        Runnable beforeSend = () -> {};

        final MockConsumer<byte[], byte[]> reader = new MockConsumer<>("earliest") {
            @Override
            public synchronized ConsumerRecords<byte[], byte[]> poll(Duration timeout) {
                ConsumerRecords<byte[], byte[]> records = super.poll(timeout);
                records.forEach(r -> returned.add(r.offset()));
                return records;
            }
        };

        final MockProducer<byte[], byte[]> producer =
                new MockProducer<>(true, null, new ByteArraySerializer(), new ByteArraySerializer()) {
                    @Override
                    public synchronized Future<RecordMetadata> send(ProducerRecord<byte[], byte[]> r, Callback cb) {
                        beforeSend.run();
                        return CompletableFuture.completedFuture(new RecordMetadata(P, append(r), 0, 0L, 0, 0));
                    }
                };

        long append(ProducerRecord<byte[], byte[]> r) {
            ConsumerRecord<byte[], byte[]> c = ReadBack.of(r, log.size(), 0L);
            log.add(c);
            reader.addRecord(c);
            return c.offset();
        }

        SyncChannel node() {
            return node(producer);
        }

        SyncChannel node(MockProducer<byte[], byte[]> writer) {
            return new SyncChannel(
                    writer,
                    reader,
                    TOPIC,
                    CHUNK_BYTES,
                    new SyncLog(
                            new Combiner(SyncSpec.strictDefaults()),
                            RoundState.start(0, 0, 0, null, null, -1, 0, RoundSums.ZERO),
                            null),
                    -1,
                    Duration.ofSeconds(5));
        }
    }

    private static final byte[] PAYLOAD =
            SafeTensors.write(List.of(Tensor.ofFloats("w", new long[] {4096}, new float[4096])), Map.of());
    private static final int CHUNKS = CheckpointCodec.chunkCount(PAYLOAD.length, CHUNK_BYTES);

    private static List<String> read(SyncChannel node) {
        return node.poll(Duration.ofMillis(10)).stream()
                .map(r -> r.message().id())
                .toList();
    }

    @Test
    void itsOwnContributionIsReadWithoutItsChunks() {
        Topic topic = new Topic();
        try (SyncChannel node = topic.node()) {
            node.contribute(contribution("own"), PAYLOAD);
            assertEquals(List.of("own"), read(node), "the contribution reaches the log, its payload checked");
            assertEquals(
                    List.of((long) CHUNKS),
                    topic.returned,
                    "the reader returns the contribution's record only, not its " + CHUNKS + " chunks");
        }
    }

    @Test
    void aRecordWrittenBetweenItsChunksIsReadAndTheChunksWithIt() {
        Topic topic = new Topic();
        int[] sends = {0};
        topic.beforeSend = () -> {
            if (sends[0]++ == 1) { // between the first chunk and the second
                topic.append(SyncCodec.record(TOPIC, join("between")));
            }
        };
        assertEverythingRead(topic, "between", () -> {});
    }

    @Test
    void aRecordBeforeItsChunksNotReadYetIsReadAndTheChunksWithIt() {
        Topic topic = new Topic();
        assertEverythingRead(topic, "before", () -> topic.append(SyncCodec.record(TOPIC, join("before"))));
    }

    @Test
    void untilTheBrokerHasItsContributionTheNodeReadsNothing() {
        Topic topic = new Topic();
        CompletableFuture<RecordMetadata> ack = new CompletableFuture<>();
        MockProducer<byte[], byte[]> slow =
                new MockProducer<>(true, null, new ByteArraySerializer(), new ByteArraySerializer()) {
                    @Override
                    public synchronized Future<RecordMetadata> send(ProducerRecord<byte[], byte[]> r, Callback cb) {
                        long offset = topic.append(r);
                        return ack.thenApply(done -> new RecordMetadata(P, offset, 0, 0L, 0, 0));
                    }
                };
        try (SyncChannel node = topic.node(slow)) {
            node.contribute(contribution("own"), PAYLOAD);
            assertEquals(List.of(), read(node), "its round cannot close before the broker has its contribution");
            assertEquals(List.of(), topic.returned);
            ack.complete(null);
            assertEquals(List.of("own"), read(node));
            assertEquals(List.of((long) CHUNKS), topic.returned);
        }
    }

    /**
     * After {@code beforeContribute}, this node contributes; the other node's join {@code other}
     * and every chunk are read with its record.
     */
    private static void assertEverythingRead(Topic topic, String other, Runnable beforeContribute) {
        try (SyncChannel node = topic.node()) {
            beforeContribute.run();
            node.contribute(contribution("own"), PAYLOAD);
            assertEquals(List.of(other, "own"), read(node));
            assertEquals(CHUNKS + 2, topic.returned.size(), "every record is read: " + topic.returned);
        }
    }

    private static SyncMessage.Join join(String id) {
        return new SyncMessage.Join(id, 1, "b", List.of(1), List.of(new OffsetRange("t.train", 1, 0, 10)));
    }

    private static SyncMessage.Contribution contribution(String id) {
        return new SyncMessage.Contribution(
                id, 1, "a", 1, 1, 10, List.of(new OffsetRange("t.train", 0, 0, 10)), RoundSums.ZERO, null, List.of());
    }
}
