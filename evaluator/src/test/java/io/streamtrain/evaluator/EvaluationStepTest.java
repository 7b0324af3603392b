package io.streamtrain.evaluator;

import static io.streamtrain.evaluator.Fixtures.RUN;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.core.checkpoint.CheckpointManifest;
import io.streamtrain.core.codec.RejectReason;
import io.streamtrain.core.codec.RejectedRecordException;
import io.streamtrain.core.control.ControlMessage;
import io.streamtrain.core.control.MalformedMessageException;
import io.streamtrain.core.evaluation.BestCheckpoint;
import io.streamtrain.core.evaluation.EvaluationRecord;
import io.streamtrain.core.evaluation.PromotedModel;
import io.streamtrain.core.evaluation.ValidationPlan;
import io.streamtrain.core.protocol.DeadLetters;
import io.streamtrain.core.protocol.Messages;
import io.streamtrain.core.spec.RunContract;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.core.spec.RunSpecParser;
import io.streamtrain.core.topics.Topics;
import io.streamtrain.evaluator.EvaluationStep.Outcome;
import io.streamtrain.evaluator.EvaluationStep.Route;
import io.streamtrain.evaluator.policy.Evaluation;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.Test;

/** The evaluator's answer to a checkpoint, without a broker, a model or a validation topic. */
class EvaluationStepTest {
    static final ValidationPlan PLAN = new ValidationPlan("v", Map.of(0, 40L));
    final EvaluationStep step = new EvaluationStep("evaluator-e1");
    final Fixtures.CheckpointTopic topic = new Fixtures.CheckpointTopic();

    ConsumerRecord<byte[], byte[]> manifestRecord(CheckpointManifest m) {
        return topic.appendManifest(m);
    }

    static Scoring.Scored scored(double valLoss, ValidationSet.Rejected... unreadable) {
        return new Scoring.Scored(Map.of("val_loss", valLoss, "val_samples", 40.0), 0.25, List.of(unreadable));
    }

    static ValidationSet.Rejected unreadableValidationRecord() {
        ProducerRecord<byte[], byte[]> p =
                new ProducerRecord<>("v", "k".getBytes(StandardCharsets.UTF_8), new byte[] {1, 2, 3});
        return new ValidationSet.Rejected(
                Fixtures.consumed(p, 7), new RejectedRecordException(RejectReason.DECODE, "not safetensors"));
    }

    /** Encoded as the evaluator encoded it before the factories: the wire format has not moved. */
    static void assertSameBytes(EvaluationRecord expected, EvaluationRecord actual) {
        assertArrayEquals(
                Messages.encode(expected),
                Messages.encode(actual),
                () -> new String(Messages.encode(actual), StandardCharsets.UTF_8));
    }

    @Test
    void eachCheckpointIsRoutedByWhatTheRunStateSays() {
        RunSpec spec = Fixtures.spec("v", "patience: 3");
        RunSpec noValidation = Fixtures.spec(null, "patience: 3");
        CheckpointManifest epoch2 = Fixtures.manifest(spec, "r-e0002", 2);
        CheckpointManifest snapshot = Fixtures.manifest(spec, "r-s0002", 2, true, Fixtures.payload(2), 1, null);
        RunState fresh = new RunState(RUN);
        RunState evaluated = new RunState(RUN);
        evaluated.history.add(new Evaluation(2, "r-e0002-earlier", 0.5, 0.5));
        RunState stopped = new RunState(RUN);
        stopped.stopped = true;

        assertEquals(Route.EVALUATE, EvaluationStep.route(epoch2, spec, fresh));
        assertEquals(Route.SKIP, EvaluationStep.route(epoch2, spec, evaluated), "an epoch counts once");
        assertEquals(Route.SKIP, EvaluationStep.route(epoch2, spec, stopped));
        assertEquals(Route.NO_VALIDATION, EvaluationStep.route(epoch2, noValidation, fresh));
        assertEquals(
                Route.SNAPSHOT,
                EvaluationStep.route(snapshot, spec, evaluated),
                "a snapshot is not an epoch's evaluation");
        assertEquals(Route.SKIP, EvaluationStep.route(snapshot, spec, stopped));
        assertEquals(
                Route.SKIP,
                EvaluationStep.route(snapshot, noValidation, fresh),
                "nothing to score it on, nothing to reject");
    }

