package io.streamtrain.trainer;

import static io.streamtrain.core.logging.Logs.escape;

import io.streamtrain.core.control.ControlMessage;
import io.streamtrain.core.kafka.StartupException;
import io.streamtrain.core.spec.RunContract;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.trainer.control.SettingsLog;
import io.streamtrain.trainer.model.StepRunner;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What the run's control commands make of a node: whether it is paused and which settings
 * each step trains with. Pure: the node hands it the commands, in order, and acknowledges
 * what it answers.
 */
final class Commands {
    private static final Logger log = LoggerFactory.getLogger(Commands.class);

    /**
     * What a node did with a command: the outcome its acknowledgement carries.
     *
     * @param command the command's name as metrics label it ({@code pause}, {@code set}, ...)
     */
    record Applied(String id, String command, String outcome) {
        boolean applied() {
            return outcome.startsWith(ControlMessage.Ack.APPLIED);
        }
    }

    /** CHECKPOINT commands publish whole snapshots to a topic kept forever: at most one this often. */
    static final Duration MIN_SNAPSHOT_INTERVAL = Duration.ofMinutes(1);

    private final SettingsLog settings;
    private boolean paused;
    private long lastSnapshotNanos;
    private boolean snapshotted;
    /** SETs of the history that are refused and that no node has acknowledged: this node says why, once. */
    private final List<Applied> unanswered = new java.util.ArrayList<>();
    /** The settings of the step trained last: for meters, which read them from another thread. */
    private volatile RunSpec current;

    private final RunSpec spec;
    /** The run's first registration on its control topic, if it has one. */
    private ControlMessage.Register registration;
    /** The ROLLBACK not yet acknowledged as carried out (the latest supersedes the ones before), or null. */
    private ControlMessage.Rollback rollback;

    Commands(RunSpec spec) {
        this.spec = spec;
        this.settings = new SettingsLog(spec);
        this.current = spec;
    }

    /**
     * The settings step {@code step} trained with (the step that followed {@code step − 1}
     * steps; for step 0, before any, those of the first), without changing {@link #current}:
     * for a checkpoint of a step the node has trained past.
     */
    RunSpec settingsOfStep(long step) {
        return settings.at(Math.max(0, step - 1));
    }

    /** The settings the node trains with now (the last {@link #settingsAt} answer). */
    RunSpec current() {
        return current;
    }

    boolean paused() {
        return paused;
    }

    /** The settings of the step that follows {@code stepsTaken}: SETs take effect at their step, and a rollback takes them back. */
    RunSpec settingsAt(long stepsTaken) {
        current = settings.at(stepsTaken);
        return current;
    }

    /**
     * The commands issued before this node started: the run's state includes them, so this
     * node does too. A SET takes effect from the step it was first applied at (its
     * acknowledgement says which), so a resumed run trains each step with the settings the
     * uninterrupted run used; a SET nobody applied yet takes effect at once.
     *
     * @param history the control topic from its beginning, acknowledgements included
     * @return the STOP that ended the run, if one did: a stopped run is not restarted
     */
    Optional<ControlMessage.Stop> replay(List<ControlMessage> history) {
        Map<String, Long> appliedAt = new HashMap<>();
        java.util.Set<String> answered = new java.util.HashSet<>();
        Map<String, String> failed = new HashMap<>();
        for (ControlMessage m : history) {
            if (m instanceof ControlMessage.Ack a && a.command() != null) {
                answered.add(a.command());
                if (a.applied()) {
                    appliedAt.merge(a.command(), a.step(), Math::min);
                } else if (a.failed()) {
                    failed.putIfAbsent(a.command(), a.outcome());
                }
            }
        }
        for (ControlMessage m : history) {
            if (m instanceof ControlMessage.Stop stop) {
                return Optional.of(stop);
            } else if (m instanceof ControlMessage.Pause) {
                paused = true;
            } else if (m instanceof ControlMessage.Resume) {
                paused = false;
            } else if (m instanceof ControlMessage.Rollback r) {
                // carried out once: one the history acknowledges is done;
                // the latest still open is this node's to carry out
                rollback = answered.contains(r.id()) ? null : r;
            } else if (m instanceof ControlMessage.Register register && registration == null) {
                requireRegistered(register);
            } else if (m instanceof ControlMessage.Set set && failed.containsKey(set.id())) {
                log.info(
                        "SET {} on the control topic is not replayed: a node acknowledged it {}",
                        escape(set.id()),
                        escape(failed.get(set.id())));
            } else if (m instanceof ControlMessage.Set set) {
                long from = appliedAt.getOrDefault(set.id(), Long.MIN_VALUE);
                try {
                    settings.add(set.id(), from, set.values());
                    log.info(
                            "replaying SET {} from the control topic: {}{}",
                            escape(set.id()),
                            escape(set.values()),
                            from == Long.MIN_VALUE ? "" : " from step " + (from + 1));
                } catch (IllegalArgumentException e) {
                    log.info("SET {} on the control topic was refused: {}", escape(set.id()), escape(e.getMessage()));
                    if (!answered.contains(set.id())) {
                        unanswered.add(new Applied(set.id(), "set", "refused: " + e.getMessage()));
                    }
                }
            } else if (m instanceof ControlMessage.Revoke revoke) {
                // from the step it was first applied at; one nobody applied yet, at once (from the step this node
                // resumes at)
                long from = appliedAt.getOrDefault(revoke.id(), Long.MIN_VALUE);
                if (settings.revoke(revoke.command(), from)) {
                    log.info(
                            "replaying REVOKE {} of SET {}{}",
                            escape(revoke.id()),
                            escape(revoke.command()),
                            from == Long.MIN_VALUE ? "" : " from step " + (from + 1));
                } else if (!answered.contains(revoke.id())) {
                    unanswered.add(new Applied(revoke.id(), "revoke", noSuchSet(revoke)));
                }
            }
        }
        return Optional.empty();
    }

