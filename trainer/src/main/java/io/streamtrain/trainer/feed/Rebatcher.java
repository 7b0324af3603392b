package io.streamtrain.trainer.feed;

import io.streamtrain.core.codec.Batch;
import io.streamtrain.core.codec.FeatureBuffers;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * Cuts a stream of records of any size into training batches of exactly {@code batchSize}
 * samples, keeping sample order; {@link #flush()} hands out the remainder at the end of an
 * epoch, so no sample is dropped and no batch spans two epochs.
 */
final class Rebatcher {
    private final int batchSize;
    private final int features;
    private final int outputs;
    private final boolean classification;
    private final FeatureBuffers buffers;
    private ByteBuffer x;
    private long[] labels;
    private float[] targets;
    private int filled;

    /** @param outputs values of y per sample: class ids (1, or one per position of a causal-lm) or regression targets */
    Rebatcher(int batchSize, int features, boolean classification, int outputs, FeatureBuffers buffers) {
        this.buffers = buffers;
        this.batchSize = batchSize;
        this.features = features;
        this.classification = classification;
        this.outputs = outputs;
        reset();
    }

    /** Adds a record's samples; returns the batches they completed, in order. */
    List<Batch> add(Batch record) {
        if (filled == 0 && record.samples() == batchSize) {
            return List.of(record); // the common case of producers that batch like the trainer: no copy
        }
        List<Batch> done = new ArrayList<>(1);
        int taken = 0;
        while (taken < record.samples()) {
            int n = Math.min(batchSize - filled, record.samples() - taken);
            if (filled == 0) {
                start();
            }
            x.put(4 * filled * features, record.x(), 4 * taken * features, 4 * n * features);
            if (classification) {
                System.arraycopy(record.classLabels(), taken * outputs, labels, filled * outputs, n * outputs);
            } else {
                System.arraycopy(record.targets(), taken * outputs, targets, filled * outputs, n * outputs);
            }
            filled += n;
            taken += n;
            if (filled == batchSize) {
                done.add(emit());
            }
        }
        return done;
    }

    /** The partial batch, or null when empty. */
    Batch flush() {
        return filled == 0 ? null : emit();
    }

    /** Forgets a partial batch (the epoch is being abandoned). */
    void reset() {
        filled = 0;
    }

    /** New arrays for the next batch: the last ones were handed out with their batch. */
    private void start() {
        x = buffers.take(batchSize * features);
        labels = classification ? new long[batchSize * outputs] : null;
        targets = classification ? null : new float[batchSize * outputs];
    }

    private Batch emit() {
        if (filled == batchSize) {
            Batch b = new Batch(filled, features, x, labels, targets, outputs);
            reset();
            return b;
        }
        Batch partial = new Batch(
                filled,
                features,
                buffers.take(filled * features).put(0, x, 0, 4 * filled * features),
                labels == null ? null : java.util.Arrays.copyOf(labels, filled * outputs),
                targets == null ? null : java.util.Arrays.copyOf(targets, filled * outputs),
                outputs);
        buffers.give(x);
        reset();
        return partial;
    }
}
