package io.streamtrain.evaluator;

import static io.streamtrain.evaluator.Fixtures.RUN;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.core.control.ControlMessage;
import io.streamtrain.core.evaluation.BestCheckpoint;
import io.streamtrain.core.evaluation.EvaluationRecord;
import io.streamtrain.core.evaluation.ValidationPlan;
import io.streamtrain.core.protocol.Messages;
import io.streamtrain.core.spec.RunContract;
import io.streamtrain.core.topics.Topics;
import io.streamtrain.evaluator.policy.Evaluation;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.MockConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TimeoutException;
import org.junit.jupiter.api.Test;

/** A run's state, rebuilt from its evaluations and control topics as a restarted evaluator finds them. */
class RunStateLoaderTest {
    static final ValidationPlan PLAN = new ValidationPlan("v", Map.of(0, 40L));
    static final TopicPartition EVALUATIONS = new TopicPartition(Topics.evaluations(RUN), 0);
    static final TopicPartition CONTROL = new TopicPartition(Topics.control(RUN), 0);
    static final TopicPartition CHECKPOINTS = new TopicPartition(Topics.checkpoints(RUN), 0);

    final MockConsumer<byte[], byte[]> group = new MockConsumer<>("earliest");
    final MockConsumer<byte[], byte[]> reader = new MockConsumer<>("earliest");
    final MockConsumer<byte[], byte[]> control = new MockConsumer<>("earliest");
    final List<String> stopped = new ArrayList<>();
    final EvaluatorEvents events = new EvaluatorEvents() {
        @Override
        public void stopped(String run, String reasonCode) {
            stopped.add(run + ":" + reasonCode);
        }
    };

    static EvaluationRecord evaluated(int epoch, double valLoss, String stopReason, ValidationPlan plan) {
        return EvaluationRecord.evaluated(
                RUN,
                epoch,
                "r-e" + epoch,
                Map.of("val_loss", valLoss),
                0.25,
                new BestCheckpoint(1, "r-e1", "val_loss", 0.5),
                0,
                3,
                stopReason,
                "why",
                0.1,
                plan);
    }

    static ConsumerRecord<byte[], byte[]> at(long offset, byte[] value) {
        return new ConsumerRecord<>(EVALUATIONS.topic(), 0, offset, null, value);
    }

    static List<ConsumerRecord<byte[], byte[]>> records(byte[]... values) {
        List<ConsumerRecord<byte[], byte[]>> out = new ArrayList<>();
        for (byte[] v : values) {
            out.add(at(out.size(), v));
        }
        return out;
    }

    RunState load(Duration timeout) {
        return new RunStateLoader(group, reader, new StopFeed(control), events, timeout).load(RUN, "val_loss");
    }

    void controlTopic(ControlMessage... messages) {
        Fixtures.feed(
                control,
                CONTROL,
                java.util.Arrays.stream(messages).map(Messages::encode).toList());
    }

    void committed(String metadata) {
        group.assign(List.of(CHECKPOINTS));
        group.commitSync(Map.of(CHECKPOINTS, new OffsetAndMetadata(9, metadata)));
    }

    @Test
    void anEpochCountsOnceAndOnlyEvaluationsOfEpochsCount() {
        RunState s = new RunState(RUN);
        EvaluationRecord last = RunStateLoader.rebuild(
                s,
                "val_loss",
                records(
                        Messages.encode(evaluated(1, 0.5, null, null)), // written before plans were recorded
                        Messages.encode(EvaluationRecord.rejected(RUN, 2, "r-e2", "checkpoint-rejected", "bad", PLAN)),
                        Messages.encode(evaluated(
                                1, 0.125, null, new ValidationPlan("other", Map.of()))), // epoch 1 again: not counted
                        "not json".getBytes(StandardCharsets.UTF_8),
                        "{\"type\":\"something-newer\"}".getBytes(StandardCharsets.UTF_8),
                        Messages.encode(evaluated(2, 0.375, null, PLAN))));

        assertEquals(List.of(new Evaluation(1, "r-e1", 0.5, 0.25), new Evaluation(2, "r-e2", 0.375, 0.25)), s.history);
        assertEquals(PLAN, s.plan, "the first record with a plan fixed it");
        assertTrue(s.deadLettersWritten, "they went with the first evaluation");
        assertFalse(s.stopped);
        assertEquals(2, last.epoch());
    }

