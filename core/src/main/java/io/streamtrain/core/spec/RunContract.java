package io.streamtrain.core.spec;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;

/**
 * What a run's checkpoints may not change: the validation data it is scored on, the model, and
 * the stopping policy. Fixed by the spec an operator registers for the run
 * ({@code streamtrain ctl register}) or, without one, by the first checkpoint the evaluator
 * accepted. A manifest carries the whole spec, and anyone who may write the checkpoint topic
 * writes manifests: without a fixed contract, one forged manifest could move a run to another
 * validation topic, or stop it at once.
 *
 * @param fixed those parts of the spec, as the spec's JSON names them
 */
public record RunContract(JsonNode fixed) {
    /** The spec paths a contract fixes. */
    private static final List<String> PATHS = List.of("/data/validation", "/model", "/earlyStopping", "/maxEpochs");

    public static RunContract of(RunSpec spec) {
        JsonNode json = RunSpecParser.toJson(spec);
        com.fasterxml.jackson.databind.node.ObjectNode fixed =
                com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.objectNode();
        for (String p : PATHS) {
            fixed.set(key(p), json.at(p));
        }
        return new RunContract(fixed);
    }

    /**
     * A contract as an evaluation record carries it ({@link #fixed()}).
     *
     * @throws IllegalArgumentException when it lacks a fixed part, or a part is not of its kind
     */
    public static RunContract parse(JsonNode fixed) {
        if (fixed == null || !fixed.isObject()) {
            throw new IllegalArgumentException("a contract is a JSON object");
        }
        for (String p : PATHS) {
            JsonNode part = fixed.get(key(p));
            boolean kind = switch (key(p)) {
                case "data.validation" -> part != null && (part.isTextual() || part.isNull());
                case "maxEpochs" -> part != null && part.isInt();
                default -> part != null && part.isObject();
            };
            if (!kind) {
                throw new IllegalArgumentException("a contract needs " + key(p) + " of its kind");
            }
        }
        return new RunContract(fixed.deepCopy());
    }

    private static String key(String path) {
        return path.substring(1).replace('/', '.');
    }

    /**
     * @return what {@code other} changes, leaf by leaf with its spec path ({@code data.validation a → b;
     *     earlyStopping.patience 10 → 0; maxEpochs 9 → 1}), or null if nothing
     */
    public String changedBy(RunContract other) {
        List<String> changes = new ArrayList<>();
        diff("", fixed, other.fixed, changes);
        return changes.isEmpty() ? null : String.join("; ", changes);
    }

    private static void diff(String path, JsonNode a, JsonNode b, List<String> changes) {
        if (a.isObject() && b.isObject()) {
            TreeSet<String> names = new TreeSet<>();
            a.fieldNames().forEachRemaining(names::add);
            b.fieldNames().forEachRemaining(names::add);
            for (String n : names) {
                diff(path.isEmpty() ? n : path + "." + n, a.path(n), b.path(n), changes);
            }
        } else if (!a.equals(b)) {
            changes.add(path + " " + text(a) + " → " + text(b));
        }
    }

    private static String text(JsonNode n) {
        return n.isMissingNode() ? "(none)" : n.isTextual() ? n.asText() : n.toString();
    }
}
