package io.streamtrain.evaluator;

import io.streamtrain.core.spec.EarlyStoppingSpec;
import io.streamtrain.core.spec.ModelSpec;
import io.streamtrain.core.spec.RunSpec;
import java.util.ArrayList;
import java.util.List;

/**
 * What a run's checkpoints may not change once the evaluator accepted one: the validation
 * data it is scored on, the model, and the stopping policy. A manifest carries the whole spec,
 * and anyone who may write the checkpoint topic writes manifests: without a fixed contract,
 * one forged manifest could move a run to another validation topic, or stop it at once.
 */
record RunContract(String validation, ModelSpec model, EarlyStoppingSpec earlyStopping, int maxEpochs) {

    static RunContract of(RunSpec spec) {
        return new RunContract(spec.data().validation(), spec.model(), spec.earlyStopping(), spec.maxEpochs());
    }

    /** @return what {@code other} changes, by spec path ({@code data.validation a → b; maxEpochs 9 → 1}), or null if nothing */
    String changedBy(RunContract other) {
        List<String> changes = new ArrayList<>();
        if (!java.util.Objects.equals(validation, other.validation)) {
            changes.add("data.validation " + validation + " → " + other.validation);
        }
        if (!model.equals(other.model)) {
            changes.add("model " + model + " → " + other.model);
        }
        if (!earlyStopping.equals(other.earlyStopping)) {
            changes.add("earlyStopping " + earlyStopping + " → " + other.earlyStopping);
        }
        if (maxEpochs != other.maxEpochs) {
            changes.add("maxEpochs " + maxEpochs + " → " + other.maxEpochs);
        }
        return changes.isEmpty() ? null : String.join("; ", changes);
    }
}