    @Test
    void theFirstEvaluationCarriesThePlanAndTheValidationDeadLettersOnce() {
        RunSpec spec = Fixtures.spec("v", "patience: 3");
        RunState state = new RunState(RUN);
        state.plan = PLAN;
        CheckpointManifest m = Fixtures.manifest(spec, "r-e0001", 1);

        Outcome o = step.evaluate(manifestRecord(m), m, spec, state, scored(0.75, unreadableValidationRecord()));
        EvaluationRecord e = o.evaluation();
        assertSameBytes(
                new EvaluationRecord(
                                EvaluationRecord.TYPE,
                                RUN,
                                e.id(),
                                e.time(),
                                EvaluationRecord.EVALUATED,
                                1,
                                "r-e0001",
                                Map.of("val_loss", 0.75, "val_samples", 40.0),
                                0.5,
                                new BestCheckpoint(1, "r-e0001", "val_loss", 0.75),
                                0,
                                3,
                                EvaluationRecord.CONTINUE,
                                null,
                                e.explanation(),
                                0.25,
                                PLAN)
                        .withContract(RunContract.of(spec).fixed()),
                e);
        assertTrue(o.stop().isEmpty());
        assertNull(o.rejection());
        assertEquals(new Evaluation(1, "r-e0001", 0.75, 0.5), o.counted());
        ProducerRecord<byte[], byte[]> deadLetter = o.deadLetters().get(0);
        assertEquals(1, o.deadLetters().size());
        assertEquals(Topics.deadLetters(RUN), deadLetter.topic());
        assertEquals("decode", Fixtures.header(deadLetter, DeadLetters.REASON));
        assertEquals("7", Fixtures.header(deadLetter, DeadLetters.SOURCE_OFFSET));
        assertEquals("evaluator-e1", Fixtures.header(deadLetter, DeadLetters.NODE));
        assertEquals(o.deadLetters(), o.others(), "no STOP");

        state.committed(o);
        assertEquals(List.of(o.counted()), state.history);
        CheckpointManifest m2 = Fixtures.manifest(spec, "r-e0002", 2);
        Outcome second = step.evaluate(manifestRecord(m2), m2, spec, state, scored(0.5, unreadableValidationRecord()));
        assertEquals(
                List.of(), second.deadLetters(), "the validation set's dead letters went with the first evaluation");
        assertEquals(2, second.evaluation().best().epoch());

        // once a checkpoint was accepted, every evaluation names the spec that fixed the run's contract, not its own
        state.accepted(spec);
        RunSpec other = Fixtures.spec("v", "patience: 9");
        assertEquals(
                RunContract.of(spec).fixed(),
                step.evaluate(manifestRecord(m2), m2, other, state, scored(0.5))
                        .evaluation()
                        .contract());
    }

