package io.streamtrain.core.spec;

import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.List;

/**
 * How the trainer nodes of one run combine their work: every {@code everySteps} local steps,
 * and at every epoch's end, each node contributes to a sync round, and every node continues
 * from the combined state.
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
 * @param mode {@code streaming} (Streaming DiLoCo: a mid-epoch contribution carries only the
 *     node's outer gradient, encoded as {@code encoding}; the optimizer state stays local and
 *     is combined at the epoch's last round; a node applies a round {@code overlapSteps}
 *     steps after handing in) or {@code strict} (parameters and optimizer state in float32
 *     every round, applied before the next step)
 * @param encoding how a streaming contribution's outer gradient travels: {@code float32},
 *     {@code bfloat16} or {@code int8} (per block of {@value #INT8_BLOCK} values a scale, rounded
 *     stochastically with a seed of the run, round, node and parameter)
 * @param overlapSteps steps a streaming node trains on after handing in before it applies the
 *     round ({@code < everySteps})
 */
public record SyncSpec(
        int everySteps,
        String outer,
        double outerLearningRate,
        double outerMomentum,
        int timeoutSeconds,
        int minNodes,
        String mode,
        String encoding,
        int overlapSteps,
        // absent rather than null in a manifest's spec: readers older than the setting refuse keys they do not know
        @JsonInclude(JsonInclude.Include.NON_NULL) Double mixing) {
    public static final String AVERAGE = "average";
    public static final String NESTEROV = "nesterov";
    public static final String STREAMING = "streaming";
    public static final String STRICT = "strict";
    public static final String FLOAT32 = "float32";
    public static final String BFLOAT16 = "bfloat16";
    public static final String INT8 = "int8";
    public static final List<String> MODES = List.of(STREAMING, STRICT);
    public static final List<String> ENCODINGS = List.of(FLOAT32, BFLOAT16, INT8);
    /** Values per int8 scale. */
    public static final int INT8_BLOCK = 1024;
    /** The overlap a streaming run gets when it names none (less when its rounds are shorter). */
    public static final int DEFAULT_OVERLAP_STEPS = 5;

    /** Without mixing: a streaming node keeps its overlap's steps on top of each round. */
    public SyncSpec(
            int everySteps,
            String outer,
            double outerLearningRate,
            double outerMomentum,
            int timeoutSeconds,
            int minNodes,
            String mode,
            String encoding,
            int overlapSteps) {
        this(
                everySteps,
                outer,
                outerLearningRate,
                outerMomentum,
                timeoutSeconds,
                minNodes,
                mode,
                encoding,
                overlapSteps,
                null);
    }

    /** The defaults: a round every 50 steps, averaged, streaming with bfloat16 outer gradients and an overlap of 5 steps. */
    public static SyncSpec defaults() {
        return new SyncSpec(50, AVERAGE, 0.7, 0.9, 120, 1, STREAMING, BFLOAT16, DEFAULT_OVERLAP_STEPS);
    }

    /** Today's default overlap for rounds of {@code everySteps}: {@value #DEFAULT_OVERLAP_STEPS}, or fewer so that it stays below. */
    public static int defaultOverlap(int everySteps) {
        return Math.min(DEFAULT_OVERLAP_STEPS, everySteps - 1);
    }

    /** The defaults in strict mode (no overlap, float32). */
    public static SyncSpec strictDefaults() {
        return defaults().withMode(STRICT);
    }

    public SyncSpec withMode(String m) {
        return STRICT.equals(m) ? with(m, FLOAT32, 0, null) : with(m, encoding, overlapSteps, mixing);
    }

    public SyncSpec withEncoding(String e) {
        return with(mode, e, overlapSteps, mixing);
    }

    public SyncSpec withOverlapSteps(int tau) {
        return with(mode, encoding, tau, mixing);
    }

    public SyncSpec withMixing(Double alpha) {
        return with(mode, encoding, overlapSteps, alpha);
    }

    /** These settings with another mode and what depends on it. */
    private SyncSpec with(String m, String e, int tau, Double alpha) {
        return new SyncSpec(
                everySteps, outer, outerLearningRate, outerMomentum, timeoutSeconds, minNodes, m, e, tau, alpha);
    }

    public boolean nesterov() {
        return NESTEROV.equals(outer);
    }

    public boolean streaming() {
        return STREAMING.equals(mode);
    }
}
