package io.streamtrain.cli.ingest;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.core.codec.DType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CsvReaderTest {
    @Test
    void theLabelColumnIsYAndTheOtherColumnsAreXInHeaderOrder(@TempDir Path dir) throws Exception {
        Path csv = Files.writeString(dir.resolve("iris.csv"), """
                sepal_length,class,sepal_width,"petal, length"
                5.1,0,3.5,1.4
                4.9,2,3.0,"1.25"

                -1e-3,1,+2,.5
                """);
        List<String> reports = new ArrayList<>();
        Samples s = new CsvReader("class", ',', LabelType.AUTO).read(List.of(csv), SampleValues.badLines(reports));
        assertEquals(List.of(), reports);
        assertEquals(3, s.size());
        assertEquals(new SampleLayout(DType.F32, new long[] {3}, DType.I64, new long[0]), s.layout());
        assertArrayEquals(new float[] {5.1f, 3.5f, 1.4f}, SampleValues.xFloats(s, 0));
        assertArrayEquals(new float[] {4.9f, 3.0f, 1.25f}, SampleValues.xFloats(s, 1));
        assertArrayEquals(new float[] {-1e-3f, 2f, 0.5f}, SampleValues.xFloats(s, 2));
        assertArrayEquals(new long[] {0}, SampleValues.yLongs(s, 0));
        assertArrayEquals(new long[] {2}, SampleValues.yLongs(s, 1));
        assertArrayEquals(new long[] {1}, SampleValues.yLongs(s, 2));
    }

    @Test
    void badLinesAreReportedWithFileAndLineAndSkippedAndTheRestIsRead(@TempDir Path dir) throws Exception {
        Path csv = Files.writeString(dir.resolve("data.csv"), """
                a,b,y
                1,2,0
                1,2
                1,x,1
                ,2,1
                1,NaN,1
                1,2,cat
                1,"2,1
                1,1e39,0
                3,4,1
                """);
        List<String> reports = new ArrayList<>();
        BadLines bad = SampleValues.badLines(reports);
        Samples s = new CsvReader("y", ',', LabelType.AUTO).read(List.of(csv), bad);
        assertEquals(2, s.size(), "the two good lines");
        assertArrayEquals(new float[] {3, 4}, SampleValues.xFloats(s, 1));
        assertEquals(7, bad.count());
        assertEquals(
                List.of(
                        "bad line " + csv + ":3: expected 3 fields, found 2",
                        "bad line " + csv + ":4: column 'b': 'x' is not a number",
                        "bad line " + csv + ":5: column 'a': empty",
                        "bad line " + csv + ":6: column 'b': 'NaN' is not a number",
                        "bad line " + csv
                                + ":7: label column 'y': 'cat' is not a number (labels must be class ids or numeric targets)",
                        "bad line " + csv + ":8: unterminated quote (a record must fit on one line)",
                        "bad line " + csv + ":9: column 'b': 1e39 is outside the float32 range"),
                reports);
        assertTrue(bad.summary().startsWith("7 bad lines skipped (" + csv + ": 7"), bad.summary());
    }

    @Test
    void labelsWrittenAsDecimalsAreFloatTargetsUnlessInt64IsAsked(@TempDir Path dir) throws Exception {
        Path csv = Files.writeString(dir.resolve("r.csv"), "x;target\n1;2.5\n2;3\n3;4.0\n");
        Samples auto = new CsvReader("target", ';', LabelType.AUTO)
                .read(List.of(csv), SampleValues.badLines(new ArrayList<>()));
        assertEquals(DType.F32, auto.layout().yType());
        assertArrayEquals(new float[] {2.5f}, SampleValues.yFloats(auto, 0));

        List<String> reports = new ArrayList<>();
        Samples ints = new CsvReader("target", ';', LabelType.INT64).read(List.of(csv), SampleValues.badLines(reports));
        assertEquals(DType.I64, ints.layout().yType());
        assertEquals(2, ints.size(), "3 and 4.0 are class ids; 2.5 is not");
        assertArrayEquals(new long[] {4}, SampleValues.yLongs(ints, 1));
        assertEquals(
                List.of("bad line " + csv + ":2: label column 'target': 2.5 is not a class id (--y-dtype int64)"),
                reports);
    }

    @Test
    void severalFilesMustShareTheHeaderAndAMissingLabelColumnIsNamed(@TempDir Path dir) throws Exception {
        Path a = Files.writeString(dir.resolve("a.csv"), "\uFEFFf1,f2,label\n1,2,0\n");
        Path b = Files.writeString(dir.resolve("b.csv"), "f1,f2,label\r\n3,4,1\r\n");
        Path c = Files.writeString(dir.resolve("c.csv"), "f1,label\n3,1\n");
        Samples s = new CsvReader("label", ',', LabelType.AUTO)
                .read(List.of(a, b), SampleValues.badLines(new ArrayList<>()));
        assertEquals(2, s.size());
        assertArrayEquals(new float[] {3, 4}, SampleValues.xFloats(s, 1));

        InputException layout = assertThrows(
                InputException.class,
                () -> new CsvReader("label", ',', LabelType.AUTO)
                        .read(List.of(a, c), SampleValues.badLines(new ArrayList<>())));
        assertTrue(layout.getMessage().contains(c + " has the columns [f1, label]"), layout.getMessage());

        InputException label = assertThrows(
                InputException.class,
                () -> new CsvReader("species", ',', LabelType.AUTO)
                        .read(List.of(a), SampleValues.badLines(new ArrayList<>())));
        assertTrue(
                label.getMessage().contains("no column 'species'")
                        && label.getMessage().contains("[f1, f2, label]"),
                label.getMessage());

        Path empty = Files.writeString(dir.resolve("empty.csv"), "\n\n");
        InputException e = assertThrows(
                InputException.class,
                () -> new CsvReader("label", ',', LabelType.AUTO)
                        .read(List.of(empty), SampleValues.badLines(new ArrayList<>())));
        assertTrue(e.getMessage().contains("is empty"), e.getMessage());
    }

    @Test
    void anInputOfOnlyBadLinesReadsAsNoSamplesWithEveryLineCounted(@TempDir Path dir) throws Exception {
        Path csv = Files.writeString(dir.resolve("bad.csv"), "a,y\nx,1\ny,2\n");
        BadLines bad = SampleValues.badLines(new ArrayList<>());
        Samples s = new CsvReader("y", ',', LabelType.AUTO).read(List.of(csv), bad);
        assertEquals(0, s.size());
        assertEquals(2, bad.count());
    }
}