    @Test
    void aContinuousRunPromotesWindowsThatBeatThePromotedModelAndIsNeverStopped() {
        List<Outcome> windows =
                windows("earlyStopping: { patience: 2, minDelta: 0.01 }", 0.8, 0.5, 0.495, 0.9, 0.7, 0.3);
        // 0.495 does not beat 0.5 by minDelta (level: no decline); 0.9 and 0.7 are worse than it by more: patience 2 is
        // exhausted at window 5; window 6 is promoted
        assertEquals(
                List.of("promote", "promote", "continue", "continue", "degrading/patience-exhausted", "promote"),
                decisions(windows));
        assertEquals(
                List.of(0, 0, 0, 1, 2, 0),
                windows.stream().map(o -> o.evaluation().waitCount()).toList(),
                "the windows in a row below the promoted model");
        List<Integer> promotedWindows = new ArrayList<>();
        for (Outcome o : windows) {
            assertTrue(
                    o.stop().isEmpty(),
                    "a live run is not stopped: window " + o.evaluation().epoch());
            for (ProducerRecord<byte[], byte[]> p : o.others()) {
                int w = o.evaluation().epoch();
                assertEquals(Topics.models(RUN), p.topic());
                assertArrayEquals(
                        RUN.getBytes(StandardCharsets.UTF_8),
                        p.key(),
                        "compacted by run: the latest is the one to serve");
                PromotedModel model = decodePromoted(p.value());
                assertEquals(w, model.epoch());
                assertEquals("r-w" + w, model.checkpointId());
                assertEquals(o.evaluation().metrics().get("val_loss"), model.value());
                promotedWindows.add(w);
                if (w == 6) {
                    assertEquals(new BestCheckpoint(2, "r-w2", "val_loss", 0.5), model.previous(), "what it replaces");
                    assertTrue(model.explanation().contains("beats window 2"), model.explanation());
                }
            }
        }
        assertEquals(List.of(1, 2, 6), promotedWindows);
    }

    /**
     * Degrading means getting worse, not merely no new best: a run whose windows stay within
     * minDelta of the promoted model is not degrading however long it lasts, and a level window
     * ends a stretch of worse ones.
     */
    @Test
    void aRunThatLevelsOffIsNotDegradingOnlyOneBelowItsPromotedModelForPatienceWindows() {
        String policy = "earlyStopping: { patience: 2, minDelta: 0.01 }\nevaluation: { onDegrade: pause }";
        List<Outcome> plateau = windows(policy, 0.5, 0.5, 0.505, 0.498, 0.509, 0.5, 0.503);
        assertEquals(
                List.of("promote", "continue", "continue", "continue", "continue", "continue", "continue"),
                decisions(plateau),
                "level within minDelta for 6 windows: no decline");
        assertTrue(
                plateau.stream()
                        .allMatch(o ->
                                o.others().stream().noneMatch(p -> p.topic().equals(Topics.control(RUN)))),
                "nothing to pause");
        assertTrue(
                plateau.get(6)
                        .evaluation()
                        .explanation()
                        .contains("within minDelta 0.01 of the promoted 0.5 (epoch 1)"),
                plateau.get(6).evaluation().explanation());

        List<Outcome> dips = windows(policy, 0.5, 0.6, 0.505, 0.6, 0.7);
        assertEquals(
                List.of("promote", "continue", "continue", "continue", "degrading/patience-exhausted"),
                decisions(dips),
                "window 3 is level again: the stretch starts over at 4 and reaches patience 2 at 5");
        assertTrue(
                dips.get(4)
                        .evaluation()
                        .explanation()
                        .contains("is worse than the promoted 0.5 (epoch 1) by more than minDelta 0.01, for 2 windows"
                                + " in a row"),
                dips.get(4).evaluation().explanation());
    }

    @Test
    void onDegradePausePausesTheTrainersAtTheFirstDegradingWindowOnly() {
        List<Integer> pausedAt = new ArrayList<>();
        for (Outcome o :
                windows("earlyStopping: { patience: 1 }\nevaluation: { onDegrade: pause }", 0.5, 0.6, 0.7, 0.4, 0.8)) {
            for (ProducerRecord<byte[], byte[]> p : o.others()) {
                if (p.topic().equals(Topics.control(RUN))) {
                    ControlMessage.Pause pause = assertInstanceOf(ControlMessage.Pause.class, decodeControl(p.value()));
                    assertEquals("evaluator", pause.source());
                    assertTrue(
                            o.evaluation().explanation().contains("ctl resume"),
                            o.evaluation().explanation());
                    pausedAt.add(o.evaluation().epoch());
                }
            }
        }
        assertEquals(
                List.of(2, 5),
                pausedAt,
                "degrading from window 2 (paused), still at 3, promoted at 4, degrading again at 5");
    }

