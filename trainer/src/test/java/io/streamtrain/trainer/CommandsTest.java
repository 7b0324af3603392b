package io.streamtrain.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.core.control.ControlMessage;
import io.streamtrain.core.spec.RegularizationSpec;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.trainer.model.StepRunner;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class CommandsTest {
    private static final RunSpec SPEC =
            TestSpecs.spec(TestSpecs.smallMlp(), TestSpecs.sgd(0.01), RegularizationSpec.NONE, 1);
    private static final String T = "2026-12-06T00:00:00Z";

    private static ControlMessage.Set set(String id, String key, double value) {
        return new ControlMessage.Set(SPEC.run(), id, T, Map.of(key, value), "op");
    }

    private static ControlMessage.Ack ack(String command, long step, String outcome) {
        return new ControlMessage.Ack(SPEC.run(), "a-" + command + step, T, command, "node-0", step, outcome);
    }

    @Test
    void replayedSetsTakeEffectAtTheStepTheyWereFirstAppliedAndUnappliedOnesAtOnce() {
        Commands c = new Commands(SPEC);
        Optional<ControlMessage.Stop> stop = c.replay(List.of(
                set("s1", "learningRate", 0.5),
                ack("s1", 40, ControlMessage.Ack.APPLIED),
                ack("s1", 30, ControlMessage.Ack.APPLIED),
                set("s2", "l2", 0.25),
                ack("s2", 10, "refused: whatever"),
                new ControlMessage.Pause(SPEC.run(), "p", T, "op")));
        assertTrue(stop.isEmpty());
        assertEquals(0.01, c.settingsAt(29).optimizer().learningRate(), "steps before the earliest ack's");
        assertEquals(
                0.5,
                c.settingsAt(30).optimizer().learningRate(),
                "the step after the 30 the earliest ack was taken at");
        assertEquals(0.25, c.settingsAt(0).regularization().l2(), "no node applied it: from the start");
        assertTrue(c.paused());
        assertEquals(0.25, c.current().regularization().l2(), "the settings asked for last");
        assertEquals(List.of(), c.unanswered(), "nothing refused");
    }

    @Test
    void aSetAfterWhichStepsWentNonFiniteIsRevokedFromItsStepAnsweredFailedAndNotReplayed() {
        Commands c = new Commands(SPEC);
        c.apply(set("ok", "l2", 0.1), 5, 0, () -> "unused");
        c.apply(set("hot", "learningRate", 10), 40, 0, () -> "unused");
        assertEquals(10, c.settingsAt(45).optimizer().learningRate());

        // steps 41.. went non-finite: the SET that took effect after step 40 is to blame
        Commands.Failed failed =
                c.failed(new StepRunner.NonFiniteTrainingException("bad", 40)).orElseThrow();
        assertEquals("hot", failed.id());
        assertEquals(40, failed.afterStep());
        assertTrue(
                failed.outcome().startsWith(ControlMessage.Ack.FAILED + ": the steps from step 41 on were not finite"),
                failed.outcome());
        assertEquals(0.01, c.settingsAt(40).optimizer().learningRate(), "revoked from the step it took effect");
        assertEquals(0.01, c.settingsAt(60).optimizer().learningRate());
        assertEquals(0.1, c.settingsAt(60).regularization().l2(), "the other SET stands");

        // a node that reads the control topic again (the restart) trains without it
        Commands restarted = new Commands(SPEC);
        restarted.replay(List.of(
                set("ok", "l2", 0.1),
                ack("ok", 5, ControlMessage.Ack.APPLIED),
                set("hot", "learningRate", 10),
                ack("hot", 40, ControlMessage.Ack.APPLIED),
                ack("hot", 40, failed.outcome())));
        assertEquals(0.01, restarted.settingsAt(60).optimizer().learningRate(), "a failed SET is not replayed");
        assertEquals(0.1, restarted.settingsAt(60).regularization().l2());
        assertEquals(List.of(), restarted.unanswered(), "answered already");
    }

    @Test
    void aNodeWhoseSpecChangesTheRegisteredContractDoesNotStartAndOneThatKeepsItDoes() {
        RunSpec registered = new RunSpec(
                SPEC.run(),
                SPEC.data(),
                SPEC.model(),
                SPEC.init(),
                SPEC.batchSize(),
                SPEC.maxEpochs() + 1,
                SPEC.optimizer(),
                SPEC.regularization(),
                SPEC.earlyStopping(),
                SPEC.sync(),
                SPEC.checkpoints());
        ControlMessage.Register register = new ControlMessage.Register(
                SPEC.run(), "reg-1", T, io.streamtrain.core.spec.RunSpecParser.toJson(registered), "op");
        io.streamtrain.core.kafka.StartupException refused = org.junit.jupiter.api.Assertions.assertThrows(
                io.streamtrain.core.kafka.StartupException.class, () -> new Commands(SPEC).replay(List.of(register)));
        assertEquals(2, refused.exitCode());
        assertTrue(
                refused.getMessage().contains("maxEpochs " + (SPEC.maxEpochs() + 1) + " → " + SPEC.maxEpochs()),
                refused.getMessage());

        new Commands(registered).replay(List.of(register)); // its own contract: it starts
        ControlMessage.Register later = new ControlMessage.Register(
                SPEC.run(), "reg-2", T, io.streamtrain.core.spec.RunSpecParser.toJson(SPEC), "op");
        new Commands(registered).replay(List.of(register, later)); // only the first registration counts

        com.fasterxml.jackson.databind.node.ObjectNode notASpec =
                com.fasterxml.jackson.databind.node.JsonNodeFactory.instance
                        .objectNode()
                        .put("run", SPEC.run());
        new Commands(SPEC)
                .replay(List.of(new ControlMessage.Register(SPEC.run(), "bad", T, notASpec, "op"), register(SPEC)));
    }

    private static ControlMessage.Register register(RunSpec spec) {
        return new ControlMessage.Register(
                spec.run(), "reg-" + spec.maxEpochs(), T, io.streamtrain.core.spec.RunSpecParser.toJson(spec), "op");
    }

    @Test
    void aRollbackIsOpenUntilAcknowledgedAndTheLatestSupersedesTheOnesBefore() {
        Commands c = new Commands(SPEC);
        ControlMessage.Rollback first =
                new ControlMessage.Rollback(SPEC.run(), "rb-1", T, "run-e0002-aa", "degrading", "evaluator");
        ControlMessage.Rollback second =
                new ControlMessage.Rollback(SPEC.run(), "rb-2", T, "run-e0004-bb", "degrading", "evaluator");
        c.replay(List.of(first, ack("rb-1", 30, ControlMessage.Ack.APPLIED)));
        assertTrue(c.rollback().isEmpty(), "carried out before this node started");
        c.replay(List.of(first, second));
        assertEquals("rb-2", c.rollback().orElseThrow().id());
        c.rolledBack("rb-1");
        assertEquals("rb-2", c.rollback().orElseThrow().id(), "another one's end does not close it");
        c.rolledBack("rb-2");
        assertTrue(c.rollback().isEmpty());
        assertTrue(
                c.apply(first, 5, 0, () -> "unused").isEmpty(),
                "acknowledged when a round carries it out, not on arrival");
        assertEquals("rb-1", c.rollback().orElseThrow().id());
        // another node carried it out (or refused it): no longer this
        // node's, whatever state it was in when the round closed
        assertTrue(c.apply(ack("rb-1", 40, "refused: checkpoint x cannot be read: gone"), 41, 0, () -> "unused")
                .isEmpty());
        assertTrue(c.rollback().isEmpty());
    }

    @Test
    void aSetAnotherNodeAnsweredFailedHoldsOnNoNodeFromTheStepItTookEffect() {
        Commands c = new Commands(SPEC);
        c.apply(set("hot", "learningRate", 10), 40, 0, () -> "unused");
        assertEquals(10, c.settingsAt(50).optimizer().learningRate());
        c.apply(
                ack("hot", 40, ControlMessage.Ack.FAILED + ": the steps from step 41 on were not finite"),
                55,
                0,
                () -> "unused");
        assertEquals(
                0.01,
                c.settingsAt(40).optimizer().learningRate(),
                "as the failed node's restart replays it: never held");
        assertEquals(0.01, c.settingsAt(60).optimizer().learningRate());
    }

    @Test
    void nonFiniteStepsLongAfterTheLastSetOrWithNoSetBlameNoCommand() {
        Commands c = new Commands(SPEC);
        assertTrue(
                c.failed(new StepRunner.NonFiniteTrainingException("bad", 7)).isEmpty(),
                "no SET: the spec or the data");
        c.apply(set("lr", "learningRate", 0.5), 10, 0, () -> "unused");
        assertTrue(
                c.failed(new StepRunner.NonFiniteTrainingException("bad", 10 + StepRunner.MAX_SKIPPED_IN_A_ROW + 1))
                        .isEmpty(),
                "trained finite long enough with it: not the SET's doing");
        assertEquals(0.5, c.settingsAt(100).optimizer().learningRate(), "kept");
        assertTrue(
                c.failed(new StepRunner.NonFiniteTrainingException("bad", 9)).isEmpty(), "bad before it took effect");
        assertEquals(
                "lr",
                c.failed(new StepRunner.NonFiniteTrainingException("bad", 10 + StepRunner.MAX_SKIPPED_IN_A_ROW))
                        .orElseThrow()
                        .id(),
                "within the window");
    }

    @Test
    void aRefusedSetNobodyAcknowledgedIsAnsweredOnceByTheNodeThatReplaysIt() {
        Commands c = new Commands(SPEC);
        c.replay(List.of(set("poison", "l2", 1e300), set("old", "l1", -1), ack("old", 0, "refused: l1 ...")));
        List<Commands.Applied> answers = c.unanswered();
        assertEquals(
                List.of("poison"),
                answers.stream().map(Commands.Applied::id).toList(),
                "the acknowledged one is answered already");
        assertTrue(
                answers.get(0).outcome().startsWith("refused: regularization.l2"),
                answers.get(0).outcome());
        assertEquals(0.0, c.settingsAt(100).regularization().l2());
    }

    private static ControlMessage.Revoke revoke(String id, String set) {
        return new ControlMessage.Revoke(SPEC.run(), id, T, set, "op");
    }

    @Test
    void aRevokedSetNoLongerHoldsFromTheStepAfterTheRevokeAndKeepsItsEarlierSteps() {
        Commands c = new Commands(SPEC);
        assertTrue(c.apply(set("lr", "learningRate", 0.5), 10, 0, () -> "unused")
                .orElseThrow()
                .applied());
        assertTrue(c.apply(set("l2", "l2", 0.25), 12, 0, () -> "unused")
                .orElseThrow()
                .applied());
        Commands.Applied revoked =
                c.apply(revoke("r1", "lr"), 20, 0, () -> "unused").orElseThrow();
        assertEquals(new Commands.Applied("r1", "revoke", ControlMessage.Ack.APPLIED), revoked);
        assertEquals(0.5, c.settingsAt(19).optimizer().learningRate(), "the steps before the revoke keep the SET");
        assertEquals(
                0.01,
                c.settingsAt(20).optimizer().learningRate(),
                "from the step after the 20 taken: the spec's again");
        assertEquals(0.25, c.settingsAt(20).regularization().l2(), "another SET stays");
        Commands.Applied unknown =
                c.apply(revoke("r2", "nope"), 21, 0, () -> "unused").orElseThrow();
        assertTrue(unknown.outcome().startsWith("refused: no SET nope"), unknown.outcome());
    }

    @Test
    void aReplayedRevokeHoldsFromTheStepItWasAppliedAtAndOneNobodyAppliedAtOnce() {
        Commands c = new Commands(SPEC);
        c.replay(List.of(
                set("lr", "learningRate", 0.5),
                ack("lr", 10, ControlMessage.Ack.APPLIED),
                revoke("r1", "lr"),
                ack("r1", 30, ControlMessage.Ack.APPLIED),
                set("l2", "l2", 0.25),
                ack("l2", 12, ControlMessage.Ack.APPLIED),
                revoke("r2", "l2"),
                revoke("r3", "refused-one")));
        assertEquals(0.5, c.settingsAt(29).optimizer().learningRate());
        assertEquals(
                0.01, c.settingsAt(30).optimizer().learningRate(), "as the uninterrupted run: revoked after step 30");
        assertEquals(0.0, c.settingsAt(40).regularization().l2(), "a revoke nobody applied yet holds at once");
        assertEquals(
                List.of("r3"),
                c.unanswered().stream().map(Commands.Applied::id).toList(),
                "the revoke of no SET is answered once");
    }

    @Test
    void aStopInTheHistoryEndsTheReplayAndIsReturned() {
        Commands c = new Commands(SPEC);
        ControlMessage.Stop stop = new ControlMessage.Stop(SPEC.run(), "x", T, "operator", "done", null, "op");
        assertEquals(Optional.of(stop), c.replay(List.of(stop, new ControlMessage.Pause(SPEC.run(), "p", T, "op"))));
        assertFalse(c.paused(), "nothing after the STOP counts");
    }

    @Test
    void eachCommandIsAnsweredWithWhatTheNodeDidAndAcknowledgementsAreNotCommands() {
        Commands c = new Commands(SPEC);
        Commands.Applied pause = c.apply(new ControlMessage.Pause(SPEC.run(), "p", T, "op"), 7, 0, () -> "unused")
                .orElseThrow();
        assertEquals(new Commands.Applied("p", "pause", ControlMessage.Ack.APPLIED), pause);
        assertTrue(c.paused());
        assertTrue(c.apply(new ControlMessage.Resume(SPEC.run(), "r", T, "op"), 7, 0, () -> "unused")
                .orElseThrow()
                .applied());
        assertFalse(c.paused());

        Commands.Applied refused =
                c.apply(set("bad", "l1", -1), 7, 0, () -> "unused").orElseThrow();
        assertFalse(refused.applied());
        assertTrue(refused.outcome().startsWith("refused: "), refused.outcome());
        assertEquals(0.0, c.settingsAt(100).regularization().l1());

        assertTrue(c.apply(set("ok", "l1", 0.125), 7, 0, () -> "unused")
                .orElseThrow()
                .applied());
        assertEquals(0.0, c.settingsAt(6).regularization().l1(), "a rollback before the SET's step takes it back");
        assertEquals(0.125, c.settingsAt(7).regularization().l1(), "from the step after the 7 taken");

        Commands.Applied snapshot = c.apply(
                        new ControlMessage.Checkpoint(SPEC.run(), "c", T, "op"), 7, 0, () -> "refused: not now")
                .orElseThrow();
        assertEquals(new Commands.Applied("c", "checkpoint", "refused: not now"), snapshot);

        assertTrue(c.apply(ack("ok", 3, ControlMessage.Ack.APPLIED), 7, 0, () -> "unused")
                .isEmpty());
    }

    @Test
    void checkpointCommandsAreRateLimitedSoTheyCannotFillTheTopic() {
        Commands c = new Commands(SPEC);
        long s = 1_000_000_000L;
        java.util.concurrent.atomic.AtomicInteger published = new java.util.concurrent.atomic.AtomicInteger();
        java.util.function.Supplier<String> publish =
                () -> ControlMessage.Ack.APPLIED + ": checkpoint c" + published.incrementAndGet();
        ControlMessage.Checkpoint cmd = new ControlMessage.Checkpoint(SPEC.run(), "c", T, "op");
        assertTrue(c.apply(cmd, 1, 10 * s, publish).orElseThrow().applied());
        Commands.Applied tooSoon = c.apply(cmd, 2, 69 * s, publish).orElseThrow();
        assertTrue(tooSoon.outcome().startsWith("refused: a snapshot was published 59 s ago"), tooSoon.outcome());
        assertTrue(c.apply(cmd, 3, 70 * s, publish).orElseThrow().applied(), "a minute later");
        assertEquals(2, published.get());
        // a snapshot that was refused does not hold the next one back
        Commands d = new Commands(SPEC);
        d.apply(cmd, 1, 0, () -> "refused: not the owner");
        assertTrue(d.apply(cmd, 1, s, publish).orElseThrow().applied());
    }
}
