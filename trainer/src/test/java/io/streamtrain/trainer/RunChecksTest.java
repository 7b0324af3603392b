package io.streamtrain.trainer;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.core.checkpoint.CheckpointManifest;
import io.streamtrain.core.codec.RejectReason;
import io.streamtrain.core.kafka.StartupException;
import io.streamtrain.core.protocol.RoundSums;
import io.streamtrain.core.spec.DataSpec;
import io.streamtrain.core.spec.ModelSpec;
import io.streamtrain.core.spec.RegularizationSpec;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.core.spec.RunSpecParser;
import io.streamtrain.trainer.feed.FeedItem;
import io.streamtrain.trainer.sync.Combiner;
import io.streamtrain.trainer.sync.RoundState;
import io.streamtrain.trainer.sync.SyncLog;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;

class RunChecksTest {
    private static final RunSpec SPEC =
            TestSpecs.spec(TestSpecs.smallMlp(), TestSpecs.sgd(0.01), RegularizationSpec.NONE, 1, 4, 3);

    private static CheckpointManifest trainedWith(RunSpec spec) {
        return trainedWith(RunSpecParser.toJson(spec));
    }

    private static CheckpointManifest trainedWith(com.fasterxml.jackson.databind.JsonNode spec) {
        return new CheckpointManifest(
                CheckpointManifest.VERSION,
                CheckpointManifest.TYPE,
                SPEC.run(),
                "c1",
                1,
                1,
                10,
                spec,
                List.of(),
                null,
                List.of(),
                Map.of(),
                "node-0",
                "2026-12-06T00:00:00Z",
                CheckpointManifest.EPOCH,
                null,
                null,
                null);
    }

    private static RunSpec with(DataSpec data, ModelSpec model, int maxEpochs) {
        return new RunSpec(
                SPEC.run(),
                data,
                model,
                SPEC.init(),
                SPEC.batchSize(),
                maxEpochs,
                SPEC.optimizer(),
                SPEC.regularization(),
                SPEC.earlyStopping(),
                SPEC.sync(),
                SPEC.checkpoints());
    }

    private static RoundState epochEnd(int epoch, long samples, long rejected) {
        RoundSums sums = new RoundSums(samples, 0, 0, 0, 0, 0, 0, samples + rejected, rejected, 0, 0, 0);
        return new RoundState(3, epoch, 10, Map.of(), sums, null, null, 1, 5, true, null);
    }

    @Test
    void aRunKeepsItsModelAndItsTopicButMayChangeItsOtherSettings() {
        assertFalse(RunChecks.requireSameModel(SPEC, trainedWith(SPEC)));
        assertTrue(
                RunChecks.requireSameModel(with(SPEC.data(), SPEC.model(), 9), trainedWith(SPEC)),
                "maxEpochs differs: go on, warned");

        StartupException topic = assertThrows(
                StartupException.class,
                () -> RunChecks.requireSameModel(
                        with(new DataSpec("other.train", "unit.validation"), SPEC.model(), 3), trainedWith(SPEC)));
        assertEquals(StartupException.BAD_CONFIGURATION, topic.exitCode());
        assertTrue(
                topic.getMessage().contains("other.train") && topic.getMessage().contains("new run id"),
                topic.getMessage());

        ModelSpec wider = new ModelSpec("mlp", 4, List.of(6), "relu", 3, 1, 0.0);
        StartupException model = assertThrows(
                StartupException.class,
                () -> RunChecks.requireSameModel(with(SPEC.data(), wider, 3), trainedWith(SPEC)));
        assertEquals(StartupException.BAD_CONFIGURATION, model.exitCode());

        DataSpec live = new DataSpec(
                SPEC.data().train(), SPEC.data().validation(), DataSpec.CONTINUOUS, new DataSpec.Window(8));
        StartupException mode = assertThrows(
                StartupException.class,
                () -> RunChecks.requireSameModel(with(live, SPEC.model(), 3), trainedWith(SPEC)));
        assertTrue(mode.getMessage().contains("data.mode bounded, this spec says continuous"), mode.getMessage());
        DataSpec longer = new DataSpec(
                SPEC.data().train(), SPEC.data().validation(), DataSpec.CONTINUOUS, new DataSpec.Window(16));
        StartupException window = assertThrows(
                StartupException.class,
                () -> RunChecks.requireSameModel(
                        with(longer, SPEC.model(), 3), trainedWith(with(live, SPEC.model(), 3))));
        assertTrue(
                window.getMessage().contains("cuts its windows at 8 records, this spec says 16"), window.getMessage());
        DataSpec replaying = new DataSpec(
                SPEC.data().train(), SPEC.data().validation(), DataSpec.CONTINUOUS, new DataSpec.Window(8, 0.2, null));
        StartupException replay = assertThrows(
                StartupException.class,
                () -> RunChecks.requireSameModel(
                        with(replaying, SPEC.model(), 3), trainedWith(with(live, SPEC.model(), 3))));
        assertTrue(
                replay.getMessage().contains("replays no earlier records, this spec says a share 0.2 of each window"),
                replay.getMessage());
        assertEquals(StartupException.BAD_CONFIGURATION, replay.exitCode());
        RunSpec replayingRun = with(replaying, SPEC.model(), 3);
        RunSpec reseeded = new RunSpec(
                replayingRun.run(),
                replayingRun.data(),
                replayingRun.model(),
                new io.streamtrain.core.spec.InitSpec(replayingRun.init().seed() + 1, null),
                replayingRun.batchSize(),
                replayingRun.maxEpochs(),
                replayingRun.optimizer(),
                replayingRun.regularization(),
                replayingRun.earlyStopping(),
                replayingRun.sync(),
                replayingRun.checkpoints());
        StartupException seed = assertThrows(
                StartupException.class, () -> RunChecks.requireSameModel(reseeded, trainedWith(replayingRun)));
        assertTrue(seed.getMessage().contains("the seed cannot change within a run that replays"), seed.getMessage());
        assertDoesNotThrow(() ->
                RunChecks.requireSameModel(with(live, SPEC.model(), 3), trainedWith(with(live, SPEC.model(), 3))));
    }

