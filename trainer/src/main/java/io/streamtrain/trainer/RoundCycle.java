package io.streamtrain.trainer;

import static io.streamtrain.core.logging.Logs.escape;

import io.streamtrain.core.checkpoint.CheckpointManifest.OffsetRange;
import io.streamtrain.core.protocol.Messages;
import io.streamtrain.core.protocol.RoundSums;
import io.streamtrain.core.protocol.SyncMessage;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.trainer.feed.BatchFeed;
import io.streamtrain.trainer.feed.FeedItem;
import io.streamtrain.trainer.model.ModelState;
import io.streamtrain.trainer.sync.RoundState;
import io.streamtrain.trainer.sync.SyncChannel;
import io.streamtrain.trainer.sync.SyncLog;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * This node's side of the sync rounds of the assignment it trains: a share's dead letters are
 * written before it is handed in, the wait for the sync log to close the round runs on a clock
 * that a PAUSE stops, and the closed round is taken back (the epoch's checkpoint published
 * when this node owns partition 0). The overlaps are kept here too, a streaming node's
 * ({@code sync.overlapSteps}) and a lone node's (it trains on until its round comes back): a
 * share it finishes before the round it overlaps is applied waits until then.
 *
 * <p>Apart from {@link NodeLoop} so that the loop only dispatches on its state while the order
 * of a round's events (dead letters, contribution, wait, close, the next share) stays in one
 * place. The loop owns the state: this class moves it only through the function it is given.
 */
final class RoundCycle {
    // the node's log lines keep the logger name its operators' filters know
    private static final Logger log = LoggerFactory.getLogger(NodeLoop.class);

    private final RunSpec spec;
    private final TrainerOptions options;
    private final ModelState state;
    private final SyncLog syncLog;
    private final SyncChannel sync;
    private final DeadLetterWriter deadLetterWriter;
    private final EpochCheckpoints published;
    private final ControlEffects effects;
    private final EpochMeter meter;
    private final BooleanSupplier paused;
    private final List<TrainingListener> listeners;
    private final Consumer<NodeState> moveTo;
    /** What this node hands in, how it takes a round back, and its overlap (sync.mode, sync.overlapSteps). */
    private final RoundShares shares;

    private final List<FeedItem.Rejected> deadLetters = new ArrayList<>();

    /** The assignment being trained, or null before the first (or after a superseded) one. */
    private BatchFeed.Reset view;

    private List<Integer> partitions = List.of();
    /** The round this node contributes to next. */
    private long round;

    private long epochStarted = System.nanoTime();
    /** When this node last handed in: where an epoch a lone node trained on past ended. */
    private long handedInNanos;
    /** How long this node's last round took to close after it handed in its contribution: reported with the next. */
    private double lastRoundWaitSeconds;
    // AWAITING_ROUND: the share handed in, and the wait's clock
    private FeedItem.RoundEnd handedIn;
    private RoundWait roundWait;
    /** This node's next share, trained to its end before the round it overlaps was applied. */
    private FeedItem.RoundEnd deferred;

    /**
     * @param paused whether the run is paused now: a paused wait is no straggler's
     * @param moveTo moves the node's loop to the state given
     */
    RoundCycle(
            RunSpec spec,
            TrainerOptions options,
            ModelState state,
            SyncLog syncLog,
            NodePorts ports,
            EpochCheckpoints published,
            ControlEffects effects,
            EpochMeter meter,
            BooleanSupplier paused,
            List<TrainingListener> listeners,
            Consumer<NodeState> moveTo) {
        this.spec = spec;
        this.options = options;
        this.state = state;
        this.syncLog = syncLog;
        this.sync = ports.sync();
        this.deadLetterWriter = ports.deadLetters();
        this.published = published;
        this.effects = effects;
        this.meter = meter;
        this.paused = paused;
        this.listeners = listeners;
        this.moveTo = moveTo;
        this.shares = new RoundShares(spec, state);
    }

    // ---- the assignment ----

    /** A new assignment is being joined: until its rollback this node holds no partitions. */
    void unassign() {
        view = null;
        partitions = List.of();
    }

    /** The joined assignment's rollback to {@code at}: its rounds follow that one, with nothing handed in or deferred. */
    void restart(BatchFeed.Reset assignment, List<Integer> assigned, RoundState at) {
        deadLetters.clear();
        shares.reset();
        deferred = null;
        view = assignment;
        partitions = assigned;
        round = at.round() + 1;
    }

    /** After a rollback, who publishes (and a missing last checkpoint first). @return {@link EpochCheckpoints#takeOver}'s answer */
    boolean takeOver(List<RoundState> epochEnds) {
        boolean settled = published.takeOver(ownsPartitionZero(), epochEnds, view.group(), epochStarted);
        // after a republish, which reports the epoch's time from its start (kept across a failed commit)
        epochStarted = System.nanoTime();
        return settled;
    }

    List<Integer> partitions() {
        return partitions;
    }

    boolean ownsPartitionZero() {
        return partitions.contains(0);
    }