    /**
     * The run's first registration fixes its contract: a node whose spec changes it would only
     * publish checkpoints the evaluator rejects, so it does not start. A registration that is
     * not a valid spec of this run is ignored, as the evaluator ignores it.
     *
     * @throws StartupException (exit 2) when this node's spec changes the registered contract
     */
    private void requireRegistered(ControlMessage.Register register) {
        String invalid = register.invalidity();
        if (invalid != null) {
            log.warn(
                    "REGISTER {} on the control topic is not a valid spec of this run ({}); ignoring it",
                    escape(register.id()),
                    escape(invalid));
            return;
        }
        registration = register;
        String changed = RunContract.of(register.runSpec()).changedBy(RunContract.of(spec));
        if (changed != null) {
            throw new StartupException(
                    StartupException.BAD_CONFIGURATION,
                    "this node's spec changes what the spec registered for run "
                            + spec.run() + " (REGISTER " + escape(register.id()) + " by " + escape(register.source())
                            + ") fixes: "
                            + escape(changed)
                            + ". Start the trainers with the registered spec, or train under a new run id");
        }
        log.info(
                "run {} was registered by {} (REGISTER {}); this node's spec keeps its contract",
                spec.run(),
                escape(register.source()),
                escape(register.id()));
    }

    /**
     * Another node's acknowledgement, as it arrives: a ROLLBACK it carried out (or refused) is
     * no longer this node's to carry out, and a SET it answered as failed holds on no node
     * (revoked from the step it took effect, as on the node that failed), so the nodes that go
     * on train with the settings its restart replays.
     */
    private void answered(ControlMessage.Ack a) {
        if (a.command() == null) {
            return;
        }
        if (rollback != null && rollback.id().equals(a.command())) {
            log.info(
                    "ROLLBACK {} was answered by {} ({}): it is no longer open",
                    escape(a.command()),
                    escape(a.node()),
                    escape(a.outcome()));
            rolledBack(a.command());
        }
        if (a.failed() && settings.revoke(a.command(), a.step())) {
            log.warn(
                    "SET {} failed on {}: it no longer holds here either, from step {}",
                    escape(a.command()),
                    escape(a.node()),
                    a.step() + 1);
        }
    }

    /** The ROLLBACK to carry out, if one is open. */
    Optional<ControlMessage.Rollback> rollback() {
        return Optional.ofNullable(rollback);
    }

    /** The open ROLLBACK {@code id} was carried out, or refused: no node carries it out again. */
    void rolledBack(String id) {
        if (rollback != null && rollback.id().equals(id)) {
            rollback = null;
        }
    }

    /** The spec of the run's first valid registration, once {@link #replay} has read it. */
    Optional<RunSpec> registeredSpec() {
        return Optional.ofNullable(registration).map(ControlMessage.Register::runSpec);
    }

    private static String noSuchSet(ControlMessage.Revoke revoke) {
        return "refused: no SET " + revoke.command() + " was applied in this run (it was refused, or is another run's)";
    }

    /**
     * The refusals of SETs in the history that no node acknowledged (written while no trainer
     * ran): the node acknowledges them once it has read the history, so the operator sees why.
     */
    List<Applied> unanswered() {
        return List.copyOf(unanswered);
    }

