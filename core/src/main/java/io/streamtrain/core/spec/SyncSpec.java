package io.streamtrain.core.spec;

/**
 * How the trainer nodes of one run combine their work: every {@code everySteps} local steps,
 * and at every epoch's end, each node contributes its state to a sync round, and every node
 * continues from the combined state.
 *
 * @param everySteps local steps (batches) between sync rounds
 * @param outer {@code average} (sample-weighted mean of the nodes' parameters) or
 *     {@code nesterov} (DiLoCo: an outer Nesterov-momentum step on the averaged delta)
 * @param outerLearningRate the outer step's learning rate ({@code nesterov} only; DiLoCo: 0.7)
 * @param outerMomentum the outer step's momentum ({@code nesterov} only; DiLoCo: 0.9)
 * @param timeoutSeconds how long a node waits for a round to close before it reports the
 *     nodes that hold it up (and, past twice as long, gives up: exit 1, resume on restart)
 * @param minNodes until the run's first round closes, train only once this many nodes have
 *     joined (so the first node up does not train the whole topic alone); later rounds go
 *     on with whoever is in the group
 */
public record SyncSpec(int everySteps, String outer, double outerLearningRate, double outerMomentum, int timeoutSeconds,
        int minNodes) {
    public static final String AVERAGE = "average";
    public static final String NESTEROV = "nesterov";

    /** The defaults: a round every 50 steps, averaged; DiLoCo's outer settings. */
    public static SyncSpec defaults() {
        return new SyncSpec(50, AVERAGE, 0.7, 0.9, 120, 1);
    }

    public SyncSpec withEverySteps(int steps) {
        return new SyncSpec(steps, outer, outerLearningRate, outerMomentum, timeoutSeconds, minNodes);
    }

    public boolean nesterov() {
        return NESTEROV.equals(outer);
    }
}
