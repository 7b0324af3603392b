package io.streamtrain.core.spec;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.function.DoublePredicate;

/**
 * A mapping in the spec document being read. Every key a caller asks for is remembered,
 * so {@link #rejectUnknownKeys()} can name any key nobody asked for, with its path and
 * the keys allowed there.
 */
final class SpecNode {
    private final JsonNode node;
    private final String path;
    private final Set<String> allowed = new LinkedHashSet<>();

    private SpecNode(JsonNode node, String path) {
        this.node = node;
        this.path = path;
    }

    static SpecNode root(JsonNode node) {
        if (node == null || node.isMissingNode() || node.isNull()) {
            throw new SpecException(
                    "", "the run spec is empty; it must be a YAML mapping with at least 'run', 'data' and 'model'");
        }
        if (!node.isObject()) {
            throw new SpecException("", "the run spec must be a YAML mapping, not " + describe(node));
        }
        return new SpecNode(node, "");
    }

    String path(String key) {
        return path.isEmpty() ? key : path + "." + key;
    }

    private JsonNode get(String key) {
        allowed.add(key);
        JsonNode v = node.get(key);
        return v == null || v.isNull() ? null : v;
    }

    boolean has(String key) {
        allowed.add(key);
        return get(key) != null;
    }

    /** A nested mapping; an absent key reads as an empty mapping, so defaults apply. */
    SpecNode child(String key) {
        JsonNode v = get(key);
        if (v == null) {
            return new SpecNode(com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.objectNode(), path(key));
        }
        if (!v.isObject()) {
            throw new SpecException(path(key), "expected a mapping, got " + describe(v));
        }
        return new SpecNode(v, path(key));
    }

    String requiredString(String key, String what) {
        String s = string(key, null);
        if (s == null || s.isBlank()) {
            throw new SpecException(path(key), "is required: " + what);
        }
        return s;
    }

    String string(String key, String dflt) {
        JsonNode v = get(key);
        if (v == null) {
            return dflt;
        }
        if (!v.isTextual()) {
            throw new SpecException(path(key), "expected a string, got " + describe(v));
        }
        return v.asText();
    }

    String oneOf(String key, String dflt, List<String> choices) {
        String s = string(key, dflt);
        if (!choices.contains(s)) {
            throw new SpecException(path(key), "'" + s + "' is not allowed; allowed: " + String.join(", ", choices));
        }
        return s;
    }

    boolean bool(String key, boolean dflt) {
        JsonNode v = get(key);
        if (v == null) {
            return dflt;
        }
        if (!v.isBoolean()) {
            throw new SpecException(path(key), "expected true or false, got " + describe(v));
        }
        return v.asBoolean();
    }

    double number(String key, double dflt, DoublePredicate ok, String allowedRange) {
        JsonNode v = get(key);
        if (v == null) {
            return dflt;
        }
        if (!v.isNumber()) {
            throw new SpecException(path(key), "expected " + allowedRange + ", got " + describe(v));
        }
        double d = v.asDouble();
        if (!Double.isFinite(d) || !ok.test(d)) {
            throw new SpecException(path(key), v.asText() + " is out of range; allowed: " + allowedRange);
        }
        return d;
    }

    long integer(String key, long dflt, long min, long max) {
        JsonNode v = get(key);
        if (v == null) {
            return dflt;
        }
        String range = max == Long.MAX_VALUE ? "an integer >= " + min : "an integer in [" + min + ", " + max + "]";
        if (!v.isIntegralNumber() || !v.canConvertToLong()) {
            throw new SpecException(path(key), "expected " + range + ", got " + describe(v));
        }
        long l = v.asLong();
        if (l < min || l > max) {
            throw new SpecException(path(key), l + " is out of range; allowed: " + range);
        }
        return l;
    }

    int integer(String key, int dflt, int min, int max) {
        return (int) integer(key, (long) dflt, min, (long) max);
    }

    List<Integer> integers(String key, List<Integer> dflt, int min) {
        JsonNode v = get(key);
        if (v == null) {
            return dflt;
        }
        if (!v.isArray()) {
            throw new SpecException(path(key), "expected a list of integers >= " + min + ", got " + describe(v));
        }
        List<Integer> out = new ArrayList<>();
        for (int i = 0; i < v.size(); i++) {
            JsonNode e = v.get(i);
            if (!e.isIntegralNumber() || !e.canConvertToInt() || e.asInt() < min) {
                throw new SpecException(
                        path(key) + "[" + i + "]", "expected an integer >= " + min + ", got " + describe(e));
            }
            out.add(e.asInt());
        }
        return out;
    }

    List<String> strings(String key, List<String> dflt) {
        JsonNode v = get(key);
        if (v == null) {
            return dflt;
        }
        if (!v.isArray()) {
            throw new SpecException(path(key), "expected a list of strings, got " + describe(v));
        }
        List<String> out = new ArrayList<>();
        for (int i = 0; i < v.size(); i++) {
            JsonNode e = v.get(i);
            if (!e.isTextual() || e.asText().isBlank()) {
                throw new SpecException(path(key) + "[" + i + "]", "expected a non-empty string, got " + describe(e));
            }
            out.add(e.asText());
        }
        return out;
    }

    /** Call after reading every key: any key not asked for is a mistake in the document. */
    void rejectUnknownKeys() {
        for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
            String key = it.next();
            if (!allowed.contains(key)) {
                throw new SpecException(
                        path(key),
                        "unknown key '" + key + "'"
                                + (path.isEmpty() ? " at the top level" : " in '" + path + "'")
                                + "; allowed keys: " + String.join(", ", allowed));
            }
        }
    }

    private static String describe(JsonNode v) {
        if (v.isTextual()) {
            return "the string \"" + v.asText() + "\"";
        }
        if (v.isArray()) {
            return "a list";
        }
        if (v.isObject()) {
            return "a mapping";
        }
        if (v.isBoolean()) {
            return "the boolean " + v.asText();
        }
        return v.getNodeType().name().toLowerCase(java.util.Locale.ROOT) + " " + v.asText();
    }
}
