package io.streamtrain.cli.ingest;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.core.codec.DType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class JsonlReaderTest {
    @Test
    void xArraysAndNumericLabelsRoundTripAndBadLinesAreReported(@TempDir Path dir) throws Exception {
        Path f = Files.writeString(dir.resolve("s.jsonl"), """
                {"x": [0.5, 1, -2.25], "y": 3, "id": "a"}
                {"x": [1, 2], "y": 1}
                not json
                {"x": [1, 2, 3]}
                [1, 2, 3]
                {"x": [1, "two", 3], "y": 1}
                {"x": [4, 5, 6], "y": "1"}

                {"y": 0, "x": [7, 8, 9]}
                """);
        List<String> reports = new ArrayList<>();
        BadLines bad = SampleValues.badLines(reports);
        Samples s = new JsonlReader(DType.F32, LabelType.AUTO).read(List.of(f), bad);
        assertEquals(2, s.size());
        assertEquals(new SampleLayout(DType.F32, new long[] {3}, DType.I64, new long[0]), s.layout());
        assertArrayEquals(new float[] {0.5f, 1, -2.25f}, SampleValues.xFloats(s, 0));
        assertArrayEquals(new long[] {3}, SampleValues.yLongs(s, 0));
        assertArrayEquals(new float[] {7, 8, 9}, SampleValues.xFloats(s, 1));
        assertArrayEquals(new long[] {0}, SampleValues.yLongs(s, 1));
        assertEquals(6, bad.count(), String.join("\n", reports));
        assertTrue(
                reports.get(0)
                        .startsWith("bad line " + f + ":2: x has shape [2] and y [], but the first sample (" + f
                                + ":1) has [3]"),
                reports.get(0));
        assertTrue(reports.get(1).startsWith("bad line " + f + ":3: not JSON"), reports.get(1));
        assertEquals("bad line " + f + ":4: needs fields \"x\" and \"y\"; has [x]", reports.get(2));
        assertEquals("bad line " + f + ":5: not a JSON object", reports.get(3));
        assertEquals("bad line " + f + ":6: \"x\" holds \"two\", not a number", reports.get(4));
        assertEquals("bad line " + f + ":7: y is \"1\", not a number", reports.get(5));
    }

    @Test
    void nestedArraysGiveTheSampleShapeAndArrayLabelsAreTargets(@TempDir Path dir) throws Exception {
        Path f = Files.writeString(dir.resolve("m.jsonl"), """
                {"x": [[1, 2, 3], [4, 5, 6]], "y": [0.5, 1.5]}
                {"x": [[1, 2, 3], [4, 5]], "y": [0.5, 1.5]}
                {"x": [[7, 8, 9], [10, 11, 12]], "y": [2, 3]}
                """);
        List<String> reports = new ArrayList<>();
        Samples s = new JsonlReader(DType.F32, LabelType.AUTO).read(List.of(f), SampleValues.badLines(reports));
        assertEquals(2, s.size());
        assertEquals(new SampleLayout(DType.F32, new long[] {2, 3}, DType.F32, new long[] {2}), s.layout());
        assertArrayEquals(new float[] {7, 8, 9, 10, 11, 12}, SampleValues.xFloats(s, 1));
        assertArrayEquals(new float[] {2, 3}, SampleValues.yFloats(s, 1));
        assertEquals(
                List.of("bad line " + f + ":2: \"x\" is ragged: not every array at depth 1 has 3 elements"), reports);
    }

    @Test
    void tokenIdsStayInt64(@TempDir Path dir) throws Exception {
        Path f = Files.writeString(dir.resolve("t.jsonl"), """
                {"x": [5, 9007199254740993, 7], "y": [9, 7, 1]}
                {"x": [5, 1.5, 7], "y": [9, 7, 1]}
                """);
        List<String> reports = new ArrayList<>();
        Samples s = new JsonlReader(DType.I64, LabelType.INT64).read(List.of(f), SampleValues.badLines(reports));
        assertEquals(1, s.size());
        assertArrayEquals(
                new long[] {5, 9007199254740993L, 7},
                SampleValues.xLongs(s, 0),
                "beyond 2^53: not rounded through a double");
        assertArrayEquals(new long[] {9, 7, 1}, SampleValues.yLongs(s, 0));
        assertEquals(List.of("bad line " + f + ":2: x[1] is 1.5, not an int64 (--x-dtype int64)"), reports);
    }
}