    @Test
    void aRestartedEvaluatorHoldsTheRunToTheContractItsEvaluationsName() {
        io.streamtrain.core.spec.RunSpec first = Fixtures.spec("v", "patience: 3");
        RunState s = new RunState(RUN);
        RunStateLoader.rebuild(
                s,
                "val_loss",
                records(Messages.encode(evaluated(1, 0.5, null, PLAN)
                        .withContract(RunContract.of(first).fixed()))));
        assertNull(s.brokenBy(first), "the spec that fixed it keeps it");
        assertEquals(
                "earlyStopping.patience 3 → 1",
                s.brokenBy(Fixtures.spec("v", "patience: 1")),
                "a later manifest with another stopping policy breaks it, after a restart too");
        assertTrue(s.brokenBy(Fixtures.spec("other", "patience: 3")).startsWith("data.validation v → other"));

        RunState broken = new RunState(RUN);
        RunStateLoader.rebuild(
                broken,
                "val_loss",
                records(Messages.encode(evaluated(1, 0.5, null, PLAN)
                        .withContract(io.streamtrain.core.spec.RunSpecParser.toJson(first)))));
        assertNull(
                broken.contract,
                "a whole spec is not a contract: ignored (and logged), the next accepted checkpoint fixes it");

        RunState old = new RunState(RUN);
        RunStateLoader.rebuild(old, "val_loss", records(Messages.encode(evaluated(1, 0.5, null, PLAN))));
        assertNull(old.contract, "records from before contracts: the next accepted checkpoint fixes it");
        assertNull(old.brokenBy(Fixtures.spec("v", "patience: 1")));
    }

    @Test
    void aSnapshotMeansTheDeadLettersAreWrittenAndAStopDecisionStopsTheRun() {
        RunState snapshotOnly = new RunState(RUN);
        RunStateLoader.rebuild(
                snapshotOnly,
                "val_loss",
                records(Messages.encode(EvaluationRecord.snapshot(
                        RUN, 1, "r-s1", Map.of("val_loss", 0.5), null, "snapshot", 0.1, PLAN))));
        assertTrue(snapshotOnly.deadLettersWritten);
        assertEquals(List.of(), snapshotOnly.history);

        RunState stoppedRun = new RunState(RUN);
        assertNull(RunStateLoader.rebuild(stoppedRun, "val_loss", records()));
        RunStateLoader.rebuild(stoppedRun, "val_loss", records(Messages.encode(evaluated(1, 0.5, "max-epochs", PLAN))));
        assertTrue(stoppedRun.stopped);
    }

    @Test
    void anOperatorsStopOnTheControlTopicStopsTheRunForTheEvaluator() {
        Fixtures.feed(reader, EVALUATIONS, List.of(Messages.encode(evaluated(1, 0.5, null, PLAN))));
        controlTopic(
                new ControlMessage.Pause(RUN, "p", "t", "alice"),
                new ControlMessage.Stop(RUN, "s", "t", "operator", "enough", null, "alice"));
        committed("evaluations-through=0");

        RunState s = load(Duration.ofSeconds(5));

        assertEquals(1, s.history.size());
        assertTrue(s.stopped);
        assertEquals("alice", s.stop.source());
        assertEquals("evaluations-through=0", s.committedMetadata, "kept by the next commit that has no evaluation");
        assertEquals(List.of(RUN + ":operator"), stopped);
    }

    @Test
    void aCommittedEvaluationThatNeverBecomesReadableIsATimeoutNotAnEmptyHistory() {
        Fixtures.feed(reader, EVALUATIONS, List.of(Messages.encode(evaluated(1, 0.5, null, PLAN))));
        controlTopic();
        committed("evaluations-through=1"); // its transaction's marker has not reached the topic

        TimeoutException e = assertThrows(TimeoutException.class, () -> load(Duration.ofMillis(300)));
        assertTrue(e.getMessage().contains("offset 1"), e.getMessage());
    }
}
