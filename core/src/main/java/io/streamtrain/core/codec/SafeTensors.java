package io.streamtrain.core.codec;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads and writes the safetensors format (an 8-byte little-endian header length, a JSON
 * header, then the tensors' bytes), in plain Java so that neither the codec nor its users
 * need the native engine. Reading checks everything the format promises, so a truncated
 * or forged document fails here rather than inside a model.
 */
public final class SafeTensors {
    /** Larger headers than this are refused: a corrupt length must not allocate gigabytes. */
    private static final long MAX_HEADER = 100L * 1024 * 1024;

    private static final String METADATA = "__metadata__";
    private static final ObjectMapper JSON = new ObjectMapper();

    private SafeTensors() {}

    /** A decoded document: its tensors in header order, and its string metadata. */
    public record Document(Map<String, Tensor> tensors, Map<String, String> metadata) {
        public Document {
            tensors = Collections.unmodifiableMap(new LinkedHashMap<>(tensors));
            metadata = Map.copyOf(metadata);
        }

        public Tensor tensor(String name) {
            return tensors.get(name);
        }
    }

    public static Document read(byte[] bytes) throws SafeTensorsException {
        return read(ByteBuffer.wrap(bytes));
    }

    public static Document read(ByteBuffer buffer) throws SafeTensorsException {
        ByteBuffer b = buffer.slice().order(ByteOrder.LITTLE_ENDIAN);
        if (b.remaining() < 8) {
            throw new SafeTensorsException("too short for a safetensors header (" + b.remaining() + " bytes)");
        }
        long headerLength = b.getLong(0);
        if (headerLength < 2 || headerLength > MAX_HEADER || headerLength > b.remaining() - 8) {
            throw new SafeTensorsException(
                    "header length " + headerLength + " does not fit in " + b.remaining() + " bytes");
        }
        byte[] header = new byte[(int) headerLength];
        b.position(8);
        b.get(header);
        JsonNode root;
        try {
            root = JSON.readTree(header);
        } catch (java.io.IOException e) {
            throw new SafeTensorsException("header is not JSON: " + e.getMessage());
        }
        if (root == null || !root.isObject()) {
            throw new SafeTensorsException("header is not a JSON object");
        }
        ByteBuffer data = b.duplicate().position(8 + (int) headerLength).slice().order(ByteOrder.LITTLE_ENDIAN);
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        List<long[]> spans = new ArrayList<>();
        for (Map.Entry<String, JsonNode> e : root.properties()) {
            if (e.getKey().equals(METADATA)) {
                readMetadata(e.getValue(), metadata);
                continue;
            }
            Tensor t = readTensor(e.getKey(), e.getValue(), data);
            tensors.put(t.name(), t);
            JsonNode off = e.getValue().get("data_offsets");
            spans.add(new long[] {off.get(0).asLong(), off.get(1).asLong()});
        }
        checkCoverage(spans, data.remaining());
        return new Document(tensors, metadata);
    }

    private static void readMetadata(JsonNode node, Map<String, String> out) throws SafeTensorsException {
        if (!node.isObject()) {
            throw new SafeTensorsException("__metadata__ is not an object");
        }
        for (Map.Entry<String, JsonNode> m : node.properties()) {
            if (!m.getValue().isTextual()) {
                throw new SafeTensorsException("__metadata__." + m.getKey() + " is not a string");
            }
            out.put(m.getKey(), m.getValue().asText());
        }
    }

    private static Tensor readTensor(String name, JsonNode info, ByteBuffer data) throws SafeTensorsException {
        if (!info.isObject()
                || !info.path("dtype").isTextual()
                || !info.path("shape").isArray()
                || !info.path("data_offsets").isArray()
                || info.path("data_offsets").size() != 2) {
            throw new SafeTensorsException("tensor '" + name + "' needs dtype, shape and data_offsets [begin, end]");
        }
        DType dtype;
        try {
            dtype = DType.valueOf(info.get("dtype").asText());
        } catch (IllegalArgumentException e) {
            throw new SafeTensorsException("tensor '" + name + "' has unsupported dtype "
                    + info.get("dtype").asText());
        }
        JsonNode s = info.get("shape");
        long[] shape = new long[s.size()];
        long elements = 1;
        for (int i = 0; i < shape.length; i++) {
            if (!s.get(i).isIntegralNumber() || s.get(i).asLong() < 0) {
                throw new SafeTensorsException("tensor '" + name + "' has a bad shape " + s);
            }
            shape[i] = s.get(i).asLong();
        }
        long bytes;
        try {
            for (long d : shape) {
                elements = Math.multiplyExact(elements, d);
            }
            bytes = Math.multiplyExact(elements, (long) dtype.bytes());
        } catch (ArithmeticException e) {
            throw new SafeTensorsException("tensor '" + name + "' has a shape " + s + " too large to address");
        }
        long begin = info.get("data_offsets").get(0).asLong(-1);
        long end = info.get("data_offsets").get(1).asLong(-1);
        if (begin < 0 || end < begin || end > data.remaining()) {
            throw new SafeTensorsException("tensor '" + name + "' has data_offsets [" + begin + ", " + end
                    + "] outside the " + data.remaining() + " data bytes (truncated?)");
        }
        if (end - begin != bytes) {
            throw new SafeTensorsException("tensor '" + name + "' has " + (end - begin) + " bytes, but " + dtype + " "
                    + s + " needs " + bytes);
        }
        ByteBuffer slice =
                data.duplicate().position((int) begin).limit((int) end).slice();
        return new Tensor(name, dtype, shape, slice);
    }

    /** The format requires the tensors to tile the data section: no holes, no overlaps. */
    private static void checkCoverage(List<long[]> spans, long size) throws SafeTensorsException {
        spans.sort((x, y) -> Long.compare(x[0], y[0]));
        long at = 0;
        for (long[] span : spans) {
            if (span[0] != at) {
                throw new SafeTensorsException("tensor data overlaps or leaves a hole at byte " + at);
            }
            at = span[1];
        }
        if (at != size) {
            throw new SafeTensorsException("data section has " + size + " bytes but the tensors cover " + at);
        }
    }

    public static byte[] write(List<Tensor> tensors, Map<String, String> metadata) {
        ObjectNode header = JSON.createObjectNode();
        if (!metadata.isEmpty()) {
            ObjectNode m = header.putObject(METADATA);
            metadata.forEach(m::put);
        }
        long offset = 0;
        for (Tensor t : tensors) {
            ObjectNode info = header.putObject(t.name());
            info.put("dtype", t.dtype().name());
            ArrayNode shape = info.putArray("shape");
            for (long d : t.shape()) {
                shape.add(d);
            }
            long size = t.data().remaining();
            info.putArray("data_offsets").add(offset).add(offset + size);
            offset += size;
        }
        byte[] json;
        try {
            json = JSON.writeValueAsBytes(header);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
        // pad the header with spaces so the data starts 8-byte aligned, as the reference writer does
        int padded = (json.length + 7) / 8 * 8;
        ByteBuffer out =
                ByteBuffer.allocate(Math.toIntExact(8 + padded + offset)).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(padded);
        out.put(json);
        for (int i = json.length; i < padded; i++) {
            out.put((byte) ' ');
        }
        for (Tensor t : tensors) {
            out.put(t.data().duplicate());
        }
        return out.array();
    }
}
