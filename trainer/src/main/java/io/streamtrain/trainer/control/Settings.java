package io.streamtrain.trainer.control;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.core.spec.RunSpecParser;
import io.streamtrain.core.spec.SpecException;
import java.util.Map;

/**
 * What a SET command may change while a run trains, and where in the run spec each lands.
 * The result is parsed again by {@link RunSpecParser}, so a SET obeys exactly the checks a
 * spec file does (a negative rate is refused with the key's path).
 */
public final class Settings {
    /** SET key → run spec path. */
    public static final Map<String, String> PATHS = Map.of(
            "learningRate", "optimizer.learningRate",
            "weightDecay", "regularization.weightDecay",
            "l1", "regularization.l1",
            "l2", "regularization.l2",
            "l2sp", "regularization.l2sp");

    private Settings() {}

    /**
     * @return {@code spec} with the values set
     * @throws IllegalArgumentException naming the key when a value is unknown or not allowed
     */
    public static RunSpec apply(RunSpec spec, Map<String, Double> values) {
        if (values == null || values.isEmpty()) {
            throw new IllegalArgumentException("a SET needs values; settable: " + PATHS.keySet());
        }
        ObjectNode tree = (ObjectNode) RunSpecParser.toJson(spec);
        for (Map.Entry<String, Double> e : values.entrySet()) {
            String path = PATHS.get(e.getKey());
            if (path == null) {
                throw new IllegalArgumentException("'" + e.getKey() + "' cannot be set while training"
                        + ("dropout".equals(e.getKey()) ? " (dropout is part of the model; it needs a new run)" : "")
                        + "; settable: " + PATHS.keySet());
            }
            if (e.getValue() == null) {
                throw new IllegalArgumentException("'" + e.getKey() + "' has no value");
            }
            String[] parts = path.split("\\.");
            tree.withObjectProperty(parts[0]).put(parts[1], e.getValue());
        }
        try {
            return RunSpecParser.parse(tree);
        } catch (SpecException ex) {
            throw new IllegalArgumentException(ex.getMessage(), ex);
        }
    }
}
