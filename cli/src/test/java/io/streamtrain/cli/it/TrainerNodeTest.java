package io.streamtrain.cli.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.cli.data.SyntheticClusters;
import io.streamtrain.core.checkpoint.Checkpoint;
import io.streamtrain.core.checkpoint.CheckpointAssembler;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.core.spec.RunSpecParser;
import io.streamtrain.core.topics.Topics;
import io.streamtrain.trainer.TrainerNode;
import io.streamtrain.trainer.TrainerOptions;
import java.util.ArrayList;
import java.util.List;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class TrainerNodeTest {
    static KafkaFixture kafka;

    @BeforeAll
    static void broker() throws Exception {
        kafka = new KafkaFixture();
    }

    @AfterAll
    static void stop() {
        kafka.close();
    }

    static RunSpec spec(String run, String topic, int epochs) {
        return RunSpecParser.parse("""
                run: %s
                data: { train: %s }
                model: { type: mlp, inputs: 8, hidden: [16], classes: 3 }
                batchSize: 16
                maxEpochs: %d
                optimizer: { type: adamw, learningRate: 0.01 }
                regularization: { l1: 0.0001, l2: 0.0001, weightDecay: 0.01, exclude: [bias] }
                """.formatted(run, topic, epochs));
    }

    static List<Checkpoint> checkpoints(String run) throws Exception {
        return checkpoints(kafka, run);
    }

    static List<Checkpoint> checkpoints(KafkaFixture kafka, String run) throws Exception {
        CheckpointAssembler assembler = new CheckpointAssembler();
        List<Checkpoint> out = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> r : kafka.readAll(Topics.checkpoints(run))) {
            Checkpoint c = assembler.accept(r);
            if (c != null) {
                out.add(c);
            }
        }
        return out;
    }

    @Test
    void trainsEveryEpochAndPublishesACheckpointPerEpoch() throws Exception {
        String topic = "basic.train";
        kafka.createTopic(topic, 2);
        SyntheticClusters task = new SyntheticClusters(8, 3, 0.5, 0.0, 1);
        kafka.produce(topic, 2, task.records(40, 10, 2));

        TrainerNode node = new TrainerNode(spec("basic", topic, 3), kafka.settings, TrainerOptions.defaults("node-a"));
        assertEquals(TrainerNode.Outcome.FINISHED, node.run());

        List<Checkpoint> cps = checkpoints("basic");
        assertEquals(List.of(1, 2, 3), cps.stream().map(c -> c.manifest().epoch()).toList());
        for (Checkpoint c : cps) {
            assertEquals(400.0, c.manifest().metrics().get("samples"));
            assertEquals(40, c.manifest().offsets().stream().mapToLong(r -> r.count()).sum());
        }
        double first = cps.get(0).manifest().metrics().get("data_loss");
        double last = cps.get(2).manifest().metrics().get("data_loss");
        assertTrue(last < first, "training should lower the loss: " + first + " -> " + last);
    }
}
