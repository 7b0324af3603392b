package io.streamtrain.cli.ingest;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.core.codec.DType;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** IDX files of the MNIST family, written here byte by byte from the format's description. */
class IdxReaderTest {
    static final int COUNT = 5;
    static final int ROWS = 3;
    static final int COLS = 4;

    static byte[] pixels() {
        byte[] p = new byte[COUNT * ROWS * COLS];
        for (int i = 0; i < p.length; i++) {
            p[i] = (byte) (i * 37 % 256);
        }
        p[0] = (byte) 255; // 255 must read as 1.0, not -1/255
        return p;
    }

    static final byte[] LABELS = {9, 0, 3, 7, 1};

    /** Writes images and labels into {@code dir}; gzipped when asked; returns [images, labels]. */
    static List<Path> write(Path dir, boolean gzip) throws IOException {
        byte[] images = IdxFiles.idx(new int[] {COUNT, ROWS, COLS}, pixels());
        byte[] labels = IdxFiles.idx(new int[] {COUNT}, LABELS);
        return List.of(
                Files.write(
                        dir.resolve("images-idx3-ubyte" + (gzip ? ".gz" : "")), gzip ? IdxFiles.gzip(images) : images),
                Files.write(
                        dir.resolve("labels-idx1-ubyte" + (gzip ? ".gz" : "")), gzip ? IdxFiles.gzip(labels) : labels));
    }

    @Test
    void pixelsAreScaledToUnitFloatsAndLabelsAreInt64InInputOrder(@TempDir Path dir) throws Exception {
        List<Path> files = write(dir, false);
        Samples s = IdxReader.read(files, IdxReader.ImageShape.FLAT);
        assertEquals(COUNT, s.size());
        assertEquals(new SampleLayout(DType.F32, new long[] {ROWS * COLS}, DType.I64, new long[0]), s.layout());
        byte[] p = pixels();
        for (int i = 0; i < COUNT; i++) {
            float[] expected = new float[ROWS * COLS];
            for (int k = 0; k < expected.length; k++) {
                expected[k] = (p[i * ROWS * COLS + k] & 0xff) / 255f;
            }
            assertArrayEquals(expected, SampleValues.xFloats(s, i), "image " + i);
            assertArrayEquals(new long[] {LABELS[i]}, SampleValues.yLongs(s, i), "label " + i);
        }
        assertEquals(1.0f, SampleValues.xFloats(s, 0)[0]);
    }

    @Test
    void gzippedFilesInEitherOrderReadTheSameAndChwKeepsTheImageShape(@TempDir Path dir) throws Exception {
        List<Path> plain = write(Files.createDirectory(dir.resolve("plain")), false);
        List<Path> gz = write(Files.createDirectory(dir.resolve("gz")), true);
        Samples a = IdxReader.read(plain, IdxReader.ImageShape.FLAT);
        Samples b = IdxReader.read(List.of(gz.get(1), gz.get(0)), IdxReader.ImageShape.CHW);
        assertArrayEquals(new long[] {1, ROWS, COLS}, b.layout().xShape());
        for (int i = 0; i < COUNT; i++) {
            assertArrayEquals(SampleValues.xFloats(a, i), SampleValues.xFloats(b, i));
            assertArrayEquals(SampleValues.yLongs(a, i), SampleValues.yLongs(b, i));
        }
    }

    @Test
    void filesThatAreNotAMatchingPairAreRefusedByName(@TempDir Path dir) throws Exception {
        List<Path> files = write(dir, false);
        Path shortLabels = Files.write(
                dir.resolve("short-labels"), IdxFiles.idx(new int[] {COUNT - 1}, Arrays.copyOf(LABELS, COUNT - 1)));
        InputException counts = assertThrows(
                InputException.class,
                () -> IdxReader.read(List.of(files.get(0), shortLabels), IdxReader.ImageShape.FLAT));
        assertTrue(
                counts.getMessage().contains("5 images") && counts.getMessage().contains("4 labels"),
                counts.getMessage());

        byte[] whole = Files.readAllBytes(files.get(0));
        Path truncated = Files.write(dir.resolve("truncated"), Arrays.copyOf(whole, whole.length - 3));
        InputException t = assertThrows(
                InputException.class,
                () -> IdxReader.read(List.of(truncated, files.get(1)), IdxReader.ImageShape.FLAT));
        assertTrue(
                t.getMessage().contains("truncated") && t.getMessage().contains(truncated.toString()), t.getMessage());

        Path csv = Files.writeString(dir.resolve("x.csv"), "a,b\n1,2\n");
        InputException notIdx = assertThrows(
                InputException.class, () -> IdxReader.read(List.of(csv, files.get(1)), IdxReader.ImageShape.FLAT));
        assertTrue(notIdx.getMessage().contains("not an IDX file"), notIdx.getMessage());

        byte[] floats = IdxFiles.idx(new int[] {COUNT}, LABELS);
        floats[2] = 0x0D;
        Path floatFile = Files.write(dir.resolve("floats"), floats);
        InputException type = assertThrows(
                InputException.class,
                () -> IdxReader.read(List.of(files.get(0), floatFile), IdxReader.ImageShape.FLAT));
        assertTrue(type.getMessage().contains("0xd"), type.getMessage());

        InputException two = assertThrows(
                InputException.class,
                () -> IdxReader.read(List.of(files.get(1), files.get(1)), IdxReader.ImageShape.FLAT));
        assertTrue(two.getMessage().contains("3 dimensions"), two.getMessage());

        InputException missing = assertThrows(
                InputException.class,
                () -> IdxReader.read(List.of(dir.resolve("nope"), files.get(1)), IdxReader.ImageShape.FLAT));
        assertTrue(missing.getMessage().contains("no such file"), missing.getMessage());
    }
}
