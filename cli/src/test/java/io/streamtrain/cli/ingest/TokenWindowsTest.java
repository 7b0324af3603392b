package io.streamtrain.cli.ingest;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.streamtrain.core.codec.DType;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Raw text for a byte-level language model: windows, targets shifted by one, never across files. */
class TokenWindowsTest {
    static long[] tokens(String s, int from, int n) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        long[] out = new long[n];
        for (int i = 0; i < n; i++) {
            out[i] = b[from + i] & 0xff;
        }
        return out;
    }

    @Test
    void eachWindowIsXAndTheSameWindowShiftedByOneIsY(@TempDir Path dir) throws Exception {
        String a = "hello, wörld! abcdefgh"; // ö is two bytes: tokens are bytes, not characters
        String b = "0123456789";
        Files.createDirectories(dir.resolve("texts"));
        Files.writeString(dir.resolve("texts/a.txt"), a);
        Files.writeString(dir.resolve("texts/b.txt"), b);
        Files.writeString(dir.resolve("texts/c.txt"), "tiny");
        Files.writeString(dir.resolve("texts/.hidden"), "ignored, hidden files are not inputs");
        List<TokenWindows.Text> texts = TextReader.raw(List.of(dir.resolve("texts")));
        assertEquals(
                List.of(dir.resolve("texts/a.txt"), dir.resolve("texts/b.txt"), dir.resolve("texts/c.txt")),
                texts.stream().map(TokenWindows.Text::source).toList());

        TokenWindows w = TokenWindows.of(texts, 4, 4);
        assertEquals(new SampleLayout(DType.I64, new long[] {4}, DType.I64, new long[] {4}), w.layout());
        int aBytes = a.getBytes(StandardCharsets.UTF_8).length; // 23: windows at 0, 4, ..., 16 (16 + 5 <= 23)
        assertEquals(5, TokenWindows.windows(aBytes, 4, 4));
        assertEquals(5 + 2, w.size(), "b.txt (10 bytes) holds windows at 0 and 4; c.txt (4 bytes) none");
        assertEquals(List.of(dir.resolve("texts/c.txt")), w.tooShort());
        assertArrayEquals(tokens(a, 0, 4), SampleValues.xLongs(w, 0));
        assertArrayEquals(tokens(a, 1, 4), SampleValues.yLongs(w, 0));
        assertArrayEquals(tokens(a, 16, 4), SampleValues.xLongs(w, 4));
        assertArrayEquals(tokens(a, 17, 4), SampleValues.yLongs(w, 4));
        assertArrayEquals(tokens(b, 4, 4), SampleValues.xLongs(w, 6));
        assertArrayEquals(tokens(b, 5, 4), SampleValues.yLongs(w, 6));
        assertEquals(
                0xc3,
                SampleValues.xLongs(w, 2)[0],
                "the first byte of ö (UTF-8 c3 b6)"); // "o, w" at 4.., "ö" starts at 8
    }

    @Test
    void aStrideShorterThanTheContextOverlapsWindows() {
        TokenWindows w = TokenWindows.of(
                List.of(new TokenWindows.Text(Path.of("x"), "abcdefg".getBytes(StandardCharsets.US_ASCII))), 3, 1);
        assertEquals(4, w.size(), "starts 0..3: each needs 4 bytes");
        assertArrayEquals(new long[] {'d', 'e', 'f'}, SampleValues.xLongs(w, 3));
        assertArrayEquals(new long[] {'e', 'f', 'g'}, SampleValues.yLongs(w, 3));
    }
}
