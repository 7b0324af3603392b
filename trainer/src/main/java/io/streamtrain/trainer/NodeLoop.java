package io.streamtrain.trainer;

import ai.djl.engine.Engine;
import io.streamtrain.core.checkpoint.CheckpointManifest;
import io.streamtrain.core.checkpoint.CheckpointManifest.OffsetRange;
import io.streamtrain.core.control.ControlMessage;
import io.streamtrain.core.control.Messages;
import io.streamtrain.core.kafka.StartupException;
import io.streamtrain.core.metrics.Health;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.trainer.feed.BatchFeed;
import io.streamtrain.trainer.feed.FeedItem;
import io.streamtrain.trainer.model.ModelState;
import io.streamtrain.trainer.model.StepReport;
import io.streamtrain.trainer.model.StepRunner;
import io.streamtrain.trainer.sync.RoundState;
import io.streamtrain.trainer.sync.RoundSums;
import io.streamtrain.trainer.sync.SyncChannel;
import io.streamtrain.trainer.sync.SyncLog;
import io.streamtrain.trainer.sync.SyncMessage;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Queue;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import static io.streamtrain.core.logging.Logs.escape;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One node's part in the run, from its first assignment to its exit, as a state machine
 * ({@link NodeState}). The node trains its partitions for a round ({@code sync.everySteps}
 * batches, or to the end of its share of the epoch), contributes, waits until the sync log
 * closes the round, and continues from the combined state. Every (re)assignment rolls it back
 * to the round every node of the new generation agrees on; the owner of partition 0
 * publishes the epoch checkpoints.
 *
 * <p>Each tick does the housekeeping once (heartbeat, the feeds' health, a stop, a new
 * assignment, control commands) and then one bounded piece of the current state's work; no
 * state waits in a loop of its own.
 */
final class NodeLoop {
    private static final Logger log = LoggerFactory.getLogger(NodeLoop.class);
    private static final long POLL_MS = 200;

    private final RunSpec spec;
    private final TrainerOptions options;
    private final Engine engine;
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
    private final List<FeedItem.Rejected> deadLetters = new ArrayList<>();

    private NodeState nodeState = NodeState.STARTING;
    private RunSpec settings;
    private StepRunner runner;
    /** The assignment being trained, or null before the first (or after a superseded) one. */
    private BatchFeed.Reset view;
    private List<Integer> partitions = List.of();
    /** The round this node contributes to next. */
    private long round;
    private long epochStarted = System.nanoTime();
    /** Since the last step (or round, or rollback, or pause): the time the next step waited for data. */
    private long idleSince = System.nanoTime();
    /** How long this node's last round took to close after it handed in its contribution: reported with the next. */
    private double lastRoundWaitSeconds;
    /** Whether this loop has restored some generation's resume point (so it read the sync log up to there). */
    private boolean resumed;

    /** JOINING and AWAITING_MEMBERS: the assignment being joined. */
    private Joining joining;

    // AWAITING_ROUND: the share handed in, and the wait's clock
    private FeedItem.RoundEnd handedIn;
    private RoundWait roundWait;

    /** What this node hands in, how it takes a round back, and its overlap (sync.mode, sync.overlapSteps). */
    private final RoundShares shares;
    /** This node's next share, trained to its end before the round it overlaps was applied. */
    private FeedItem.RoundEnd deferred;

    NodeLoop(RunSpec spec, TrainerOptions options, Engine engine, ModelState state, SyncLog syncLog, Commands commands,
            Queue<ControlMessage> inbox, StopSignal stop, NodePorts ports, ControlChannel control, List<TrainingListener> listeners,
            Health health) {
        this.spec = spec;
        this.options = options;
        this.engine = engine;
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
        this.published = new EpochCheckpoints(spec, state, ports.checkpoints(), commands::current, listeners);
        this.shares = new RoundShares(spec, state);
        this.lag = new EvaluationLag(spec.evaluation(), syncLog, control::lastEvaluatedEpoch);
        this.effects = new ControlEffects(commands, inbox, control, feed, ports.checkpoints(), listeners);
    }

    NodeState state() {
        return nodeState;
    }

    /** Whether this loop restored some generation's resume point: a truncated sync log met later is a new one. */
    boolean resumed() {
        return resumed;
    }

    TrainerNode.Outcome run() throws InterruptedException {
        settings = commands.settingsAt(state.step());
        runner = new StepRunner(state, engine, settings);
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
                case AWAITING_ROUND -> awaitRound();
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
            idleSince = System.nanoTime(); // waiting for a round, a member or a RESUME is not waiting for data
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
        effects.applyArrived(state.step(), syncLog.lastClosed().epoch() + 1, this::snapshot);
    }

    private void checkFeeds() {
        if (feed.failure() instanceof StartupException e) {
            throw e;
        }
        if (feed.failure() != null) {
            throw new IllegalStateException("the batch feed failed: " + feed.failure().getMessage(), feed.failure());
        }
        if (control.failure() != null) {
            throw new IllegalStateException("the control feed failed (a STOP would go unseen): " + control.failure().getMessage(),
                    control.failure());
        }
    }