    /**
     * Without a registration or signatures, anyone who may write the checkpoint topic can put a
     * genuine payload under a later manifest naming another train topic or model: a trainer
     * that took it as the latest exited 2 at every start. The first checkpoint read fixes them.
     */
    @Test
    void withoutARegistrationTheRunsFirstCheckpointFixesTheModelAndDataOfTheLaterOnes() {
        java.util.function.Function<CheckpointManifest, String> refusal = RunChecks.keepsTheFirst();
        com.fasterxml.jackson.databind.node.ObjectNode garbled =
                com.fasterxml.jackson.databind.node.JsonNodeFactory.instance
                        .objectNode()
                        .put("run", SPEC.run());
        assertTrue(refusal.apply(trainedWith(garbled)).contains("does not parse"), "it fixes nothing");
        assertEquals(null, refusal.apply(trainedWith(SPEC)), "the first that parses fixes them");
        assertEquals(null, refusal.apply(trainedWith(with(SPEC.data(), SPEC.model(), 9))), "maxEpochs may change");

        String topic =
                refusal.apply(trainedWith(with(new DataSpec("other.train", "unit.validation"), SPEC.model(), 3)));
        assertTrue(topic != null && topic.contains("other.train") && topic.contains("c1"), topic);
        ModelSpec wider = new ModelSpec("mlp", 4, List.of(6), "relu", 3, 1, 0.0);
        String model = refusal.apply(trainedWith(with(SPEC.data(), wider, 3)));
        assertTrue(model != null && model.contains("another model"), model);
        assertEquals(null, refusal.apply(trainedWith(SPEC)), "the run's own still is");
    }

    @Test
    void aFirstEpochWithEveryRecordRejectedIsABadSpecNotATrainedEpoch() {
        StartupException e = assertThrows(
                StartupException.class, () -> RunChecks.requireSomethingTrained(SPEC, epochEnd(1, 0, 7), "dlq"));
        assertTrue(
                e.getMessage().contains("every one of the 7 records")
                        && e.getMessage().contains("dlq"),
                e.getMessage());
        assertDoesNotThrow(() -> RunChecks.requireSomethingTrained(SPEC, epochEnd(1, 1, 7), "dlq"));
        assertDoesNotThrow(() -> RunChecks.requireSomethingTrained(SPEC, epochEnd(2, 0, 7), "dlq"), "epoch 1 decides");
        assertDoesNotThrow(
                () -> RunChecks.requireSomethingTrained(SPEC, epochEnd(1, 0, 0), "dlq"),
                "an empty epoch rejected nothing");
    }

    @Test
    void theRunIsFinishedAtTheEndOfItsLastEpochOnly() {
        assertTrue(RunChecks.finished(SPEC, epochEnd(3, 1, 0)));
        assertFalse(RunChecks.finished(SPEC, epochEnd(2, 1, 0)));
        assertFalse(
                RunChecks.finished(
                        SPEC, new RoundState(9, 3, 10, Map.of(), RoundSums.ZERO, null, null, 1, 5, false, null)),
                "a round inside epoch 4 of 3 cannot end the run");
    }

    @Test
    void aReplayedRecordIsNotDeadLetteredAgain() {
        DataSpec live = new DataSpec(
                SPEC.data().train(), SPEC.data().validation(), DataSpec.CONTINUOUS, new DataSpec.Window(8, 0.5, null));
        RunSpec spec = with(live, SPEC.model(), 3);
        SyncLog log = new SyncLog(
                new Combiner(spec.sync()), RoundState.start(0, 0, 0, null, null, -1, 0, RoundSums.ZERO), null);
        ConsumerRecord<byte[], byte[]> garbage =
                new ConsumerRecord<>(SPEC.data().train(), 0, 3, null, new byte[] {1});
        assertTrue(
                RunChecks.deadLetterDue(
                        new FeedItem.Rejected(1, 2, garbage, RejectReason.DECODE, "bad", false), log, spec),
                "read by its own window: due");
        assertFalse(
                RunChecks.deadLetterDue(
                        new FeedItem.Rejected(1, 3, garbage, RejectReason.DECODE, "bad", true), log, spec),
                "read again by a later window's replay: written when its own window read it");
    }
}
