package io.streamtrain.cli.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.core.evaluation.EvaluationRecord;
import io.streamtrain.core.kafka.KafkaSettings;
import io.streamtrain.core.protocol.CheckpointCodec;
import io.streamtrain.core.protocol.DeadLetters;
import io.streamtrain.core.protocol.Messages;
import io.streamtrain.core.spec.RunSpecParser;
import io.streamtrain.core.topics.Topics;
import io.streamtrain.evaluator.EvaluatorService;
import io.streamtrain.testkit.KafkaFixture;
import io.streamtrain.testkit.SyntheticClusters;
import io.streamtrain.trainer.TrainerNode;
import io.streamtrain.trainer.TrainerOptions;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Header;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A corrupt checkpoint (a flipped byte in a chunk, a missing chunk) is rejected with a
 * reason — an evaluation record saying so and a dead letter — and the run goes on: the
 * good checkpoints around it are evaluated as usual.
 */
@Tag("integration")
class EvaluatorRejectsTest {
    private static final com.fasterxml.jackson.databind.ObjectMapper JSON =
            new com.fasterxml.jackson.databind.ObjectMapper();

    @RegisterExtension
    static final KafkaFixture kafka = new KafkaFixture();

    @BeforeAll
    static void broker() throws Exception {
        SyntheticClusters task = new SyntheticClusters(8, 3, 0.8, 0.0, 4);
        kafka.createTopic("rej.train", 1);
        kafka.produce("rej.train", 1, task.records(8, 16, 1));
        kafka.createTopic("rej.validation", 1);
        kafka.produce("rej.validation", 1, task.records(4, 16, 2));
    }

    @Test
    void corruptCheckpointsAreRejectedWithAReasonAndTheRunGoesOn() throws Exception {
        // a real run writes 4 checkpoints in chunks of 1 KiB
        TrainerNode node = new TrainerNode(RunSpecParser.parse("""
                run: rej-source
                data: { train: rej.train, validation: rej.validation }
                model: { type: mlp, inputs: 8, hidden: [16], classes: 3 }
                maxEpochs: 4
                earlyStopping: { patience: 10 }
                checkpoints: { chunkBytes: 1024 }
                """), kafka.settings, TrainerOptions.defaults("n"));
        assertEquals(TrainerNode.Outcome.FINISHED, node.run());

        // copied to run "rej" with epoch 2's payload corrupted and one chunk of epoch 3 left out
        String target = Topics.checkpoints("rej");
        kafka.createTopic(target, 1);
        int chunksOfEpoch3 = 0;
        try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(kafka.settings.producer())) {
            for (ConsumerRecord<byte[], byte[]> r : kafka.readAll(Topics.checkpoints("rej-source"))) {
                String id = header(r, CheckpointCodec.ID_HEADER);
                byte[] value = r.value().clone();
                boolean chunk = CheckpointCodec.CHUNK.equals(header(r, CheckpointCodec.TYPE_HEADER));
                if (chunk && id.contains("-e0002-") && "1".equals(header(r, CheckpointCodec.CHUNK_HEADER))) {
                    value[100] ^= 0x10;
                }
                if (chunk && id.contains("-e0003-") && chunksOfEpoch3++ == 1) {
                    continue;
                }
                if (!chunk) {
                    // a manifest names its run, and is refused on another run's topic: the copy is run "rej"'s
                    com.fasterxml.jackson.databind.node.ObjectNode m =
                            (com.fasterxml.jackson.databind.node.ObjectNode) JSON.readTree(value);
                    m.put("run", "rej");
                    ((com.fasterxml.jackson.databind.node.ObjectNode) m.get("spec")).put("run", "rej");
                    value = JSON.writeValueAsBytes(m);
                }
                p.send(new ProducerRecord<>(target, null, r.key(), value, r.headers()))
                        .get(10, TimeUnit.SECONDS);
            }
        }

        List<EvaluationRecord> seen = new CopyOnWriteArrayList<>();
        EvaluatorService evaluator =
                new EvaluatorService(KafkaSettings.of(kafka.broker.bootstrapServers()), List.of("rej"), "rej-it");
        evaluator.addListener(seen::add);
        Thread t = new Thread(evaluator::run, "evaluator");
        t.start();
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
            while (seen.size() < 4 && System.nanoTime() < deadline) {
                Thread.sleep(50);
            }
        } finally {
            evaluator.close();
            t.join(30_000);
        }

        List<EvaluationRecord> evaluations = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> r : kafka.readAll(Topics.evaluations("rej"))) {
            Messages.decodeEvaluation(r.value()).ifPresent(evaluations::add);
        }
        assertEquals(
                List.of("evaluated", "rejected", "rejected", "evaluated"),
                evaluations.stream().map(EvaluationRecord::status).toList());
        assertEquals(
                List.of(1, 4),
                evaluations.stream()
                        .filter(EvaluationRecord::evaluated)
                        .map(EvaluationRecord::epoch)
                        .toList(),
                "the good checkpoints of epochs 1 and 4 are evaluated");
        assertTrue(
                evaluations.get(1).explanation().contains("SHA-256"),
                evaluations.get(1).explanation());
        assertTrue(
                evaluations.get(2).explanation().contains("incomplete"),
                evaluations.get(2).explanation());
        assertTrue(evaluations.get(1).checkpointId().contains("-e0002-"));

        List<ConsumerRecord<byte[], byte[]>> dlq = kafka.readAll(Topics.deadLetters("rej"));
        assertEquals(2, dlq.size());
        for (ConsumerRecord<byte[], byte[]> d : dlq) {
            assertEquals("checkpoint-rejected", header(d, DeadLetters.REASON));
            assertEquals(target, header(d, DeadLetters.SOURCE_TOPIC));
        }
    }

    private static String header(ConsumerRecord<byte[], byte[]> r, String key) {
        Header h = r.headers().lastHeader(key);
        return h == null ? null : new String(h.value(), StandardCharsets.UTF_8);
    }
}