    @Test
    void onDegradeRollbackSendsTheTrainersBackToThePromotedModelAtTheFirstDegradingWindowOnly() {
        List<String> rollbacks = new ArrayList<>();
        List<Outcome> outcomes =
                windows("earlyStopping: { patience: 1 }\nevaluation: { onDegrade: rollback }", 0.5, 0.6, 0.7, 0.4, 0.8);
        for (Outcome o : outcomes) {
            for (ProducerRecord<byte[], byte[]> p : o.others()) {
                if (p.topic().equals(Topics.control(RUN))) {
                    ControlMessage.Rollback r =
                            assertInstanceOf(ControlMessage.Rollback.class, decodeControl(p.value()));
                    assertEquals("evaluator", r.source());
                    assertEquals(o.evaluation().best().checkpointId(), r.checkpointId(), "back to the promoted model");
                    rollbacks.add(o.evaluation().epoch() + "->"
                            + o.evaluation().best().epoch());
                }
            }
        }
        assertEquals(
                List.of("2->1", "5->4"),
                rollbacks,
                "degrading at 2 (back to 1), promoted at 4, degrading again at 5 (back to 4)");
    }

    @Test
    void reachingTheGoalIsNoDeclineAndADivergingWindowIsNeverPromoted() {
        assertEquals(
                List.of("promote", "continue"),
                decisions(windows(
                        "earlyStopping: { stoppingThreshold: 0.1, minDelta: 0.02,"
                                + " patience: 5 }\nevaluation: { onDegrade: pause }",
                        0.11,
                        0.099)),
                "0.099 reaches the goal without beating 0.11 by minDelta: not degrading, and nothing to pause for");
        assertEquals(
                List.of("degrading/divergence", "promote", "degrading/divergence"),
                decisions(windows("earlyStopping: { divergenceThreshold: 1.0, patience: 5 }", 1.5, 0.5, 2.0)),
                "the first window is past the threshold");
    }

    /**
     * A continuous run's windows scored in turn, each outcome committed before the next.
     *
     * @param sections the spec's earlyStopping (and evaluation) lines
     */
    private List<Outcome> windows(String sections, double... losses) {
        RunSpec spec = RunSpecParser.parse(
                "run: " + RUN + "\ndata: { train: t, validation: v, mode: continuous, window: { records: 4 } }"
                        + "\nmodel: { inputs: 4, classes: 2 }\n" + sections + "\n");
        RunState state = new RunState(RUN);
        state.deadLettersWritten = true;
        List<Outcome> out = new ArrayList<>();
        for (int w = 1; w <= losses.length; w++) {
            CheckpointManifest m = Fixtures.manifest(spec, "r-w" + w, w);
            Outcome o = step.evaluate(manifestRecord(m), m, spec, state, scored(losses[w - 1]));
            boolean modelRecord = o.others().stream().anyMatch(p -> p.topic().equals(Topics.models(RUN)));
            assertEquals(
                    EvaluationRecord.PROMOTE.equals(o.evaluation().decision()),
                    modelRecord,
                    "a model record exactly when promoted");
            state.committed(o);
            assertFalse(state.stopped, "a continuous run is never stopped by the evaluator");
            out.add(o);
        }
        return out;
    }

