package io.streamtrain.trainer.sync;

import io.streamtrain.core.codec.SafeTensors;
import io.streamtrain.core.protocol.RoundSums;
import io.streamtrain.trainer.feed.EpochPlan;
import java.util.Map;
import java.util.TreeMap;

/**
 * The run as of a closed sync round: the state every node continues from, and where in the
 * epoch it stands. A function of the run's start and the sync log up to {@code nextOffset}.
 *
 * @param round rounds closed since the run began (0: none)
 * @param epoch epochs completed
 * @param step optimizer steps (a round adds the most any node took in it)
 * @param positions per partition, the next offset to train in epoch {@code epoch + 1} (a
 *     position below the plan's {@code from} counts the window's replayed records: {@link
 *     EpochPlan#replayOffset})
 * @param epochSums the training sums of the epoch in progress, or of the epoch just ended
 *     when {@code epochEnd}
 * @param state parameters, optimizer slots, anchors and the outer momentum
 * @param plan the plan of epoch {@code epoch + 1} (the one in progress, or the next when
 *     {@code epochEnd}: for a continuous run the window after the one that ended), or null
 *     before the run's first join fixed it
 * @param generation the generation that closed this round (-1 for a run's start)
 * @param nextOffset the sync-log offset right after the record that closed this round
 * @param epochEnd this round ended epoch {@code epoch}
 * @param ended when {@code epochEnd}, the plan of the epoch it ended as the sync log closed it (a
 *     window of time's length is not fixed, so its plan cannot be derived from the next one's);
 *     null for a resume from a checkpoint, or before any epoch ended
 */
public record RoundState(
        long round,
        int epoch,
        long step,
        Map<Integer, Long> positions,
        RoundSums epochSums,
        SafeTensors.Document state,
        EpochPlan plan,
        int generation,
        long nextOffset,
        boolean epochEnd,
        EpochPlan ended) {

    public RoundState {
        positions = positions == null ? null : java.util.Collections.unmodifiableMap(new TreeMap<>(positions));
    }

    /** A run's start, or a resume from a checkpoint that ended epoch {@code epoch}. */
    public static RoundState start(
            long round,
            int epoch,
            long step,
            SafeTensors.Document state,
            EpochPlan plan,
            int generation,
            long nextOffset,
            RoundSums epochSums) {
        return new RoundState(
                round,
                epoch,
                step,
                plan == null ? null : starts(plan),
                epochSums,
                state,
                plan,
                generation,
                nextOffset,
                epoch > 0,
                null);
    }

    RoundState withPlan(EpochPlan p) {
        return new RoundState(
                round, epoch, step, starts(p), epochSums, state, p, generation, nextOffset, epochEnd, ended);
    }

    /** The plan of the epoch this round ended (see {@code ended}; derived from the next for a resumed bounded run or window of records). */
    public EpochPlan endedPlan() {
        return ended != null ? ended : plan.previous();
    }

    static Map<Integer, Long> starts(EpochPlan plan) {
        Map<Integer, Long> m = new TreeMap<>();
        plan.ranges().keySet().forEach(p -> m.put(p, plan.start(p)));
        return m;
    }

    /** Whether partition {@code p} has nothing left to train in the epoch in progress. */
    public boolean finished(int partition) {
        return positions.get(partition) >= plan.ranges().get(partition)[1];
    }
}