    /** The round this node contributes to next. */
    long round() {
        return round;
    }

    // ---- TRAINING ----

    /** Whether the node trains on past a share it handed in, before the round is applied. */
    boolean overlapping() {
        return shares.overlapping();
    }

    /** Whether an overlap has trained its {@code sync.overlapSteps}. */
    boolean overlapDone() {
        return shares.overlapDone();
    }

    void stepped() {
        shares.stepped();
    }

    /** A record the feed could not decode: it goes to the dead letters with this share, if it is due there. */
    void rejected(FeedItem.Rejected r) {
        if (RunChecks.deadLetterDue(r, syncLog, spec)) {
            deadLetters.add(r);
        }
    }

    /** The feed ended this node's share of a round. */
    void ended(FeedItem.RoundEnd end) {
        if (shares.overlapping()) {
            // this share ended before the overlap did (the node's partitions reached the epoch's end): apply first
            deferred = end;
            awaitNow();
        } else {
            handIn(end);
        }
    }

    /** This node's share of a round is trained: write its dead letters, then contribute. */
    private void handIn(FeedItem.RoundEnd end) {
        deadLetterWriter.write(deadLetters);
        deadLetters.forEach(r -> emit(l -> l.onDeadLetter(r.reason())));
        deadLetters.clear();
        byte[] payload = shares.handIn(
                end.last(),
                meter.samples(),
                alone(),
                syncLog.lastClosed().state(),
                round,
                partitions.stream().mapToInt(Integer::intValue).min().orElse(-1));
        long stepsFromClosed = state.step() - syncLog.lastClosed().step();
        boolean replaced = contribute(
                        end,
                        end.records(),
                        meter.steps(),
                        end.ranges(),
                        meter.sums(end.records(), end.rejected(), end.recordsChecksum()),
                        payload)
                != payload;
        handedInNanos = System.nanoTime();
        if (!replaced && stepsFromClosed == meter.steps() && mayTrainOnAlone(end)) {
            shares.trainOnAlone(state.step(), syncLog.lastClosed().state(), meter.samples());
        }
        if (shares.overlapping()) {
            meter.reset(); // the steps it trains on belong to the next round
        } else {
            awaitNow();
        }
    }

    /**
     * Whether this node, alone on the topic, may train on past the share it hands in until the
     * round comes back, instead of waiting for it (if the round will be that share: {@link
     * RoundShares#trainOnAlone}; an outer Nesterov step never leaves it so, and is not asked).
     * Not past the round that ends the run (nothing is left to train), nor past an epoch's end
     * when {@code evaluation.maxLag} could hold the next epoch (the hold is judged from the
     * closed rounds).
     */
    private boolean mayTrainOnAlone(FeedItem.RoundEnd end) {
        return alone()
                && !spec.sync().nesterov()
                && !(end.last()
                        && (end.epoch() >= spec.maxEpochs() || spec.evaluation().holdsTrainers()));
    }

    /** Whether this node holds every partition of the topic. */
    private boolean alone() {
        return syncLog.lastClosed().plan() != null
                && partitions.size() == syncLog.lastClosed().plan().ranges().size();
    }

    /** @return the payload handed in: {@code payload}, or a ROLLBACK's state in its place */
    private byte[] contribute(
            FeedItem.RoundEnd end, long records, long steps, List<OffsetRange> ranges, RoundSums sums, byte[] payload) {
        payload = effects.withRollback(payload, ownsPartitionZero(), state.step(), round);
        SyncMessage.Contribution c = new SyncMessage.Contribution(
                Messages.newId(),
                view.group().generationId(),
                options.nodeId(),
                round,
                end.epoch(),
                steps,
                ranges,
                sums.withSync(0, lastRoundWaitSeconds),
                null,
                end.ended());
        long bytes = sync.contribute(c, payload);
        emit(l -> l.onContributed(records, bytes));
        handedIn = end;
        return payload;
    }

    /** Waits for the round handed in, from now: the clock of a round wait counts only the time this node does nothing else. */
    void awaitNow() {
        roundWait = new RoundWait(
                System.nanoTime(),
                Duration.ofSeconds(spec.sync().timeoutSeconds()),
                options.brokerWait(),
                !spec.data().continuous());
        moveTo.accept(NodeState.AWAITING_ROUND);
    }

    /**
     * While a lone node trains on past its round ({@link RoundShares#trainOnAlone}): reads what
     * the sync log has, without waiting, and takes the round back once it closed. Called at
     * every tick of the states the overlap can be in (training, paused).
     */
    void pollAloneOverlap() {
        if (!shares.aloneOverlapping()) {
            return;
        }
        sync.poll(Duration.ZERO);
        if (!roundClosed()) {
            return;
        }
        RoundState closed = syncLog.lastClosed();
        if (handedIn.last() && !closed.epochEnd()) {
            throw new IllegalStateException("round " + closed.round() + " closed without ending epoch "
                    + handedIn.epoch() + ", which this node, alone on the topic, trained to its end");
        }
        if (takeBack(closed, 0)) { // the node did not wait for it
            throw new IllegalStateException("round " + closed.round() + " completed the run while this node, alone"
                    + " on the topic, trained on past it: it waits for the round that ends the run");
        }
    }

