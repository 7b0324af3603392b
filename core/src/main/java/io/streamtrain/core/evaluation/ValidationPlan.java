package io.streamtrain.core.evaluation;

import java.util.Collections;
import java.util.Map;
import java.util.TreeMap;

/**
 * The validation data a run's checkpoints are scored on: its validation topic from the
 * beginning up to these end offsets. Fixed when the run is first evaluated and carried in
 * its evaluation records, so an evaluator restarted after more validation data was written
 * scores the later checkpoints on the same records as the earlier ones.
 *
 * @param topic the validation topic
 * @param endOffsets per partition, the offset the data ends before; a partition not named
 *     holds none of it
 */
public record ValidationPlan(String topic, Map<Integer, Long> endOffsets) {
    public ValidationPlan {
        endOffsets = endOffsets == null ? Map.of() : Collections.unmodifiableMap(new TreeMap<>(endOffsets));
    }
}
