package io.streamtrain.trainer.model;

import io.streamtrain.core.codec.Batch;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.core.spec.RunSpecParser;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

/** Run specs of the smallest cnn and causal-lm that still have every part, and batches for them. */
final class TinyModels {
    static final int LM_CONTEXT = 8;
    static final int IMAGE = 8;

    private TinyModels() {}

    /** A cnn on 1x8x8 images: two conv/pool stages (4 and 8 channels), a dense layer of 16, 3 classes. */
    static RunSpec cnn(double dropout, String extra) {
        return RunSpecParser.parse("""
                run: tiny-cnn
                data: { train: t }
                model: { type: cnn, inputShape: [1, %d, %d], conv: [4, 8], hidden: [16], classes: 3, dropout: %s, convDropout: %s }
                optimizer: { type: sgd, learningRate: 0.05 }
                %s
                """.formatted(IMAGE, IMAGE, dropout, dropout, extra));
    }

    /** A causal-lm of 2 layers, 2 heads, width 16 over 8 positions. */
    static RunSpec lm(double dropout, boolean tied, String extra) {
        return lm(16, dropout, tied, extra);
    }

    static RunSpec lm(int width, double dropout, boolean tied, String extra) {
        return lm(width, dropout, tied, "{ type: adamw, learningRate: 0.01 }", extra);
    }

    static RunSpec lm(int width, double dropout, boolean tied, String optimizer, String extra) {
        return RunSpecParser.parse("""
                run: tiny-lm
                data: { train: t }
                model: { type: causal-lm, context: %d, layers: 2, heads: 2, width: %d, mlpWidth: 32, dropout: %s,
                         attentionDropout: %s, tieEmbeddings: %s }
                optimizer: %s
                %s
                """.formatted(LM_CONTEXT, width, dropout, dropout, tied, optimizer, extra));
    }

    /** Images whose class is the quadrant holding the bright spot (or none: class 2). */
    static Batch images(int n, long seed) {
        Random r = new Random(seed);
        int pixels = IMAGE * IMAGE;
        float[] x = new float[n * pixels];
        long[] y = new long[n];
        for (int i = 0; i < n; i++) {
            for (int p = 0; p < pixels; p++) {
                x[i * pixels + p] = (float) (0.1 * r.nextGaussian());
            }
            y[i] = i % 3;
            if (y[i] < 2) {
                int row = r.nextInt(IMAGE / 2);
                int col = r.nextInt(IMAGE / 2) + (y[i] == 1 ? IMAGE / 2 : 0);
                x[i * pixels + row * IMAGE + col] = 1f;
            }
        }
        return new Batch(n, pixels, x, y, null, 1);
    }

    /** Byte windows of a repeating text, with the next byte at every position. */
    static Batch text(int n, long seed) {
        byte[] text = "the cat sat on the mat; the dog sat on the log. "
                .repeat(8)
                .getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        Random r = new Random(seed);
        float[] x = new float[n * LM_CONTEXT];
        long[] y = new long[n * LM_CONTEXT];
        for (int i = 0; i < n; i++) {
            int start = r.nextInt(text.length - LM_CONTEXT - 1);
            for (int t = 0; t < LM_CONTEXT; t++) {
                x[i * LM_CONTEXT + t] = text[start + t];
                y[i * LM_CONTEXT + t] = text[start + t + 1];
            }
        }
        return new Batch(n, LM_CONTEXT, x, y, null, LM_CONTEXT);
    }

    static Map<String, float[]> values(Map<String, ai.djl.ndarray.NDArray> arrays) {
        Map<String, float[]> out = new LinkedHashMap<>();
        arrays.forEach((name, a) -> out.put(name, a.toFloatArray()));
        return out;
    }
}
