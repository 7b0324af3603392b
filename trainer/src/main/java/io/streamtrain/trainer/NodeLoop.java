package io.streamtrain.trainer;

import static io.streamtrain.core.logging.Logs.escape;

import ai.djl.engine.Engine;
import io.streamtrain.core.control.ControlMessage;
import io.streamtrain.core.kafka.StartupException;
import io.streamtrain.core.metrics.Health;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.trainer.feed.BatchFeed;
import io.streamtrain.trainer.feed.FeedItem;
import io.streamtrain.trainer.model.ModelState;
import io.streamtrain.trainer.sync.RoundState;
import io.streamtrain.trainer.sync.SyncChannel;
import io.streamtrain.trainer.sync.SyncLog;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Queue;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One node's part in the run, from its first assignment to its exit, as a state machine
 * ({@link NodeState}). The node trains its partitions for a round ({@code sync.everySteps}
 * batches, or to the end of its share of the epoch), contributes, waits until the sync log
 * closes the round, and continues from the combined state (a streaming node trains {@code
 * sync.overlapSteps} steps on before it waits, a node alone on the topic until the round is
 * back: {@link RoundCycle}). Every (re)assignment rolls it back
 * to the round every node of the new generation agrees on; the owner of partition 0
 * publishes the epoch checkpoints.
 *
 * <p>Each tick does the housekeeping once (heartbeat, the feeds' health, a stop, a new
 * assignment, control commands) and then one bounded piece of the current state's work; no
 * state waits in a loop of its own. The pieces are its collaborators': the training step is
 * {@link StepDriver}'s, a round's hand-in, wait and close {@link RoundCycle}'s.
 */
final class NodeLoop {
    private static final Logger log = LoggerFactory.getLogger(NodeLoop.class);
    private static final long POLL_MS = 200;

    private final RunSpec spec;
    private final TrainerOptions options;
    private final ModelState state;
    private final SyncLog syncLog;
    private final Commands commands;
    private final StopSignal stop;
    private final NodePorts ports;
    private final BatchFeed feed;
    private final SyncChannel sync;
    private final ControlChannel control;
    private final List<TrainingListener> listeners;
    private final Health health;
    private final EpochCheckpoints published;
    private final EvaluationLag lag;
    private final ControlEffects effects;
    private final EpochMeter meter = new EpochMeter();
    private final StepDriver steps;
    /** The assignment's rounds: hand-in, wait, close, overlap. */
    private final RoundCycle rounds;

    private NodeState nodeState = NodeState.STARTING;
    /** Whether this loop has restored some generation's resume point (so it read the sync log up to there). */
    private boolean resumed;

    /** JOINING and AWAITING_MEMBERS: the assignment being joined. */
    private Joining joining;

    NodeLoop(
            RunSpec spec,
            TrainerOptions options,
            Engine engine,
            ModelState state,
            SyncLog syncLog,
            Commands commands,
            Queue<ControlMessage> inbox,
            StopSignal stop,
            NodePorts ports,
            ControlChannel control,
            List<TrainingListener> listeners,
            Health health) {
        this.spec = spec;
        this.options = options;
        this.state = state;
        this.syncLog = syncLog;
        this.commands = commands;
        this.stop = stop;
        this.ports = ports;
        this.feed = ports.feed();
        this.sync = ports.sync();
        this.control = control;
        this.listeners = listeners;
        this.health = health;
        this.published = new EpochCheckpoints(
                spec, state, ports.checkpoints(), commands::settingsOfStep, listeners, ports.sync(), options.nodeId());
        this.lag = new EvaluationLag(spec.evaluation(), syncLog, control::lastEvaluatedEpoch);
        this.effects = new ControlEffects(commands, inbox, control, feed, ports.checkpoints(), listeners);
        this.steps = new StepDriver(engine, state, commands, feed, effects, meter, listeners);
        this.rounds = new RoundCycle(
                spec,
                options,
                state,
                syncLog,
                ports,
                published,
                effects,
                meter,
                commands::paused,
                listeners,
                this::transition);
    }

    NodeState state() {
        return nodeState;
    }

    /** Whether this loop restored some generation's resume point: a truncated sync log met later is a new one. */
    boolean resumed() {
        return resumed;
    }

    TrainerNode.Outcome run() throws InterruptedException {
        steps.restart();
        feed.pauseConsumption(commands.paused());
        transition(NodeState.AWAITING_ASSIGNMENT);
        try {
            return loop();
        } finally {
            published.close(); // the checkpoint still being committed, if any
        }
    }