    /**
     * On a sliding validation set a window is judged against the promoted model scored again
     * on the same records, not against the value it had when promoted: after a drift the old
     * model's value rises, and a window that is worse than that old value but better than the
     * old model now is promoted. The run degrades when {@code patience} windows in a row are
     * each worse than the promoted model on their own records, as on a holdout; an evaluator
     * rebuilt from the evaluations (a restart) judges the same.
     *
     * <p>The pairs below are, per window, its value, then the promoted model's value on the same records (NaN: none
     * promoted yet).
     */
    @Test
    void onASlidingSetAWindowIsJudgedAgainstThePromotedModelOnTheSameRecords() {
        RunSpec spec = RunSpecParser.parse(
                "run: " + RUN + "\ndata: { train: t, validation: v, mode: continuous, window: { records: 4 } }"
                        + "\nmodel: { inputs: 4, classes: 2 }\nearlyStopping: { patience: 2, minDelta: 0.01 }\nevaluation: { slidingValidation: 64 }\n");
        RunState state = new RunState(RUN);
        state.deadLettersWritten = true;
        // window 1 promoted (0.30); 2 and 3 are worse than it on their records by more than minDelta (0.35 vs 0.30,
        // 0.45 vs 0.39): degrading at 3 (patience 2); 4 is level with it (0.40 vs 0.395): no decline.
        // The data drifts: window 5 scores 0.90, but the promoted model now scores 1.20 on the same records: promoted
        double[][] windows = {{0.30, Double.NaN}, {0.35, 0.30}, {0.45, 0.39}, {0.40, 0.395}, {0.90, 1.20}, {0.95, 0.90}
        };
        List<String> decisions = new ArrayList<>();
        List<ConsumerRecord<byte[], byte[]>> evaluations = new ArrayList<>();
        for (int w = 1; w <= windows.length; w++) {
            if (w == 3) {
                // a restart: the state rebuilt from the evaluations so far
                state = new RunState(RUN);
                RunStateLoader.rebuild(state, "val_loss", evaluations);
                state.deadLettersWritten = true;
            }
            CheckpointManifest m = Fixtures.manifest(spec, "r-w" + w, w);
            double promotedNow = windows[w - 1][1];
            Scoring.Scored scored = new Scoring.Scored(
                    Map.of("val_loss", windows[w - 1][0]),
                    0.01,
                    List.of(),
                    new ValidationPlan("v", Map.of(0, 100L + w), Map.of(0, 36L + w)),
                    Double.isNaN(promotedNow) ? null : promotedNow);
            Outcome o = step.evaluate(manifestRecord(m), m, spec, state, scored);
            state.committed(o);
            evaluations.add(new ConsumerRecord<>(
                    Topics.evaluations(RUN), 0, evaluations.size(), null, Messages.encode(o.evaluation())));
            decisions.add(o.evaluation().decision());
            assertEquals(
                    Map.of(0, 36L + w),
                    o.evaluation().validation().startOffsets(),
                    "the records it was scored on, recorded");
            if (!Double.isNaN(promotedNow)) {
                assertEquals(promotedNow, o.evaluation().metrics().get(EvaluationStep.PROMOTED_PREFIX + "val_loss"));
            }
        }
        assertEquals(List.of("promote", "continue", "degrading", "continue", "promote", "continue"), decisions);
        assertEquals(5, state.promotedEpoch);
        assertEquals("r-w5", state.promotedCheckpointId);
    }

    /**
     * The first degrading window of a stretch is told by the last window's recorded decision,
     * not by replaying the windows before (on a sliding set their values are of other records).
     */
    @Test
    void onASlidingSetARuleFiringWindowAfterWindowSendsOneRollback() {
        RunSpec spec = RunSpecParser.parse(
                "run: " + RUN + "\ndata: { train: t, validation: v, mode: continuous, window: { records: 4 } }"
                        + "\nmodel: { inputs: 4, classes: 2 }\nearlyStopping: { patience: 5, divergenceThreshold: 1.0 }"
                        + "\nevaluation: { slidingValidation: 64, onDegrade: rollback }\n");
        RunState state = new RunState(RUN);
        state.deadLettersWritten = true;
        double[][] windows = {{0.5, Double.NaN}, {1.5, 0.5}, {1.6, 0.5}, {1.7, 0.5}};
        List<String> sent = new ArrayList<>();
        for (int w = 1; w <= windows.length; w++) {
            CheckpointManifest m = Fixtures.manifest(spec, "r-w" + w, w);
            Scoring.Scored scored = new Scoring.Scored(
                    Map.of("val_loss", windows[w - 1][0]),
                    0.01,
                    List.of(),
                    new ValidationPlan("v", Map.of(0, 100L + w), Map.of(0, 36L + w)),
                    Double.isNaN(windows[w - 1][1]) ? null : windows[w - 1][1]);
            Outcome o = step.evaluate(manifestRecord(m), m, spec, state, scored);
            state.committed(o);
            o.others().stream()
                    .filter(p -> p.topic().equals(Topics.control(RUN)))
                    .forEach(p -> sent.add(o.evaluation().epoch() + ":"
                            + decodeControl(p.value()).getClass().getSimpleName()));
            if (w > 1) {
                assertEquals(EvaluationRecord.DEGRADING, o.evaluation().decision(), "window " + w);
            }
        }
        assertEquals(List.of("2:Rollback"), sent, "one ROLLBACK, at the first degrading window");
    }

