package io.streamtrain.core.evaluation;

import java.util.Collections;
import java.util.Map;
import java.util.TreeMap;

/**
 * The validation data a run's checkpoints are scored on: its validation topic from the
 * beginning (or from {@code startOffsets}) up to these end offsets. Fixed when the run is
 * first evaluated and carried in its evaluation records, so an evaluator restarted after more
 * validation data was written scores the later checkpoints on the same records as the earlier
 * ones; or, with {@code evaluation.slidingValidation}, the latest records as of each
 * window's end, recorded in its evaluation.
 *
 * @param topic the validation topic
 * @param endOffsets per partition, the offset the data ends before; a partition not named
 *     holds none of it
 * @param startOffsets per partition, the offset the data starts at; a partition not named
 *     starts at its beginning
 */
public record ValidationPlan(
        String topic,
        Map<Integer, Long> endOffsets,

        @com.fasterxml.jackson.annotation.JsonInclude(com.fasterxml.jackson.annotation.JsonInclude.Include.NON_EMPTY)
        Map<Integer, Long> startOffsets) {
    public ValidationPlan {
        endOffsets = endOffsets == null ? Map.of() : Collections.unmodifiableMap(new TreeMap<>(endOffsets));
        startOffsets = startOffsets == null ? Map.of() : Collections.unmodifiableMap(new TreeMap<>(startOffsets));
    }

    /** From each partition's beginning. */
    public ValidationPlan(String topic, Map<Integer, Long> endOffsets) {
        this(topic, endOffsets, Map.of());
    }
}
