package io.streamtrain.core.codec;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class SafeTensorsTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static final float[] W = {1.5f, -2.25f, 0f, 3.125e-3f, Float.MAX_VALUE, -1e-30f};
    private static final long[] IDS = {0L, -1L, Long.MAX_VALUE, Long.MIN_VALUE};
    private static final byte[] PIXELS = {0, 1, (byte) 127, (byte) 128, (byte) 200, (byte) 255};

    private static List<Tensor> sample() {
        return List.of(
                Tensor.ofFloats("w", new long[] {2, 3}, W),
                Tensor.ofLongs("ids", new long[] {4}, IDS),
                new Tensor("pixels", DType.U8, new long[] {1, 2, 3}, ByteBuffer.wrap(PIXELS.clone())));
    }

    /** A document as a reference writer lays it out: u64 LE header length, header JSON, data. */
    private static byte[] document(String headerJson, byte[] data) {
        byte[] h = headerJson.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h).put(data);
        return b.array();
    }

    private static byte[] le(float... v) {
        ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : v) {
            b.putFloat(f);
        }
        return b.array();
    }

    private static SafeTensorsException rejects(byte[] bytes) {
        return assertThrows(SafeTensorsException.class, () -> SafeTensors.read(bytes));
    }

    // ---------------------------------------------------------------- round trip

    @Test
    void writeThenReadGivesBackTensorsAndMetadata() throws Exception {
        Map<String, String> meta = Map.of("format", "pt", "epoch", "3");
        SafeTensors.Document doc = SafeTensors.read(SafeTensors.write(sample(), meta));

        assertEquals(
                List.of("w", "ids", "pixels"), new ArrayList<>(doc.tensors().keySet()), "header order is kept");
        assertEquals(meta, doc.metadata());

        Tensor w = doc.tensor("w");
        assertEquals(DType.F32, w.dtype());
        assertArrayEquals(new long[] {2, 3}, w.shape());
        assertArrayEquals(W, w.toFloats());

        Tensor ids = doc.tensor("ids");
        assertEquals(DType.I64, ids.dtype());
        assertArrayEquals(new long[] {4}, ids.shape());
        assertArrayEquals(IDS, ids.toLongs());

        Tensor px = doc.tensor("pixels");
        assertEquals(DType.U8, px.dtype());
        assertArrayEquals(new long[] {1, 2, 3}, px.shape());
        long[] unsigned = new long[PIXELS.length];
        for (int i = 0; i < PIXELS.length; i++) {
            unsigned[i] = Byte.toUnsignedInt(PIXELS[i]);
        }
        assertArrayEquals(unsigned, px.toLongs(), "U8 is unsigned");
        assertEquals(200f, px.toFloats()[4]);

        assertEquals(sample(), new ArrayList<>(doc.tensors().values()));
    }

    @Test
    void emptyDocumentRoundTrips() throws Exception {
        SafeTensors.Document doc = SafeTensors.read(SafeTensors.write(List.of(), Map.of()));
        assertTrue(doc.tensors().isEmpty());
        assertTrue(doc.metadata().isEmpty());
    }

    @Test
    void readingHonoursTheBufferPosition() throws Exception {
        byte[] doc = SafeTensors.write(sample(), Map.of());
        byte[] prefixed = new byte[doc.length + 5];
        System.arraycopy(doc, 0, prefixed, 5, doc.length);
        ByteBuffer b = ByteBuffer.wrap(prefixed).position(5);
        assertArrayEquals(W, SafeTensors.read(b).tensor("w").toFloats());
    }

    /** A tensor over a window of a larger buffer (position > 0) reads and writes that window only. */
    @Test
    void tensorOverABufferWindow() {
        byte[] backing = {9, 9, 1, 2, 3, 4, 9};
        Tensor t = new Tensor("u", DType.U8, new long[] {4}, ByteBuffer.wrap(backing, 2, 4));
        assertArrayEquals(new long[] {1, 2, 3, 4}, t.toLongs());
    }

    // ---------------------------------------------------------------- layout

    @Test
    void layoutFollowsTheSafetensorsSpec() throws Exception {
        byte[] bytes = SafeTensors.write(sample(), Map.of("k", "v"));
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        long n = b.getLong(0);

        assertEquals(0, n % 8, "header length is a multiple of 8");
        assertEquals(0, (8 + n) % 8, "data starts 8-byte aligned");
        String header = new String(bytes, 8, (int) n, StandardCharsets.UTF_8);
        String json = header.stripTrailing();
        assertTrue(header.substring(json.length()).chars().allMatch(c -> c == ' '), "padding is spaces");
        assertTrue(header.length() - json.length() < 8, "no more padding than needed");

        JsonNode root = JSON.readTree(json);
        assertEquals("v", root.get("__metadata__").get("k").asText());
        long dataLength = bytes.length - 8 - n;
        long expectedBegin = 0;
        int dataStart = (int) (8 + n);
        Map<String, Integer> elementBytes = Map.of("F32", 4, "I64", 8, "U8", 1);
        int tensors = 0;
        for (Map.Entry<String, JsonNode> e : root.properties()) {
            if (e.getKey().equals("__metadata__")) {
                continue;
            }
            tensors++;
            JsonNode info = e.getValue();
            long elements = 1;
            for (JsonNode d : info.get("shape")) {
                elements *= d.asLong();
            }
            long begin = info.get("data_offsets").get(0).asLong();
            long end = info.get("data_offsets").get(1).asLong();
            assertEquals(expectedBegin, begin, e.getKey() + " follows the previous tensor");
            assertEquals(elements * elementBytes.get(info.get("dtype").asText()), end - begin, e.getKey() + " size");
            expectedBegin = end;
            if (e.getKey().equals("w")) {
                assertEquals("F32", info.get("dtype").asText());
                assertArrayEquals(
                        le(W),
                        Arrays.copyOfRange(bytes, dataStart + (int) begin, dataStart + (int) end),
                        "F32 data is little-endian");
            }
        }
        assertEquals(3, tensors);
        assertEquals(dataLength, expectedBegin, "tensors cover the whole data section");
    }

    @Test
    void handBuiltDocumentAsPythonWritesIt() throws Exception {
        // safetensors.numpy.save({"x": np.array([[1, 2], [3, 4]], dtype=np.float32)})
        String header = "{\"x\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}";
        while (header.length() % 8 != 0) {
            header += " ";
        }
        SafeTensors.Document doc = SafeTensors.read(document(header, le(1f, 2f, 3f, 4f)));
        Tensor x = doc.tensor("x");
        assertEquals(DType.F32, x.dtype());
        assertArrayEquals(new long[] {2, 2}, x.shape());
        assertArrayEquals(new float[] {1f, 2f, 3f, 4f}, x.toFloats());
        assertTrue(doc.metadata().isEmpty());
    }

    @Test
    void unpaddedHeaderIsAlsoRead() throws Exception {
        String header = "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
        assertArrayEquals(
                new float[] {7f},
                SafeTensors.read(document(header, le(7f))).tensor("x").toFloats());
    }

    // ---------------------------------------------------------------- rejections

    @Test
    void tooShort() {
        SafeTensorsException e = rejects(new byte[] {1, 0, 0});
        assertTrue(e.getMessage().contains("too short"), e.getMessage());
    }

    @Test
    void headerLengthLargerThanTheBuffer() {
        ByteBuffer b = ByteBuffer.allocate(20).order(ByteOrder.LITTLE_ENDIAN).putLong(1000);
        SafeTensorsException e = rejects(b.array());
        assertTrue(e.getMessage().contains("1000"), e.getMessage());
    }

    @Test
    void hugeOrNegativeHeaderLength() {
        ByteBuffer b = ByteBuffer.allocate(20).order(ByteOrder.LITTLE_ENDIAN).putLong(-1);
        rejects(b.array());
        b = ByteBuffer.allocate(20).order(ByteOrder.LITTLE_ENDIAN).putLong(Long.MAX_VALUE);
        rejects(b.array());
    }

    @Test
    void headerNotJson() {
        SafeTensorsException e = rejects(document("{not json}", new byte[0]));
        assertTrue(e.getMessage().contains("not JSON"), e.getMessage());
        SafeTensorsException arr = rejects(document("[1,2]   ", new byte[0]));
        assertTrue(arr.getMessage().contains("not a JSON object"), arr.getMessage());
    }

    @Test
    void unknownDtype() {
        SafeTensorsException e =
                rejects(document("{\"x\":{\"dtype\":\"F8_E4M3\",\"shape\":[4],\"data_offsets\":[0,4]}}", new byte[4]));
        assertTrue(e.getMessage().contains("F8_E4M3"), e.getMessage());
    }

    @Test
    void truncatedDocument() {
        byte[] valid = SafeTensors.write(sample(), Map.of());
        for (int cut : new int[] {1, 3, 6}) {
            SafeTensorsException e = rejects(Arrays.copyOf(valid, valid.length - cut));
            assertTrue(e.getMessage().contains("truncated") || e.getMessage().contains("outside"), e.getMessage());
        }
    }

    @Test
    void sizeNotMatchingDtypeTimesShape() {
        SafeTensorsException e =
                rejects(document("{\"x\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}", new byte[12]));
        assertTrue(e.getMessage().contains("12") && e.getMessage().contains("16"), e.getMessage());
    }

    @Test
    void overlappingOffsets() {
        SafeTensorsException e = rejects(document(
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                        + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                new byte[12]));
        assertTrue(e.getMessage().contains("overlap"), e.getMessage());
    }

    @Test
    void holeBetweenTensors() {
        SafeTensorsException e = rejects(document(
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                        + "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
                new byte[12]));
        assertTrue(e.getMessage().contains("hole"), e.getMessage());
    }

    @Test
    void extraTrailingBytes() {
        byte[] valid = SafeTensors.write(sample(), Map.of());
        SafeTensorsException e = rejects(Arrays.copyOf(valid, valid.length + 4));
        assertTrue(e.getMessage().contains("cover"), e.getMessage());
    }

    @Test
    void negativeDimension() {
        rejects(document("{\"x\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", new byte[4]));
    }

    @Test
    void tensorEntryWithoutOffsets() {
        rejects(document("{\"x\":{\"dtype\":\"F32\",\"shape\":[1]}}", new byte[4]));
        rejects(document("{\"x\":5}", new byte[0]));
    }

    @Test
    void nonStringMetadata() {
        rejects(document("{\"__metadata__\":{\"epoch\":3}}", new byte[0]));
    }

    /** A forged shape whose element count overflows a long must be a format error, not an ArithmeticException. */
    @Test
    void shapeThatOverflowsIsRejectedAsAFormatError() {
        byte[] forged = document(
                "{\"x\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", new byte[4]);
        rejects(forged);
    }

    /** An element count that fits a long but whose byte size does not must not wrap around. */
    @Test
    void byteSizeThatOverflowsIsRejected() {
        // 2^61 elements * 8 bytes wraps to 0: with data_offsets [0,0] that must still be refused
        byte[] forged = document(
                "{\"x\":{\"dtype\":\"F64\",\"shape\":[2305843009213693952],\"data_offsets\":[0,0]}}", new byte[0]);
        rejects(forged);
    }
}