    private TrainerNode.Outcome loop() throws InterruptedException {
        while (true) {
            housekeeping();
            switch (nodeState) {
                case AWAITING_ASSIGNMENT -> Thread.sleep(20);
                case JOINING -> joinStep(joining.readBack());
                case AWAITING_MEMBERS -> joinStep(joining.awaitMembers());
                case TRAINING -> train();
                case FOLLOWING -> follow();
                case AWAITING_ROUND -> {
                    if (rounds.awaitRound()) {
                        finish();
                    }
                }
                case PAUSED -> awaitResume();
                case AWAITING_EVALUATION -> awaitEvaluation();
                case STOPPING -> {
                    return stopped();
                }
                case FINISHED -> {
                    return TrainerNode.Outcome.FINISHED;
                }
                default -> throw new IllegalStateException("no work for state " + nodeState);
            }
        }
    }

    private void transition(NodeState next) {
        if (!next.canFollow(nodeState)) {
            throw new IllegalStateException("a trainer node cannot go from " + nodeState + " to " + next);
        }
        if (next != nodeState) {
            log.debug("{} -> {}", nodeState, next);
            health.state(next.name().toLowerCase(Locale.ROOT));
        }
        if (next == NodeState.TRAINING) {
            steps.resetIdle();
        }
        if ((nodeState == NodeState.AWAITING_EVALUATION) != (next == NodeState.AWAITING_EVALUATION)) {
            // began waiting; or caught up, or a rebalance or a stop came first
            boolean waiting = next == NodeState.AWAITING_EVALUATION;
            emit(l -> l.onAwaitingEvaluation(waiting));
        }
        nodeState = next;
    }

    /** The same in every state: once per tick. */
    private void housekeeping() {
        if (nodeState.isFinal()) {
            return;
        }
        checkFeeds();
        published.poll();
        feed.heartbeat();
        health.beat();
        if (stop.requested()) {
            transition(NodeState.STOPPING);
            return;
        }
        // a join in progress is finished first: the next reset is taken after it (one join per generation)
        if (nodeState != NodeState.JOINING) {
            BatchFeed.Reset reset = feed.takeReset();
            if (reset != null) {
                join(reset);
                return;
            }
        }
        effects.applyArrived(state.step(), rounds.epochInProgress(), this::snapshot);
    }

    private void checkFeeds() {
        if (feed.failure() instanceof StartupException e) {
            throw e;
        }
        if (feed.failure() != null) {
            throw new IllegalStateException(
                    "the batch feed failed: " + feed.failure().getMessage(), feed.failure());
        }
        if (control.failure() != null) {
            throw new IllegalStateException(
                    "the control feed failed (a STOP would go unseen): "
                            + control.failure().getMessage(),
                    control.failure());
        }
    }

    // ---- JOINING and AWAITING_MEMBERS ----

    private void join(BatchFeed.Reset reset) {
        rounds.unassign();
        joining = Joining.announce(spec, options, syncLog, sync, reset, ports::snapshotPlan);
        transition(NodeState.JOINING);
    }

    private void joinStep(Joining.Step step) {
        switch (step) {
            case PENDING -> {}
            case SUPERSEDED -> transition(NodeState.AWAITING_ASSIGNMENT);
            case AWAITING_MEMBERS -> {
                if (nodeState != NodeState.AWAITING_MEMBERS) {
                    transition(NodeState.AWAITING_MEMBERS);
                }
            }
            case READY -> rollBack();
        }
    }

    /** Restores the round every node of the joined generation resumes from, and starts training (or following) from it. */
    private void rollBack() {
        SyncLog.Resume resume = joining.resume();
        RoundState at = resume.round();
        state.restore(at.state(), at.step());
        resumed = true;
        steps.restart();
        meter.reset();
        BatchFeed.Reset view = joining.reset();
        List<Integer> partitions = joining.partitions();
        rounds.restart(view, partitions, at);
        emit(l -> l.onAssignment(partitions));
        emit(l -> l.onRollback(at.epoch() + 1, at.step()));
        log.info(
                "group generation {}: partitions {}; continuing from round {} (epoch {} {}, step {})",
                view.group().generationId(),
                partitions,
                at.round(),
                at.epochEnd() ? at.epoch() : at.epoch() + 1,
                at.epochEnd() ? "done" : "in progress",
                at.step());
        boolean settled = rounds.takeOver(resume.epochEnds());
        if (RunChecks.finished(spec, at)) {
            if (settled) {
                finish();
            } else {
                // the last epoch has no checkpoint yet: the next generation's rollback publishes it
                transition(NodeState.AWAITING_ASSIGNMENT);
            }
            return;
        }
        feed.start(view.generation(), at.epoch() + 1, at.positions(), at.plan());
        transition(partitions.isEmpty() ? NodeState.FOLLOWING : NodeState.TRAINING);
    }