    /** The round the steps this node trains now belong to: past a round it overlaps, the next one. */
    long roundInProgress() {
        return shares.overlapping() ? round + 1 : round;
    }

    /** The epoch this node trains now: past a lone node's round that ends an epoch, the next one. */
    int epochInProgress() {
        return shares.aloneOverlapping() && handedIn.last()
                ? handedIn.epoch() + 1
                : syncLog.lastClosed().epoch() + 1;
    }

    // ---- AWAITING_ROUND ----

    /** One tick of the wait for the round handed in. @return true when the closed rounds complete the run */
    boolean awaitRound() {
        if (roundClosed()) {
            return closed();
        }
        sync.poll(Duration.ofMillis(50));
        if (roundClosed()) {
            return closed();
        }
        switch (roundWait.after(System.nanoTime(), paused.getAsBoolean())) {
            case GIVE_UP ->
                throw new IllegalStateException("round " + round + " did not close within " + roundWait.giveUpSeconds()
                        + " s; still missing partitions (partition=node) " + escape(String.valueOf(syncLog.missing()))
                        + ". A restart resumes from the last closed round");
            case STRAGGLER ->
                log.warn(
                        "round {} has waited {} s for partitions (partition=node) {}: {}. A node that died leaves"
                                + " the group within its session timeout, one whose training hangs within sync.timeoutSeconds; its partitions then go"
                                + " to the others",
                        round,
                        roundWait.waitedNanos(System.nanoTime()) / 1_000_000_000L,
                        escape(String.valueOf(syncLog.missing())),
                        spec.data().continuous()
                                ? "their node waits for records to be produced on them (its log says `window N waits for"
                                        + " data`), or is a straggler"
                                : "a straggler");
            case WAIT -> {}
        }
        return false;
    }

    private boolean roundClosed() {
        return syncLog.lastClosed().round() >= round;
    }

    /** The round closed: the node moves on from it. @return true when it completed the run */
    private boolean closed() {
        long waited = roundWait.waitedNanos(System.nanoTime());
        log.debug("round {} closed after {} ms", round, waited / 1_000_000);
        RoundState closed = syncLog.lastClosed();
        if (takeBack(closed, waited / 1e9)) {
            return true;
        }
        if (deferred != null) {
            FeedItem.RoundEnd next = deferred;
            deferred = null;
            moveTo.accept(NodeState.TRAINING);
            handIn(next);
        } else if (!handedIn.last() || closed.epochEnd()) {
            moveTo.accept(NodeState.TRAINING);
        } else {
            // this node's partitions are at the end of the epoch: it takes part in the epoch's remaining
            // rounds with nothing (a streaming node with its optimizer slots: the epoch's last round
            // combines every node's)
            List<OffsetRange> nothing = handedIn.ranges().stream()
                    .map(r -> new OffsetRange(r.topic(), r.partition(), r.to(), r.to()))
                    .toList();
            contribute(handedIn, 0, 0, nothing, RoundSums.ZERO, shares.nothing(alone()));
            awaitNow();
        }
        return false;
    }

    /**
     * The round that just closed ({@code syncLog.lastClosed()}), however long this node waited for it: reported, a ROLLBACK it
     * carried noted, and its state taken back ({@link #afterClose}).
     *
     * @return true when it completed the run
     */
    private boolean takeBack(RoundState closed, double waitedSeconds) {
        lastRoundWaitSeconds = waitedSeconds;
        emit(l -> l.onRoundClosed(waitedSeconds));
        effects.noteRollback(closed, ownsPartitionZero());
        return afterClose(closed);
    }

    /** Continues from a closed round's state. @return true when it completed the run */
    private boolean afterClose(RoundState closed) {
        if (!shares.overlapping()) {
            meter.reset(); // (an overlapping node's meter holds the steps it trained since handing in: they are the
            // next round's)
        }
        // a lone node that trained on past its round began the next epoch when it handed in
        long epochEnded = shares.aloneOverlapping() ? handedInNanos : System.nanoTime();
        shares.apply(closed, alone(), closed.generation() == view.group().generationId());
        round = closed.round() + 1;
        if (!closed.epochEnd()) {
            return false;
        }
        RunChecks.requireSomethingTrained(spec, closed, deadLetterWriter.topic());
        boolean last = RunChecks.finished(spec, closed);
        if (ownsPartitionZero() && !last) {
            // the next epoch trains while this one's checkpoint commits; should the group move on
            // meanwhile, the rollback that follows publishes it (as below)
            published.publishInBackground(closed, view.group(), epochEnded - epochStarted);
            epochStarted = epochEnded;
            return false;
        }
        boolean settled =
                !ownsPartitionZero() || published.publish(closed, view.group(), System.nanoTime() - epochStarted);
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

    private void emit(Consumer<TrainingListener> event) {
        listeners.forEach(event);
    }
}
