package io.streamtrain.trainer;

import static io.streamtrain.core.logging.Logs.escape;

import io.streamtrain.core.checkpoint.Checkpoint;
import io.streamtrain.core.checkpoint.CheckpointRejectedException;
import io.streamtrain.core.codec.SafeTensors;
import io.streamtrain.core.control.ControlMessage;
import io.streamtrain.trainer.feed.BatchFeed;
import io.streamtrain.trainer.model.StepRunner;
import io.streamtrain.trainer.sync.Combiner;
import io.streamtrain.trainer.sync.RoundState;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Queue;
import java.util.function.Consumer;
import java.util.function.IntFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What the run's control commands do to a node, on its training thread: the commands that
 * arrived are applied between steps and acknowledged; a SET after which steps are not finite
 * is answered as failed; an open ROLLBACK is carried out by the owner of partition 0 at its
 * next round. {@link Commands} decides; this class does what it decided, through the node's
 * ports.
 */
final class ControlEffects {
    private static final Logger log = LoggerFactory.getLogger(ControlEffects.class);

    private final Commands commands;
    private final Queue<ControlMessage> inbox;
    private final ControlChannel control;
    private final BatchFeed feed;
    private final Checkpoints checkpoints;
    private final List<TrainingListener> listeners;

    ControlEffects(
            Commands commands,
            Queue<ControlMessage> inbox,
            ControlChannel control,
            BatchFeed feed,
            Checkpoints checkpoints,
            List<TrainingListener> listeners) {
        this.commands = commands;
        this.inbox = inbox;
        this.control = control;
        this.feed = feed;
        this.checkpoints = checkpoints;
        this.listeners = listeners;
    }

    /**
     * Applies the commands that arrived since the last tick and acknowledges each.
     *
     * @param inProgress the epoch being trained: a CHECKPOINT command's snapshot is of it
     * @param snapshot publishes a snapshot of that epoch now, and returns the acknowledgement's outcome
     */
    void applyArrived(long step, int inProgress, IntFunction<String> snapshot) {
        for (ControlMessage m = inbox.poll(); m != null; m = inbox.poll()) {
            boolean wasPaused = commands.paused();
            Optional<Commands.Applied> applied =
                    commands.apply(m, step, System.nanoTime(), () -> snapshot.apply(inProgress));
            if (applied.isEmpty()) {
                continue;
            }
            if (commands.paused() != wasPaused) {
                feed.pauseConsumption(commands.paused());
                emit(l -> l.onPaused(commands.paused()));
            }
            Commands.Applied a = applied.get();
            emit(l -> l.onCommand(a.command(), a.applied()));
            control.acknowledge(a.id(), step, a.outcome());
        }
    }

    /**
     * Training cannot go on (its steps are not finite): a SET to blame is answered as failed
     * and revoked, so the restart that follows trains on from the last closed round without it.
     *
     * @return what the node fails with
     */
    RuntimeException failedBy(StepRunner.NonFiniteTrainingException e) {
        Optional<Commands.Failed> set = commands.failed(e);
        if (set.isEmpty()) {
            return e;
        }
        emit(l -> l.onCommand("set", false));
        control.acknowledge(set.get().id(), set.get().afterStep(), set.get().outcome());
        return new IllegalStateException(
                e.getMessage() + ". SET " + escape(set.get().id()) + " took effect just before: it is"
                        + " acknowledged as failed and will not be replayed, so a restart trains on without it from the last closed round",
                e);
    }

    /**
     * An open ROLLBACK is the owner of partition 0's to carry out: it hands the target
     * checkpoint's state in instead of its own, marked, and the round's state becomes it on
     * every node ({@link Combiner#RESET_KEY}); the round's records still count. A target that
     * cannot be read is refused in the acknowledgement.
     *
     * @param payload what the node would hand in
     * @return what it hands in
     */
    byte[] withRollback(byte[] payload, boolean ownsPartitionZero, long step, long round) {
        Optional<ControlMessage.Rollback> open = commands.rollback();
        if (open.isEmpty() || !ownsPartitionZero) {
            return payload;
        }
        ControlMessage.Rollback r = open.get();
        Checkpoint target;
        try {
            target = checkpoints.find(r.checkpointId());
        } catch (CheckpointRejectedException | RuntimeException e) {
            log.warn(
                    "ROLLBACK {} refused: checkpoint {} cannot be read: {}",
                    escape(r.id()),
                    escape(r.checkpointId()),
                    escape(e.getMessage()));
            commands.rolledBack(r.id());
            emit(l -> l.onCommand("rollback", false));
            control.acknowledge(
                    r.id(), step, "refused: checkpoint " + r.checkpointId() + " cannot be read: " + e.getMessage());
            return payload;
        }
        log.info(
                "ROLLBACK {}: handing in checkpoint {}'s state (epoch {}) as this node's share of round {}",
                escape(r.id()),
                escape(r.checkpointId()),
                target.manifest().epoch(),
                round);
        return SafeTensors.write(
                new ArrayList<>(target.payload().tensors().values()), Map.of(Combiner.RESET_KEY, r.id()));
    }

    /** A closed round that carried out the open ROLLBACK: it is done; the owner of partition 0 says so. */
    void noteRollback(RoundState closed, boolean ownsPartitionZero) {
        String reset = closed.state() == null ? null : closed.state().metadata().get(Combiner.RESET_KEY);
        Optional<ControlMessage.Rollback> open = commands.rollback();
        if (reset == null || open.isEmpty() || !open.get().id().equals(reset)) {
            return;
        }
        commands.rolledBack(reset);
        log.info(
                "ROLLBACK {}: round {} (step {}) holds checkpoint {}'s state; training goes on from it",
                escape(reset),
                closed.round(),
                closed.step(),
                escape(open.get().checkpointId()));
        if (ownsPartitionZero) {
            emit(l -> l.onCommand("rollback", true));
            control.acknowledge(reset, closed.step(), ControlMessage.Ack.APPLIED);
        }
    }

    private void emit(Consumer<TrainingListener> event) {
        listeners.forEach(event);
    }
}