    // ---- TRAINING ----

    private void train() throws InterruptedException {
        if (commands.paused()) {
            transition(NodeState.PAUSED);
            return;
        }
        if (lag.holds() && !rounds.overlapping()) {
            log.info(lag.waiting());
            transition(NodeState.AWAITING_EVALUATION);
            return;
        }
        rounds.pollAloneOverlap();
        if (rounds.overlapDone()) {
            rounds.awaitNow();
            return;
        }
        FeedItem item = feed.next(POLL_MS, TimeUnit.MILLISECONDS);
        if (item instanceof FeedItem.Samples s) {
            steps.train(s);
            rounds.stepped();
        } else if (item instanceof FeedItem.Rejected r) {
            rounds.rejected(r);
        } else if (item instanceof FeedItem.RoundEnd end) {
            rounds.ended(end);
        }
    }

    // ---- AWAITING_EVALUATION ----

    private void awaitEvaluation() throws InterruptedException {
        if (!lag.holds()) {
            log.info(lag.caughtUp());
            transition(NodeState.TRAINING);
            return;
        }
        Thread.sleep(20);
    }

    // ---- FOLLOWING and PAUSED ----

    /** More nodes than partitions: follow the rounds, take over when a rebalance gives this one partitions. */
    private void follow() {
        if (commands.paused()) {
            transition(NodeState.PAUSED);
            return;
        }
        sync.poll(Duration.ofMillis(POLL_MS));
        if (RunChecks.finished(spec, syncLog.lastClosed())) {
            finish();
        }
    }

    private void awaitResume() throws InterruptedException {
        rounds.pollAloneOverlap(); // a lone node's round that ends an epoch: its checkpoint is not held by the PAUSE
        if (!commands.paused()) {
            transition(rounds.partitions().isEmpty() ? NodeState.FOLLOWING : NodeState.TRAINING);
            return;
        }
        Thread.sleep(20);
    }

    /** The closed rounds complete the run, and its last checkpoint is published: nothing is left for this node. */
    private void finish() {
        log.info("run {}: all {} epochs trained", spec.run(), spec.maxEpochs());
        transition(NodeState.FINISHED);
    }

    // ---- STOPPING ----

    private TrainerNode.Outcome stopped() {
        ControlMessage.Stop command = stop.command();
        RoundState last = syncLog.lastClosed();
        if (command != null) {
            log.info(
                    "stopped by {} ({}) at step {}; round {} (epoch {}) is the last the nodes agreed on{}",
                    escape(command.source()),
                    escape(command.reason()),
                    state.step(),
                    last.round(),
                    last.epoch(),
                    command.best() == null
                            ? ""
                            : "; the run's best checkpoint is "
                                    + escape(command.best().checkpointId()) + " (epoch "
                                    + command.best().epoch() + ")");
            emit(l -> l.onCommand("stop", true));
            control.acknowledge(command.id(), state.step(), ControlMessage.Ack.APPLIED);
        } else {
            log.info(
                    "stop requested: leaving at a step boundary; round {} (epoch {}) is the last the nodes agreed on",
                    last.round(),
                    last.epoch());
            return TrainerNode.Outcome.INTERRUPTED;
        }
        return TrainerNode.Outcome.STOPPED;
    }

    // ---- checkpoints ----

    /** A CHECKPOINT command. @return the acknowledgement's outcome */
    private String snapshot(int epoch) {
        if (!rounds.ownsPartitionZero()) {
            return ControlMessage.Ack.APPLIED + ": the owner of partition 0 publishes the snapshot";
        }
        return published.snapshot(epoch, rounds.roundInProgress(), meter.metrics(spec.model(), 0, 0));
    }

    private void emit(Consumer<TrainingListener> event) {
        listeners.forEach(event);
    }
}
