package io.streamtrain.cli.ingest;

import io.streamtrain.core.codec.DType;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Samples for a byte-level language model: each byte of a text is a token (0..255); a
 * sample is a window of {@code context} tokens as {@code x} and the same window shifted by
 * one as {@code y} (the next token at every position), both int64 {@code [B, context]}.
 * Windows start every {@code stride} tokens and never span two texts; a text shorter than
 * {@code context + 1} bytes gives none.
 */
final class TokenWindows implements Samples {
    /** One text's tokens, and the file it came from. */
    record Text(Path source, byte[] tokens) {}

    private final List<Text> texts;
    private final int context;
    private final int[] text;
    private final int[] start;
    private final SampleLayout layout;
    private final List<Path> tooShort;

    private TokenWindows(List<Text> texts, int context, int[] text, int[] start, List<Path> tooShort) {
        this.texts = List.copyOf(texts);
        this.context = context;
        this.text = text;
        this.start = start;
        this.tooShort = List.copyOf(tooShort);
        this.layout = new SampleLayout(DType.I64, new long[] {context}, DType.I64, new long[] {context});
    }

    static TokenWindows of(List<Text> texts, int context, int stride) {
        if (context < 1 || stride < 1) {
            throw new IllegalArgumentException("context and stride must be at least 1");
        }
        long count = 0;
        List<Path> tooShort = new ArrayList<>();
        for (Text t : texts) {
            long n = windows(t.tokens().length, context, stride);
            if (n == 0) {
                tooShort.add(t.source());
            }
            count += n;
        }
        if (count > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException(
                    count + " windows are too many for one ingest; raise --stride or split the input");
        }
        int[] text = new int[(int) count];
        int[] start = new int[(int) count];
        int w = 0;
        for (int i = 0; i < texts.size(); i++) {
            int length = texts.get(i).tokens().length;
            for (long s = 0; s + context + 1 <= length; s += stride) {
                text[w] = i;
                start[w] = (int) s;
                w++;
            }
        }
        return new TokenWindows(texts, context, text, start, tooShort);
    }

    /** Windows of {@code context + 1} tokens (input and the shifted target) that fit in {@code length} tokens. */
    static long windows(long length, int context, int stride) {
        return length < context + 1L ? 0 : (length - context - 1) / stride + 1;
    }

    /** The texts too short for one window (they contribute nothing). */
    List<Path> tooShort() {
        return tooShort;
    }

    @Override
    public int size() {
        return start.length;
    }

    @Override
    public SampleLayout layout() {
        return layout;
    }

    @Override
    public void putX(int i, ByteBuffer out) {
        put(i, 0, out);
    }

    @Override
    public void putY(int i, ByteBuffer out) {
        put(i, 1, out);
    }

    private void put(int i, int shift, ByteBuffer out) {
        byte[] tokens = texts.get(text[i]).tokens();
        int from = start[i] + shift;
        for (int k = 0; k < context; k++) {
            out.putLong(tokens[from + k] & 0xff);
        }
    }
}
