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
 */
final class RoundShares {
    private final SyncSpec sync;
    private final long seed;
    private final ModelState state;
    /** The parameters as they were when the node handed in, while it overlaps; else null. */
    private Map<String, float[]> atHandIn;

    private int stepsSinceHandIn;

    /** The payload handed in when it was the node's whole state as it stands (see {@link #apply}); else null. */
    private byte[] wholeState;

    RoundShares(RunSpec spec, ModelState state) {
        this.sync = spec.sync();
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

    /** Whether the node trains on after handing in, the round not applied yet. */
    boolean overlapping() {
        return atHandIn != null;
    }

    /** A step trained: it counts towards the overlap, if the node overlaps. */
    void stepped() {
        if (overlapping()) {
            stepsSinceHandIn++;
        }
    }

    /** Whether the overlap is over: the round must be applied before the next step. */
    boolean overlapDone() {
        return overlapping() && stepsSinceHandIn >= sync.overlapSteps();
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
     */
    void apply(RoundState closed, boolean alone) {
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
        stepsSinceHandIn = 0;
        wholeState = null;
    }
}
