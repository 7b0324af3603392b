package io.streamtrain.testkit;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The safetensors format written and read by hand, from its specification (8-byte
 * little-endian header length, a JSON header of {@code dtype}/{@code shape}/
 * {@code data_offsets} per tensor plus optional {@code __metadata__}, then the data), as a
 * third-party producer or PyTorch's loader sees it. Deliberately independent of the
 * project's own {@code SafeTensors} class, so the tests check the format, not the class
 * against itself.
 */
public final class SafetensorsFile {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** One tensor entry of a document: its header fields and its data bytes. */
    public record Entry(String dtype, long[] shape, long begin, long end, byte[] data) {
        public long elements() {
            return Arrays.stream(shape).reduce(1, Math::multiplyExact);
        }

        public float[] floats() {
            if (!dtype.equals("F32")) {
                throw new IllegalStateException(dtype + " is not F32");
            }
            float[] out = new float[data.length / 4];
            ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(out);
            return out;
        }
    }

    /** A parsed document: the raw header length and JSON, the entries in header order, the metadata. */
    public record Parsed(
            long headerLength,
            JsonNode header,
            Map<String, Entry> tensors,
            Map<String, String> metadata,
            long dataBytes) {}

    private SafetensorsFile() {}

    /** Reads a document, checking only what the format itself requires of it. */
    public static Parsed parse(byte[] bytes) {
        if (bytes.length < 8) {
            throw new AssertionError("shorter than the 8-byte header length: " + bytes.length + " bytes");
        }
        long n = ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        if (n < 2 || 8 + n > bytes.length) {
            throw new AssertionError("header length " + n + " does not fit in " + bytes.length + " bytes");
        }
        String headerText = new String(bytes, 8, (int) n, StandardCharsets.UTF_8);
        if (!headerText.startsWith("{")) {
            throw new AssertionError("the header must start with '{': " + headerText);
        }
        JsonNode header;
        try {
            header = JSON.readTree(headerText);
        } catch (IOException e) {
            throw new AssertionError("the header is not JSON: " + headerText, e);
        }
        int dataStart = 8 + (int) n;
        long dataBytes = bytes.length - dataStart;
        Map<String, Entry> tensors = new LinkedHashMap<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : header.properties()) {
            if (e.getKey().equals("__metadata__")) {
                e.getValue().properties().forEach(m -> {
                    if (!m.getValue().isTextual()) {
                        throw new AssertionError(
                                "__metadata__." + m.getKey() + " must be a string, is " + m.getValue());
                    }
                    metadata.put(m.getKey(), m.getValue().asText());
                });
                continue;
            }
            JsonNode info = e.getValue();
            JsonNode shapeNode = info.get("shape");
            JsonNode offsets = info.get("data_offsets");
            if (info.get("dtype") == null || shapeNode == null || offsets == null || offsets.size() != 2) {
                throw new AssertionError("tensor " + e.getKey() + " lacks dtype, shape or data_offsets: " + info);
            }
            long[] shape = new long[shapeNode.size()];
            for (int i = 0; i < shape.length; i++) {
                shape[i] = shapeNode.get(i).asLong();
            }
            long begin = offsets.get(0).asLong();
            long end = offsets.get(1).asLong();
            if (begin < 0 || end < begin || end > dataBytes) {
                throw new AssertionError("tensor " + e.getKey() + " has data_offsets [" + begin + ", " + end
                        + "] outside " + dataBytes + " data bytes");
            }
            byte[] data = Arrays.copyOfRange(bytes, dataStart + (int) begin, dataStart + (int) end);
            tensors.put(e.getKey(), new Entry(info.get("dtype").asText(), shape, begin, end, data));
        }
        return new Parsed(n, header, tensors, metadata, dataBytes);
    }

    /** A tensor to write: dtype name as in the format ("F32", "BOOL", ...), shape, raw little-endian bytes. */
    public record Raw(String name, String dtype, long[] shape, byte[] data) {}

    /** Writes a document the way {@code safetensors.numpy.save} lays it out. */
    public static byte[] write(Raw... tensors) {
        ObjectNode header = JSON.createObjectNode();
        long offset = 0;
        for (Raw t : tensors) {
            ObjectNode info = header.putObject(t.name());
            info.put("dtype", t.dtype());
            Arrays.stream(t.shape()).forEach(info.putArray("shape")::add);
            info.putArray("data_offsets").add(offset).add(offset + t.data().length);
            offset += t.data().length;
        }
        byte[] json;
        try {
            json = JSON.writeValueAsBytes(header);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        ByteBuffer out = ByteBuffer.allocate(8 + json.length + (int) offset).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(json.length).put(json);
        for (Raw t : tensors) {
            out.put(t.data());
        }
        return out.array();
    }

    public static byte[] f32(float... values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(values);
        return b.array();
    }

    public static byte[] i64(long... values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
        b.asLongBuffer().put(values);
        return b.array();
    }
}
