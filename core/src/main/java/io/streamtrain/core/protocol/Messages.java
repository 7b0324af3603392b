package io.streamtrain.core.protocol;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.streamtrain.core.control.ControlMessage;
import io.streamtrain.core.control.MalformedMessageException;
import io.streamtrain.core.evaluation.EvaluationRecord;
import io.streamtrain.core.evaluation.PromotedModel;
import io.streamtrain.core.logging.Logs;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Instant;
import java.util.Optional;
import java.util.UUID;

/**
 * JSON for the small messages of the control and evaluations topics. Reading is lenient
 * where the contract says so: an unknown {@code type} or an unknown field is not an error,
 * a document that is not JSON or lacks what its type needs is {@link MalformedMessageException}.
 */
public final class Messages {
    private static final ObjectMapper JSON = new ObjectMapper()
            .configure(com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);

    public static final String STOP = "stop";
    public static final String PAUSE = "pause";
    public static final String RESUME = "resume";
    public static final String SET = "set";
    public static final String CHECKPOINT = "checkpoint";
    public static final String REVOKE = "revoke";
    public static final String REGISTER = "register";
    public static final String ROLLBACK = "rollback";
    public static final String ACK = "ack";

    private Messages() {}

    public static String newId() {
        return UUID.randomUUID().toString();
    }

    public static String now() {
        return Instant.now().toString();
    }

    public static byte[] encode(ControlMessage m) {
        ObjectNode node = JSON.valueToTree(m);
        ObjectNode out = JSON.createObjectNode().put("type", typeOf(m));
        FormatVersion.stamp(out, FormatVersion.CONTROL);
        out.setAll(node);
        return bytes(out);
    }

    public static byte[] encode(EvaluationRecord r) {
        return bytes(FormatVersion.stamp(JSON.valueToTree(r), FormatVersion.EVALUATION));
    }

    public static byte[] encode(PromotedModel m) {
        return bytes(FormatVersion.stamp(JSON.valueToTree(m), FormatVersion.EVALUATION));
    }

    /** @return the record, or empty when the document is not a promoted model */
    public static Optional<PromotedModel> decodePromoted(byte[] value) throws MalformedMessageException {
        JsonNode node = tree(value);
        if (!PromotedModel.TYPE.equals(node.path("type").asText(""))) {
            return Optional.empty();
        }
        requireReadable(node, "a promoted model", FormatVersion.EVALUATION);
        PromotedModel m = convert(node, PromotedModel.class);
        if (m.run() == null || m.checkpointId() == null) {
            throw new MalformedMessageException("a promoted model needs 'run' and 'checkpointId'");
        }
        return Optional.of(m);
    }

    /** @return the message, or empty for a type this version does not know (ignore and count it) */
    public static Optional<ControlMessage> decodeControl(byte[] value) throws MalformedMessageException {
        JsonNode node = tree(value);
        String type = node.path("type").asText("");
        Class<? extends ControlMessage> cls = switch (type) {
            case STOP -> ControlMessage.Stop.class;
            case PAUSE -> ControlMessage.Pause.class;
            case RESUME -> ControlMessage.Resume.class;
            case SET -> ControlMessage.Set.class;
            case CHECKPOINT -> ControlMessage.Checkpoint.class;
            case REVOKE -> ControlMessage.Revoke.class;
            case REGISTER -> ControlMessage.Register.class;
            case ROLLBACK -> ControlMessage.Rollback.class;
            case ACK -> ControlMessage.Ack.class;
            default -> null;
        };
        if (cls == null) {
            return Optional.empty();
        }
        requireReadable(node, "a " + type + " message", FormatVersion.CONTROL);
        ControlMessage m = convert(node, cls);
        if (m.run() == null || m.id() == null) {
            throw new MalformedMessageException("a " + type + " message needs 'run' and 'id'");
        }
        return Optional.of(m);
    }

    /** @return the record, or empty when the document is not an evaluation */
    public static Optional<EvaluationRecord> decodeEvaluation(byte[] value) throws MalformedMessageException {
        JsonNode node = tree(value);
        if (!EvaluationRecord.TYPE.equals(node.path("type").asText(""))) {
            return Optional.empty();
        }
        requireReadable(node, "an evaluation record", FormatVersion.EVALUATION);
        return Optional.of(convert(node, EvaluationRecord.class));
    }

    private static void requireReadable(JsonNode node, String what, int known) throws MalformedMessageException {
        String refusal = FormatVersion.refusal(what, node, FormatVersion.FIELD, known);
        if (refusal != null) {
            throw new MalformedMessageException(refusal);
        }
    }

    private static String typeOf(ControlMessage m) {
        if (m instanceof ControlMessage.Stop) {
            return STOP;
        } else if (m instanceof ControlMessage.Pause) {
            return PAUSE;
        } else if (m instanceof ControlMessage.Resume) {
            return RESUME;
        } else if (m instanceof ControlMessage.Set) {
            return SET;
        } else if (m instanceof ControlMessage.Checkpoint) {
            return CHECKPOINT;
        } else if (m instanceof ControlMessage.Revoke) {
            return REVOKE;
        } else if (m instanceof ControlMessage.Register) {
            return REGISTER;
        } else if (m instanceof ControlMessage.Rollback) {
            return ROLLBACK;
        }
        return ACK;
    }

    private static JsonNode tree(byte[] value) throws MalformedMessageException {
        if (value == null) {
            throw new MalformedMessageException("no value");
        }
        try {
            JsonNode node = JSON.readTree(value);
            if (node == null || !node.isObject()) {
                throw new MalformedMessageException("not a JSON object");
            }
            return node;
        } catch (IOException e) {
            throw new MalformedMessageException("not JSON: " + jacksonSays(e));
        }
    }

    private static <T> T convert(JsonNode node, Class<T> cls) throws MalformedMessageException {
        try {
            return JSON.treeToValue(node, cls);
        } catch (JsonProcessingException | IllegalArgumentException e) {
            throw new MalformedMessageException("not a valid " + cls.getSimpleName() + ": " + jacksonSays(e));
        }
    }

    /**
     * What Jackson says is wrong with a document, escaped ({@link Logs#escape}): it quotes the
     * document's own text (a string where a number belongs, a field's name), which anyone who
     * may write the topic writes, and every reader logs the reason.
     */
    private static String jacksonSays(Exception e) {
        if (!(e instanceof JsonProcessingException j) || j.getOriginalMessage() == null) {
            return Logs.escape(e.getMessage());
        }
        StringBuilder says = new StringBuilder();
        if (j instanceof JsonMappingException m && !m.getPath().isEmpty()) {
            says.append("at ");
            for (JsonMappingException.Reference r : m.getPath()) {
                if (r.getFieldName() == null) {
                    says.append('[').append(r.getIndex()).append(']');
                } else {
                    says.append(says.length() > 3 ? "." : "").append(r.getFieldName());
                }
            }
            says.append(": ");
        }
        return Logs.escape(says.append(j.getOriginalMessage()));
    }

    private static byte[] bytes(JsonNode node) {
        try {
            return JSON.writeValueAsBytes(node);
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }
}
