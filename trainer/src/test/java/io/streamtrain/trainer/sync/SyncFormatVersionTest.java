package io.streamtrain.trainer.sync;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.streamtrain.core.kafka.StartupException;
import io.streamtrain.core.protocol.CheckpointCodec;
import io.streamtrain.core.protocol.FormatVersion;
import io.streamtrain.core.protocol.RoundSums;
import io.streamtrain.core.protocol.SyncCodec;
import io.streamtrain.core.protocol.SyncMessage;
import io.streamtrain.core.spec.SyncSpec;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.MockConsumer;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.record.TimestampType;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;

/** Sync messages carry their format version; a node that meets a newer one stops, saying why, instead of waiting forever. */
class SyncFormatVersionTest {
    private static final String TOPIC = "streamtrain.unit.sync";
    private static final TopicPartition P = new TopicPartition(TOPIC, 0);

    private static SyncLog log() {
        return new SyncLog(
                new Combiner(SyncSpec.strictDefaults()),
                RoundState.start(0, 0, 0, null, null, -1, 0, RoundSums.ZERO),
                null,
                -1);
    }

    @Test
    void aJoinIsWrittenWithItsVersionAndAJoinOfANewerFormatStopsTheNodeWithExit2() throws Exception {
        MockProducer<byte[], byte[]> producer =
                new MockProducer<>(true, null, new ByteArraySerializer(), new ByteArraySerializer());
        MockConsumer<byte[], byte[]> consumer = new MockConsumer<>("earliest");
        consumer.updateBeginningOffsets(Map.of(P, 0L));
        try (SyncChannel channel =
                new SyncChannel(producer, consumer, TOPIC, 1 << 20, log(), 0, Duration.ofSeconds(2))) {
            channel.join(new SyncMessage.Join("j1", 1, "node-a", List.of(0), List.of()));
            ProducerRecord<byte[], byte[]> written = producer.history().get(0);
            ObjectNode doc = (ObjectNode) new ObjectMapper().readTree(written.value());
            assertEquals(
                    FormatVersion.SYNC,
                    doc.get(FormatVersion.FIELD).asInt(),
                    new String(written.value(), StandardCharsets.UTF_8));

            doc.put(FormatVersion.FIELD, FormatVersion.SYNC + 1).put("node", "node-new");
            RecordHeaders headers = new RecordHeaders();
            headers.add(CheckpointCodec.TYPE_HEADER, SyncCodec.JOIN.getBytes(StandardCharsets.UTF_8));
            consumer.addRecord(new ConsumerRecord<>(
                    TOPIC,
                    0,
                    1,
                    0L,
                    TimestampType.CREATE_TIME,
                    0,
                    0,
                    "j2".getBytes(StandardCharsets.UTF_8),
                    new ObjectMapper().writeValueAsBytes(doc),
                    headers,
                    java.util.Optional.empty()));
            StartupException e = assertThrows(StartupException.class, () -> channel.poll(Duration.ofMillis(10)));
            assertEquals(StartupException.BAD_CONFIGURATION, e.exitCode());
            assertTrue(
                    e.getMessage()
                            .contains("format version " + (FormatVersion.SYNC + 1)
                                    + ", newer than this streamtrain reads (" + FormatVersion.SYNC + ")"),
                    e.getMessage());
        }
    }
}
