package io.streamtrain.core.protocol;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * The format version every JSON document streamtrain writes to a topic carries, so that a
 * reader can tell a document of a newer format from a malformed one and say so. Control
 * messages, evaluation records and sync messages carry it as {@value #FIELD}; checkpoint
 * manifests as {@code version} (theirs had one from the start). A document without one was
 * written before versions and is version 1. What each reader does with a newer one is decided
 * per topic (docs/design.md, "Topics and who reads them").
 */
public final class FormatVersion {
    /** The field that carries the version in control, evaluation and sync documents. */
    public static final String FIELD = "v";
    /** Control messages (STOP, PAUSE, RESUME, SET, CHECKPOINT, acknowledgements). */
    public static final int CONTROL = 1;
    /** Evaluation records. */
    public static final int EVALUATION = 1;
    /**
     * Sync messages (joins and contributions). 2: a contribution's payload may carry outer
     * gradients ({@code delta.*}) instead of parameters ({@code sync.mode: streaming}).
     */
    public static final int SYNC = 2;

    private FormatVersion() {}

    /** The version {@code doc} says in {@code field}: 1 when absent; 0 when not a positive integer (unreadable). */
    private static int of(JsonNode doc, String field) {
        JsonNode v = doc.path(field);
        if (v.isMissingNode() || v.isNull()) {
            return 1;
        }
        return v.canConvertToInt() && v.isIntegralNumber() && v.intValue() > 0 ? v.intValue() : 0;
    }

    /** Writes {@code version} into {@code doc} as {@value #FIELD}. */
    public static ObjectNode stamp(ObjectNode doc, int version) {
        return doc.put(FIELD, version);
    }

    /**
     * Why {@code doc}, whose version is in {@code field}, cannot be read by a reader of version
     * {@code known} (null when it can): a newer format names the upgrade, a bad field says so.
     */
    public static String refusal(String what, JsonNode doc, String field, int known) {
        int found = of(doc, field);
        if (found == 0) {
            return what + " has a format version that is not a positive integer";
        }
        if (found > known) {
            return what + " is of format version " + found + ", newer than this streamtrain reads (" + known
                    + "): it was written by a newer streamtrain; run the same version everywhere a run is read";
        }
        return null;
    }
}
