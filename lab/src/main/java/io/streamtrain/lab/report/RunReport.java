package io.streamtrain.lab.report;

import io.streamtrain.core.checkpoint.CheckpointManifest;
import io.streamtrain.core.evaluation.EvaluationRecord;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * Everything a run report shows, as read from the run's topics and its trainers' metrics.
 * Lists are kept in the order given (topic order); nodes are shown in name order.
 *
 * @param runId the run id
 * @param specYaml the run spec, as the user wrote it; written out unchanged
 * @param evaluations the run's evaluation records, snapshots and rejections included
 * @param checkpoints the run's checkpoint manifests, snapshots included
 * @param nodeSamples per trainer node id, the scrapes of its metrics in time order
 * @param outcome how the run ended
 */
public record RunReport(
        String runId,
        String specYaml,
        List<EvaluationRecord> evaluations,
        List<CheckpointManifest> checkpoints,
        Map<String, List<StepSample>> nodeSamples,
        RunOutcome outcome) {

    public RunReport {
        Objects.requireNonNull(runId, "runId");
        Objects.requireNonNull(specYaml, "specYaml");
        Objects.requireNonNull(outcome, "outcome");
        evaluations = evaluations == null ? List.of() : List.copyOf(evaluations);
        checkpoints = checkpoints == null ? List.of() : List.copyOf(checkpoints);
        TreeMap<String, List<StepSample>> nodes = new TreeMap<>();
        if (nodeSamples != null) {
            nodeSamples.forEach((node, samples) -> nodes.put(node, List.copyOf(samples)));
        }
        nodeSamples = Collections.unmodifiableSortedMap(nodes);
    }
}