    /**
     * Steps went non-finite until training could not go on: when a SET that took effect just
     * before is to blame ({@link SettingsLog#culprit}), it is revoked from the step it took
     * effect and answered as failed — so a node that reads the control topic again (the
     * restart this failure leads to) does not replay it, and the run trains on without it
     * from its last closed round instead of failing the same way on every restart.
     *
     * @return the SET's failed acknowledgement (its step: the steps taken before it took effect), if one is to blame
     */
    Optional<Failed> failed(StepRunner.NonFiniteTrainingException e) {
        return settings.culprit(e.streakStart(), StepRunner.MAX_SKIPPED_IN_A_ROW)
                .map(set -> {
                    settings.revoke(set.id(), set.afterStep());
                    String outcome = ControlMessage.Ack.FAILED + ": the steps from step " + (e.streakStart() + 1)
                            + " on were not finite with "
                            + set.values() + " (in effect from step " + (Math.max(0, set.afterStep()) + 1)
                            + "); revoked from that step and not"
                            + " replayed";
                    log.error("SET {} {}", escape(set.id()), outcome);
                    // a SET replayed before any node applied it holds from
                    // wherever this node started: say step 0, not -2^63
                    return new Failed(set.id(), Math.max(0, set.afterStep()), outcome);
                });
    }

    /** A SET answered as failed: its id, the steps taken before it took effect, and the outcome. */
    record Failed(String id, long afterStep, String outcome) {}

    /**
     * A command that arrived while the node runs, applied at a step boundary.
     *
     * @param step the steps taken so far: a SET takes effect from the next
     * @param nowNanos the time ({@link System#nanoTime()}): snapshots are rate-limited
     * @param snapshot publishes a snapshot now (CHECKPOINT) and returns its outcome
     * @return what to acknowledge, or empty for messages that are not this node's to act on
     *     (acknowledgements, and a STOP, which the node obeys as soon as it reads it)
     */
    Optional<Applied> apply(ControlMessage m, long step, long nowNanos, Supplier<String> snapshot) {
        String outcome = ControlMessage.Ack.APPLIED;
        if (m instanceof ControlMessage.Ack a) {
            answered(a);
            return Optional.empty(); // another node's answer: nothing to acknowledge
        } else if (m instanceof ControlMessage.Pause) {
            paused = true;
            log.info("PAUSE {}: consumption and training paused at step {}", escape(m.id()), step);
        } else if (m instanceof ControlMessage.Resume) {
            paused = false;
            log.info("RESUME {}: training goes on from step {}", escape(m.id()), step);
        } else if (m instanceof ControlMessage.Checkpoint) {
            long since = nowNanos - lastSnapshotNanos;
            if (snapshotted && since < MIN_SNAPSHOT_INTERVAL.toNanos()) {
                outcome = "refused: a snapshot was published " + since / 1_000_000_000L + " s ago; at most one every "
                        + MIN_SNAPSHOT_INTERVAL.toSeconds() + " s";
            } else {
                outcome = snapshot.get();
                if (outcome.startsWith(ControlMessage.Ack.APPLIED)) {
                    snapshotted = true;
                    lastSnapshotNanos = nowNanos;
                }
            }
            log.info("CHECKPOINT {}: {}", escape(m.id()), outcome);
        } else if (m instanceof ControlMessage.Revoke revoke) {
            if (settings.revoke(revoke.command(), step)) {
                log.info(
                        "REVOKE {}: SET {} no longer holds from step {}",
                        escape(revoke.id()),
                        escape(revoke.command()),
                        step + 1);
            } else {
                outcome = noSuchSet(revoke);
                log.warn("REVOKE {} refused: {}", escape(revoke.id()), escape(outcome));
            }
        } else if (m instanceof ControlMessage.Rollback r) {
            rollback = r; // carried out at a round (see NodeLoop), and acknowledged then
            log.info(
                    "ROLLBACK {} to checkpoint {} ({}): the owner of partition 0 hands that state in at its next round",
                    escape(r.id()),
                    escape(r.checkpointId()),
                    escape(r.reason()));
            return Optional.empty();
        } else if (m instanceof ControlMessage.Set set) {
            try {
                settings.add(set.id(), step, set.values());
                log.info("SET {}: {} from step {}", escape(set.id()), escape(set.values()), step + 1);
            } catch (IllegalArgumentException e) {
                outcome = "refused: " + e.getMessage();
                log.warn("SET {} refused: {}", escape(set.id()), escape(e.getMessage()));
            }
        } else {
            return Optional.empty();
        }
        return Optional.of(new Applied(m.id(), m.getClass().getSimpleName().toLowerCase(Locale.ROOT), outcome));
    }
}
