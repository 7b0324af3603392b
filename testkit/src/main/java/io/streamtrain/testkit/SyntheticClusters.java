package io.streamtrain.testkit;

import io.streamtrain.core.codec.BatchCodec;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * A built-in classification task that needs no download: each class is a Gaussian blob
 * around its own random centre in {@code features} dimensions, with label noise so a large
 * model can overfit the training set. Deterministic for a seed.
 */
public final class SyntheticClusters {
    private final int features;
    private final int classes;
    private final double spread;
    private final double labelNoise;
    private final float[][] centres;

    public SyntheticClusters(int features, int classes, double spread, double labelNoise, long seed) {
        this.features = features;
        this.classes = classes;
        this.spread = spread;
        this.labelNoise = labelNoise;
        SplittableRandom r = new SplittableRandom(seed);
        centres = new float[classes][features];
        for (float[] c : centres) {
            for (int i = 0; i < features; i++) {
                c[i] = (float) r.nextGaussian();
            }
        }
    }

    public int features() {
        return features;
    }

    public int classes() {
        return classes;
    }

    /** Encoded batch records of {@code samplesPerRecord} samples each, from {@code seed}. */
    public List<byte[]> records(int count, int samplesPerRecord, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        List<byte[]> out = new ArrayList<>(count);
        for (int n = 0; n < count; n++) {
            float[] x = new float[samplesPerRecord * features];
            long[] y = new long[samplesPerRecord];
            for (int s = 0; s < samplesPerRecord; s++) {
                int label = r.nextInt(classes);
                for (int i = 0; i < features; i++) {
                    x[s * features + i] = centres[label][i] + (float) (spread * r.nextGaussian());
                }
                y[s] = r.nextDouble() < labelNoise ? r.nextInt(classes) : label;
            }
            out.add(BatchCodec.encode(x, new long[] {samplesPerRecord, features}, y));
        }
        return out;
    }
}
