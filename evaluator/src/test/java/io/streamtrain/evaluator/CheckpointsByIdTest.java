package io.streamtrain.evaluator;

import static io.streamtrain.evaluator.Fixtures.RUN;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.core.checkpoint.CheckpointManifest;
import io.streamtrain.core.logging.Logs;
import io.streamtrain.core.protocol.CheckpointCodec;
import io.streamtrain.core.signing.Signing;
import io.streamtrain.core.topics.Topics;
import java.time.Duration;
import java.util.List;
import org.apache.kafka.clients.consumer.MockConsumer;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

/**
 * The evaluator reads a sliding run's promoted checkpoint back by the id its evaluations name
 * (after a restart). Anyone who may write the checkpoint topic names checkpoints: when the one
 * named does not verify, the warning names it escaped once.
 */
class CheckpointsByIdTest {
    static final int CHUNK_BYTES = 200;

    /**
     * The assembler's rejection escapes the id where its message is made; escaped again for the
     * log, the id's backslashes came out doubled in the warning's reason.
     */
    @Test
    void aPromotedCheckpointThatDoesNotVerifyIsNamedEscapedOnceInTheWarning() {
        String id = "r-e0001-x\nWARN forged \\ line";
        byte[] payload = Fixtures.payload(1);
        CheckpointManifest m = Fixtures.manifest(
                CheckpointHandlerTest.SPEC,
                id,
                1,
                false,
                payload,
                CheckpointCodec.chunkCount(payload.length, CHUNK_BYTES),
                0.5);
        Fixtures.CheckpointTopic topic = new Fixtures.CheckpointTopic();
        topic.appendCorrupted(id, payload, CHUNK_BYTES);
        topic.appendManifest(m);
        MockConsumer<byte[], byte[]> reader = new MockConsumer<>("earliest");
        Fixtures.feedRecords(reader, new TopicPartition(Topics.checkpoints(RUN), 0), topic.records);

        List<String> lines = Fixtures.warnings(
                EvaluatorService.class,
                () -> assertNull(EvaluatorService.checkpointsById(reader, Duration.ofSeconds(5), Signing.off())
                        .find(RUN, id)));

        String once = "r-e0001-x\\nWARN forged \\\\ line";
        assertEquals(once, Logs.escape(id));
        assertEquals(1, lines.size(), lines.toString());
        String line = lines.get(0);
        String prefix = "run " + RUN + ": checkpoint " + once + " cannot be read: checkpoint " + once
                + " rejected: SHA-256 mismatch";
        assertTrue(line.startsWith(prefix), line);
        assertFalse(line.contains("\n"), "a newline reached the log: " + line);
    }
}