    // ---- JOINING and AWAITING_MEMBERS ----

    private void join(BatchFeed.Reset reset) {
        view = null;
        partitions = List.of();
        joining = Joining.announce(spec, options, syncLog, sync, reset, ports::snapshotPlan);
        transition(NodeState.JOINING);
    }

    private void joinStep(Joining.Step step) {
        switch (step) {
            case PENDING -> { }
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
        settings = commands.settingsAt(state.step());
        runner = new StepRunner(state, engine, settings);
        meter.reset();
        deadLetters.clear();
        shares.reset();
        deferred = null;
        view = joining.reset();
        partitions = joining.partitions();
        round = at.round() + 1;
        emit(l -> l.onAssignment(partitions));
        emit(l -> l.onRollback(at.epoch() + 1, at.step()));
        log.info("group generation {}: partitions {}; continuing from round {} (epoch {} {}, step {})", view.group().generationId(),
                partitions, at.round(), at.epochEnd() ? at.epoch() : at.epoch() + 1, at.epochEnd() ? "done" : "in progress", at.step());
        boolean settled = published.takeOver(ownsPartitionZero(), resume.lastEpochEnd(), view.group(), epochStarted);
        // after a republish, which reports the epoch's time from its start (kept across a failed commit)
        epochStarted = System.nanoTime();
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
        if (lag.holds() && !shares.overlapping()) {
            log.info(lag.waiting());
            transition(NodeState.AWAITING_EVALUATION);
            return;
        }
        if (shares.overlapDone()) {
            awaitRoundNow();
            return;
        }
        FeedItem item = feed.next(POLL_MS, TimeUnit.MILLISECONDS);
        if (item instanceof FeedItem.Samples s) {
            RunSpec now = commands.settingsAt(state.step());
            if (now != settings) {
                settings = now;
                runner = runner.withSettings(settings);
            }
            long waited = System.nanoTime() - idleSince;
            meter.addDataWait(waited);
            emit(l -> l.onDataWait(waited));
            StepReport report;
            try {
                report = runner.train(s.batch());
            } catch (StepRunner.NonFiniteTrainingException e) {
                throw effects.failedBy(e);
            }
            feed.recycle(s.batch());
            idleSince = System.nanoTime();
            meter.add(report);
            shares.stepped();
            emit(l -> l.onStep(s.epoch(), report));
        } else if (item instanceof FeedItem.Rejected r) {
            if (RunChecks.deadLetterDue(r, syncLog, spec)) {
                deadLetters.add(r);
            }
        } else if (item instanceof FeedItem.RoundEnd end) {
            if (shares.overlapping()) {
                // this share ended before the overlap did (the node's partitions reached the epoch's end): apply first
                deferred = end;
                awaitRoundNow();
            } else {
                handIn(end);
            }
        }
    }

    /** This node's share of a round is trained: write its dead letters, then contribute. */
    private void handIn(FeedItem.RoundEnd end) {
        ports.deadLetters().write(deadLetters);
        deadLetters.forEach(r -> emit(l -> l.onDeadLetter(r.reason())));
        deadLetters.clear();
        byte[] payload = shares.handIn(end.last(), meter.samples(), alone(), syncLog.lastClosed().state(), round,
                partitions.stream().mapToInt(Integer::intValue).min().orElse(-1));
        contribute(end, end.records(), meter.steps(), end.ranges(), meter.sums(end.records(), end.rejected(), end.recordsChecksum()),
                payload);
        if (shares.overlapping()) {
            meter.reset(); // the steps it trains on belong to the next round
        } else {
            awaitRoundNow();
        }
    }

    /** Whether this node holds every partition of the topic. */
    private boolean alone() {
        return syncLog.lastClosed().plan() != null && partitions.size() == syncLog.lastClosed().plan().ranges().size();
    }

    private void contribute(FeedItem.RoundEnd end, long records, long steps, List<OffsetRange> ranges, RoundSums sums, byte[] payload) {
        payload = effects.withRollback(payload, ownsPartitionZero(), state.step(), round);
        SyncMessage.Contribution c = new SyncMessage.Contribution(Messages.newId(), view.group().generationId(), options.nodeId(),
                round, end.epoch(), steps, ranges, sums.withSync(0, lastRoundWaitSeconds), null);
        long bytes = sync.contribute(c, payload);
        emit(l -> l.onContributed(records, bytes));
        handedIn = end;
    }

    /** Waits for the round handed in, from now: the clock of a round wait counts only the time this node does nothing else. */
    private void awaitRoundNow() {
        roundWait = new RoundWait(System.nanoTime(), Duration.ofSeconds(spec.sync().timeoutSeconds()), options.brokerWait(),
                !spec.data().continuous());
        transition(NodeState.AWAITING_ROUND);
    }

    // ---- AWAITING_ROUND ----

    private void awaitRound() {
        if (roundClosed()) {
            return;
        }
        sync.poll(Duration.ofMillis(50));
        if (roundClosed()) {
            return;
        }
        switch (roundWait.after(System.nanoTime(), commands.paused())) {
            case GIVE_UP -> throw new IllegalStateException("round " + round + " did not close within " + roundWait.giveUpSeconds()
                    + " s; still missing partitions (partition=node) " + escape(String.valueOf(syncLog.missing())) + ". A restart resumes from the last closed round");
            case STRAGGLER -> log.warn("round {} has waited {} s for partitions (partition=node) {}: {}. A node that died leaves"
                    + " the group within its session timeout, one whose training hangs within sync.timeoutSeconds; its partitions then go"
                    + " to the others", round, roundWait.waitedNanos(System.nanoTime()) / 1_000_000_000L, escape(String.valueOf(syncLog.missing())),
                    spec.data().continuous() ? "their node waits for records to be produced on them (its log says `window N waits for"
                            + " data`), or is a straggler" : "a straggler");
            case WAIT -> { }
        }
    }

    /** @return whether the round closed (and the node moved on from it) */
    private boolean roundClosed() {
        if (syncLog.lastClosed().round() < round) {
            return false;
        }
        long waited = roundWait.waitedNanos(System.nanoTime());
        lastRoundWaitSeconds = waited / 1e9;
        emit(l -> l.onRoundClosed(lastRoundWaitSeconds));
        log.debug("round {} closed after {} ms", round, waited / 1_000_000);
        RoundState closed = syncLog.lastClosed();
        effects.noteRollback(closed, ownsPartitionZero());
        if (afterClose(closed)) {
            finish();
        } else if (deferred != null) {
            FeedItem.RoundEnd next = deferred;
            deferred = null;
            transition(NodeState.TRAINING);
            handIn(next);
        } else if (!handedIn.last() || closed.epochEnd()) {
            transition(NodeState.TRAINING);
        } else {
            // this node's partitions are at the end of the epoch: it takes part in the epoch's remaining rounds with nothing
            // (a streaming node with its optimizer slots: the epoch's last round combines every node's)
            List<OffsetRange> nothing = handedIn.ranges().stream()
                    .map(r -> new OffsetRange(r.topic(), r.partition(), r.to(), r.to())).toList();
            contribute(handedIn, 0, 0, nothing, RoundSums.ZERO, shares.nothing(alone()));
            awaitRoundNow();
        }
        return true;
    }

    /** Continues from a closed round's state. @return true when it completed the run */
    private boolean afterClose(RoundState closed) {
        if (!shares.overlapping()) {
            meter.reset(); // (an overlapping node's meter holds the steps it trained since handing in: they are the next round's)
        }
        shares.apply(closed, alone());
        round = closed.round() + 1;
        if (!closed.epochEnd()) {
            return false;
        }
        RunChecks.requireSomethingTrained(spec, closed, ports.deadLetters().topic());
        boolean last = RunChecks.finished(spec, closed);
        if (ownsPartitionZero() && !last) {
            // the next epoch trains while this one's checkpoint commits; should the group move on meanwhile, the rollback
            // that follows publishes it (as below)
            published.publishInBackground(closed, view.group(), epochStarted);
            epochStarted = System.nanoTime();
            return false;
        }
        boolean settled = !ownsPartitionZero() || published.publish(closed, view.group(), epochStarted);
        if (!settled) {
            // the group moved on while the checkpoint was committed (a node that finished left it): the
            // owner of partition 0 in the next generation publishes it when it rolls back to this round. This
            // node must wait for that rollback even after the last epoch: if the others have all finished,
            // it is that owner, and exiting now would end the run without its last checkpoint.
            return false;
        }
        epochStarted = System.nanoTime();
        return last;
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
        if (!commands.paused()) {
            transition(partitions.isEmpty() ? NodeState.FOLLOWING : NodeState.TRAINING);
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
            log.info("stopped by {} ({}) at step {}; round {} (epoch {}) is the last the nodes agreed on{}", escape(command.source()),
                    escape(command.reason()), state.step(), last.round(), last.epoch(), command.best() == null ? ""
                            : "; the run's best checkpoint is " + escape(command.best().checkpointId()) + " (epoch " + command.best().epoch()
                            + ")");
            emit(l -> l.onCommand("stop", true));
            control.acknowledge(command.id(), state.step(), ControlMessage.Ack.APPLIED);
        } else {
            log.info("stop requested: leaving at a step boundary; round {} (epoch {}) is the last the nodes agreed on", last.round(),
                    last.epoch());
            return TrainerNode.Outcome.INTERRUPTED;
        }
        return TrainerNode.Outcome.STOPPED;
    }

    // ---- checkpoints ----

    private boolean ownsPartitionZero() {
        return partitions.contains(0);
    }

    /** A CHECKPOINT command. @return the acknowledgement's outcome */
    private String snapshot(int epoch) {
        if (!ownsPartitionZero()) {
            return ControlMessage.Ack.APPLIED + ": the owner of partition 0 publishes the snapshot";
        }
        return published.snapshot(epoch, round, meter.metrics(spec.model(), 0, 0));
    }

    private void emit(Consumer<TrainingListener> event) {
        listeners.forEach(event);
    }
}