    private static List<String> decisions(List<Outcome> windows) {
        return windows.stream()
                .map(o -> o.evaluation().decision()
                        + (o.evaluation().reason() == null
                                ? ""
                                : "/" + o.evaluation().reason()))
                .toList();
    }

    private static PromotedModel decodePromoted(byte[] value) {
        try {
            return Messages.decodePromoted(value).orElseThrow();
        } catch (MalformedMessageException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void aStopDecisionGoesOutAsAStopOnTheControlTopic() {
        RunSpec spec = Fixtures.spec("v", "patience: 1");
        RunState state = new RunState(RUN);
        state.history.add(new Evaluation(1, "r-e0001", 0.5, 0.5));
        state.deadLettersWritten = true;
        CheckpointManifest m = Fixtures.manifest(spec, "r-e0002", 2);

        Outcome o = step.evaluate(manifestRecord(m), m, spec, state, scored(0.9));
        EvaluationRecord e = o.evaluation();
        assertEquals(EvaluationRecord.STOP, e.decision());
        assertEquals("patience-exhausted", e.reason());
        assertEquals(new BestCheckpoint(1, "r-e0001", "val_loss", 0.5), e.best());
        assertSameBytes(
                new EvaluationRecord(
                                EvaluationRecord.TYPE,
                                RUN,
                                e.id(),
                                e.time(),
                                EvaluationRecord.EVALUATED,
                                2,
                                "r-e0002",
                                Map.of("val_loss", 0.9, "val_samples", 40.0),
                                0.5,
                                e.best(),
                                1,
                                0,
                                EvaluationRecord.STOP,
                                "patience-exhausted",
                                e.explanation(),
                                0.25,
                                null)
                        .withContract(RunContract.of(spec).fixed()),
                e);
        ControlMessage.Stop stop = o.stop().orElseThrow();
        assertEquals(RUN, stop.run());
        assertEquals("patience-exhausted", stop.reason());
        assertEquals(e.explanation(), stop.explanation());
        assertEquals(e.best(), stop.best());
        assertEquals("evaluator", stop.source());
        ProducerRecord<byte[], byte[]> sent = o.others().get(o.others().size() - 1);
        assertEquals(Topics.control(RUN), sent.topic());
        assertEquals(stop, assertInstanceOf(ControlMessage.Stop.class, decodeControl(sent.value())));

        state.committed(o);
        assertTrue(state.stopped, "the run is over for the evaluator once its STOP is committed");
    }

    @Test
    void aMonitorTheModelDoesNotComputeRejectsTheCheckpoint() {
        RunSpec spec = Fixtures.spec("v", "monitor: val_accuracy, mode: max");
        RunState state = new RunState(RUN);
        state.plan = PLAN;
        CheckpointManifest m = Fixtures.manifest(spec, "r-e0001", 1);
        ConsumerRecord<byte[], byte[]> r = manifestRecord(m);

        Outcome o = step.evaluate(r, m, spec, state, scored(0.75, unreadableValidationRecord()));
        assertEquals(Rejection.MISMATCH, o.rejection());
        assertEquals(EvaluationRecord.REJECTED, o.evaluation().status());
        assertTrue(
                o.evaluation().explanation().contains("val_accuracy"),
                o.evaluation().explanation());
        assertNull(o.counted());
        assertEquals(
                1,
                o.deadLetters().size(),
                "the checkpoint's dead letter only: the validation set's wait for a first evaluation");
        assertEquals(r.topic(), Fixtures.header(o.deadLetters().get(0), DeadLetters.SOURCE_TOPIC));

        state.committed(o);
        assertEquals(List.of(), state.history);
        assertFalse(state.deadLettersWritten);
    }

    @Test
    void aRejectionNamesTheCheckpointAndDeadLettersItsRecord() {
        RunSpec spec = Fixtures.spec("v", "patience: 3");
        ConsumerRecord<byte[], byte[]> r = manifestRecord(Fixtures.manifest(spec, "r-e0003", 3));
        RunState state = new RunState(RUN);
        state.plan = PLAN;

        Outcome known = step.reject(r, RUN, 3, "r-e0003", Rejection.CORRUPT, "SHA-256 mismatch", state);
        EvaluationRecord e = known.evaluation();
        assertSameBytes(
                new EvaluationRecord(
                        EvaluationRecord.TYPE,
                        RUN,
                        e.id(),
                        e.time(),
                        EvaluationRecord.REJECTED,
                        3,
                        "r-e0003",
                        Map.of(),
                        null,
                        null,
                        0,
                        0,
                        EvaluationRecord.CONTINUE,
                        "checkpoint-rejected",
                        "SHA-256 mismatch",
                        0,
                        PLAN),
                e);
        assertEquals(Rejection.CORRUPT, known.rejection());
        ProducerRecord<byte[], byte[]> deadLetter = known.deadLetters().get(0);
        assertEquals(Topics.deadLetters(RUN), deadLetter.topic());
        assertEquals("checkpoint-rejected", Fixtures.header(deadLetter, DeadLetters.REASON));
        assertEquals("SHA-256 mismatch", Fixtures.header(deadLetter, DeadLetters.DETAIL));
        assertEquals(Long.toString(r.offset()), Fixtures.header(deadLetter, DeadLetters.SOURCE_OFFSET));
        assertArrayEquals(r.value(), deadLetter.value());

        Outcome unknown = step.reject(r, RUN, -1, "?", Rejection.UNREADABLE, "could not be evaluated", null);
        assertNull(unknown.evaluation().validation(), "a run not taken up yet has no plan to name");
        assertEquals(-1, unknown.evaluation().epoch());
    }

    @Test
    void aSnapshotIsScoredOutsideTheEarlyStoppingHistory() {
        RunSpec spec = Fixtures.spec("v", "patience: 3");
        RunState state = new RunState(RUN);
        state.plan = PLAN;
        CheckpointManifest m = Fixtures.manifest(spec, "r-s0002", 2, true, Fixtures.payload(2), 1, 0.625);

        Outcome o = step.snapshot(m, spec, state, scored(0.75, unreadableValidationRecord()));
        EvaluationRecord e = o.evaluation();
        assertSameBytes(
                new EvaluationRecord(
                                EvaluationRecord.TYPE,
                                RUN,
                                e.id(),
                                e.time(),
                                EvaluationRecord.SNAPSHOT,
                                2,
                                "r-s0002",
                                Map.of("val_loss", 0.75, "val_samples", 40.0),
                                0.625,
                                null,
                                0,
                                0,
                                EvaluationRecord.CONTINUE,
                                null,
                                "snapshot at step 200 (mid-epoch; not part of early stopping)",
                                0.25,
                                PLAN)
                        .withContract(RunContract.of(spec).fixed()),
                e);
        assertNull(o.counted());
        assertTrue(o.stop().isEmpty());
        assertEquals(1, o.deadLetters().size(), "a snapshot scored first writes the validation set's dead letters");

        state.committed(o);
        assertEquals(List.of(), state.history);
        assertTrue(state.deadLettersWritten);
    }

    private static ControlMessage decodeControl(byte[] value) {
        try {
            return Messages.decodeControl(value).orElseThrow();
        } catch (io.streamtrain.core.control.MalformedMessageException e) {
            throw new AssertionError(e);
        }
    }
}
