package io.streamtrain.trainer;

import io.streamtrain.core.codec.SafeTensors;
import io.streamtrain.core.codec.SafeTensorsException;
import io.streamtrain.core.codec.Tensor;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.core.spec.SyncSpec;
import io.streamtrain.trainer.model.ModelState;
import io.streamtrain.trainer.sync.Combiner;
import io.streamtrain.trainer.sync.OuterGradients;
import io.streamtrain.trainer.sync.RoundState;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * What a node hands in for its share of a round, and how it takes the closed round back, in
 * each {@code sync.mode}; and a streaming node's overlap: the steps it trains after handing
 * in, before it applies the round.
 *
 * <ul>
 *   <li>Strict: the node's whole state (none when it trained nothing); the closed round
 *       replaces it.
 *   <li>Streaming, the node alone on the topic: its whole state, with its optimizer slots
 *       (it combines with nobody, so its rounds stay exact resume points); the closed round
 *       replaces it, as in strict mode.
 *   <li>Streaming, any other node: its parameters' outer gradients (when it trained), and its
 *       optimizer slots once its partitions reached the epoch's end. A mid-epoch round gives
 *       it the parameters only — its inner optimizer state stays its own — with the steps it
 *       trained since handing in kept on top (or, with {@code sync.mixing} α, its parameters
 *       mixed with the round's); the epoch's last round replaces everything.
 * </ul>
 *
 * <p>A node alone on the topic may train on past its share too ({@link #trainOnAlone}), for
 * as long as its round takes to come back: the round is that share, bit for bit, so the
 * state it trains on from is the round's already. When the round closes it is compared with
 * the share; a round that is anything else cannot be taken back once steps were trained on
 * top of it, and the node fails (a restart resumes from the sync log).
 */
final class RoundShares {
    private final SyncSpec sync;
    /** What the sync log makes of a round's shares: asked before a lone node trains on past its round. */
    private final Combiner combiner;

    private final long seed;
    private final ModelState state;
    /** The parameters as they were when the node handed in, while it overlaps; else null. */
    private Map<String, float[]> atHandIn;

    private int stepsSinceHandIn;

    /** The step a lone node trains on from, past the whole state it handed in ({@link #trainOnAlone}); else -1. */
    private long aloneFrom = -1;

    /** The payload handed in when it was the node's whole state as it stands (see {@link #apply}); else null. */
    private byte[] wholeState;

    RoundShares(RunSpec spec, ModelState state) {
        this.sync = spec.sync();
        this.combiner = new Combiner(spec.sync());
        this.seed = spec.init().seed();
        this.state = state;
    }

    /**
     * The payload of this node's share (null for none), and the start of its overlap when it
     * trains on before applying the round.
     *
     * @param alone the node holds every partition of the topic
     * @param base the state the round started from
     * @param firstPartition the lowest partition the node holds (its place in the round)
     */
    byte[] handIn(
            boolean last, long samples, boolean alone, SafeTensors.Document base, long round, int firstPartition) {
        wholeState = null;
        if (!sync.streaming() || alone) {
            if (samples == 0) {
                return null;
            }
            wholeState =
                    state.toPayload(sync.streaming() ? Map.of(Combiner.SLOTS_KEY, Combiner.SLOTS_INCLUDED) : Map.of());
            return wholeState;
        }
        Map<String, float[]> local = state.parameterValues();
        List<Tensor> tensors = new ArrayList<>();
        if (samples > 0) {
            local.forEach((name, values) -> {
                Tensor b = base.tensor(name);
                tensors.addAll(OuterGradients.encode(
                        name,
                        b.shape(),
                        b.toFloats(),
                        values,
                        sync.encoding(),
                        OuterGradients.seed(seed, round, firstPartition, name)));
            });
        }
        if (!last && sync.overlapSteps() > 0) {
            // train on for sync.overlapSteps steps (a count, not a time:
            // the run stays a function of its data and membership)
            atHandIn = local;
            stepsSinceHandIn = 0;
        }
        return finish(tensors, last);
    }

    /** A share with nothing trained, of a node whose partitions are at the epoch's end: its slots, when streaming. */
    byte[] nothing(boolean alone) {
        return sync.streaming() && !alone ? finish(new ArrayList<>(), true) : null;
    }

    private byte[] finish(List<Tensor> tensors, boolean withSlots) {
        if (withSlots) {
            tensors.addAll(OuterGradients.slots(state.optimizerTensors(), sync.encoding()));
            return SafeTensors.write(tensors, Map.of(Combiner.SLOTS_KEY, Combiner.SLOTS_INCLUDED));
        }
        return tensors.isEmpty() ? null : SafeTensors.write(tensors, Map.of());
    }

    /**
     * A node alone on the topic trains on past the share it just handed in, its whole state at
     * {@code step}, until the round comes back: when the round that share closes alone is the
     * share itself, bit for bit. That is asked of the {@link Combiner} now, with the round's
     * base: a base with tensors the share does not have (a checkpoint's outer momentum, resumed
     * with {@code outer: average}; anchors the model made for an {@code l2sp} the checkpoint
     * was trained without) makes the round another state. The caller knows that no ROLLBACK
     * replaced the share.
     *
     * @param base the state the round started from
     * @param samples the samples the share trained
     * @return false when the node waits for the round instead: it handed in no whole state (it
     *     trained nothing), or the round would be another state
     */
    boolean trainOnAlone(long step, SafeTensors.Document base, long samples) {
        if (wholeState == null || overlapping() || !roundIsShare(base, samples)) {
            return false;
        }
        aloneFrom = step;
        stepsSinceHandIn = 0;
        return true;
    }

    private boolean roundIsShare(SafeTensors.Document base, long samples) {
        try {
            SafeTensors.Document share = SafeTensors.read(wholeState);
            return sameState(wholeState, combiner.combine(base, List.of(new Combiner.Weighted(share, samples))));
        } catch (SafeTensorsException | IllegalArgumentException e) {
            return false; // the round closes on what the sync log makes of it; the node waits to see
        }
    }

    /** Whether the node trains on after handing in, the round not applied yet. */
    boolean overlapping() {
        return atHandIn != null || aloneOverlapping();
    }

    /** Whether a lone node trains on past its round ({@link #trainOnAlone}). */
    boolean aloneOverlapping() {
        return aloneFrom >= 0;
    }

    /** A step trained: it counts towards the overlap, if the node overlaps. */
    void stepped() {
        if (overlapping()) {
            stepsSinceHandIn++;
        }
    }

    /**
     * Whether a streaming overlap is over: the round must be applied before the next step. (A
     * lone node's overlap counts no steps: it lasts until the round closes.)
     */
    boolean overlapDone() {
        return atHandIn != null && stepsSinceHandIn >= sync.overlapSteps();
    }

    /**
     * Takes a closed round back (see the class comment), and ends the overlap.
     *
     * <p>A lone node's round that is the very state it handed in is not restored: when it holds the
     * tensors of the payload the node wrote from its whole state, bit for bit (a lone node's
     * round passes its one share through), and the node has not stepped since, restoring would
     * write every weight and moment with the value it already holds. Comparing costs a pass over
     * the bytes; restoring, a copy of each tensor into the model and the optimizer. Anything else
     * in the round (another node's share, a rollback, an outer momentum) is restored.
     *
     * <p>A lone node that trained on past its share ({@link #trainOnAlone}) keeps what it
     * trained when the round is that share; else it throws. A round another generation closed
     * is restored, as for a node that waited: the node was evicted, and its rollback follows.
     *
     * @param byThisGeneration the round was closed by the generation this node handed in for
     */
    void apply(RoundState closed, boolean alone, boolean byThisGeneration) {
        if (aloneOverlapping() && !byThisGeneration) {
            // the group moved on without this node (evicted): another generation closed the round. Its rollback,
            // when the node sees the rebalance, discards what the node trains until then, as it did before
            state.restore(closed.state(), closed.step());
            reset();
            return;
        }
        if (aloneOverlapping()) {
            if (closed.step() != aloneFrom || !sameState(wholeState, closed.state())) {
                throw new IllegalStateException("round " + closed.round() + " closed at step " + closed.step()
                        + " with a state other than the one this node, alone on the topic, handed in at step "
                        + aloneFrom + " and trained " + stepsSinceHandIn + " steps on from. A restart resumes"
                        + " from the sync log");
            }
            reset();
            return;
        }
        if (alone && isWholeState(closed)) {
            reset();
            return;
        }
        if (sync.streaming() && !closed.epochEnd() && !alone) {
            state.adoptParameters(closed.state(), atHandIn, closed.step() + stepsSinceHandIn, sync.mixing());
        } else {
            state.restore(closed.state(), closed.step());
        }
        reset();
    }

    private boolean isWholeState(RoundState closed) {
        return !overlapping() && closed.step() == state.step() && sameState(wholeState, closed.state());
    }

    /**
     * Whether {@code round} holds exactly the tensors of {@code handed}, bit for bit: restoring
     * it would give back the state that payload was written from.
     */
    static boolean sameState(byte[] handed, SafeTensors.Document round) {
        if (handed == null || round == null || round.tensors().isEmpty()) {
            return false;
        }
        Map<String, Tensor> own;
        try {
            own = SafeTensors.read(handed).tensors();
        } catch (SafeTensorsException e) {
            throw new IllegalStateException("this node's own payload does not read back", e);
        }
        if (!own.keySet().equals(round.tensors().keySet())) {
            return false;
        }
        for (Tensor t : round.tensors().values()) {
            Tensor o = own.get(t.name());
            if (t.dtype() != o.dtype()
                    || !Arrays.equals(t.shape(), o.shape())
                    || !t.data().equals(o.data())) {
                return false;
            }
        }
        return true;
    }

    /** Forgets the overlap (a rollback discards its steps) and the share handed in. */
    void reset() {
        atHandIn = null;
        aloneFrom = -1;
        stepsSinceHandIn = 0;
        wholeState = null;
    }
}
