package io.streamtrain.trainer.feed;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.streamtrain.core.codec.Batch;
import io.streamtrain.core.codec.FeatureBuffers;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class RebatcherTest {
    private static final int FEATURES = 3;

    /** A classification record of {@code n} samples numbered from {@code first}: label = number, x = number*10 + feature. */
    private static Batch record(int first, int n) {
        float[] x = new float[n * FEATURES];
        long[] labels = new long[n];
        for (int i = 0; i < n; i++) {
            labels[i] = first + i;
            for (int f = 0; f < FEATURES; f++) {
                x[i * FEATURES + f] = (first + i) * 10 + f;
            }
        }
        return new Batch(n, FEATURES, x, labels, null, 1);
    }

    private static List<Batch> feed(Rebatcher r, int... sizes) {
        List<Batch> out = new ArrayList<>();
        int next = 0;
        for (int n : sizes) {
            out.addAll(r.add(record(next, n)));
            next += n;
        }
        return out;
    }

    private static void assertSamples(Batch b, int first, int n) {
        assertEquals(n, b.samples());
        assertEquals(FEATURES, b.features());
        assertEquals(n, b.classLabels().length);
        assertEquals(n * FEATURES, b.xValues().length);
        for (int i = 0; i < n; i++) {
            assertEquals(first + i, b.classLabels()[i], "label of sample " + i);
            for (int f = 0; f < FEATURES; f++) {
                assertEquals((first + i) * 10 + f, b.xValues()[i * FEATURES + f], "x of sample " + i + " feature " + f);
            }
        }
    }

    @Test
    void buffersGivenBackAreReusedAndNeverShowTheirOldSamples() {
        FeatureBuffers buffers = new FeatureBuffers(2, 4 * FEATURES);
        Rebatcher r = new Rebatcher(4, FEATURES, true, 1, buffers);
        List<Batch> first = feed(r, 3, 3); // one full batch (0..3), two samples waiting
        assertEquals(1, first.size());
        java.nio.ByteBuffer trained = first.get(0).x();
        buffers.give(trained); // the step is done with it
        Batch partial = r.flush(); // samples 4, 5: a partial batch, in a buffer of its own size
        assertSamples(partial, 4, 2);
        buffers.give(partial.x()); // not kept: not a full batch's size
        List<Batch> next =
                feed(r, 1, 3); // copied into a taken buffer (a record of a whole batch would be handed on as it is)
        assertEquals(1, next.size());
        assertSamples(next.get(0), 0, 4);
        org.junit.jupiter.api.Assertions.assertSame(
                trained, next.get(0).x(), "the buffer given back holds the next full batch");
    }

    @Test
    void sixteenSamplesMakeFourFullBatchesInOrderAndNoRemainder() {
        Rebatcher r = new Rebatcher(4, FEATURES, true, 1, FeatureBuffers.NONE);
        List<Batch> batches = new ArrayList<>();
        batches.addAll(r.add(record(0, 3)));
        assertEquals(0, batches.size(), "3 samples do not fill a batch");
        batches.addAll(r.add(record(3, 7)));
        assertEquals(2, batches.size(), "10 samples fill two batches");
        batches.addAll(r.add(record(10, 1)));
        assertEquals(2, batches.size());
        batches.addAll(r.add(record(11, 5)));
        assertEquals(4, batches.size());
        for (int i = 0; i < 4; i++) {
            assertSamples(batches.get(i), 4 * i, 4);
        }
        assertNull(r.flush(), "nothing left over");
    }

    @Test
    void recordsOfExactlyBatchSizeKeepOrderAroundPartialOnes() {
        Rebatcher r = new Rebatcher(4, FEATURES, true, 1, FeatureBuffers.NONE);
        // whole (passed through), partial, whole (must be spliced, not passed), whole
        List<Batch> batches = feed(r, 4, 2, 4, 4);
        assertEquals(3, batches.size());
        for (int i = 0; i < 3; i++) {
            assertSamples(batches.get(i), 4 * i, 4);
        }
        assertSamples(r.flush(), 12, 2);
    }

    @Test
    void seventeenSamplesLeaveOneForFlush() {
        Rebatcher r = new Rebatcher(4, FEATURES, true, 1, FeatureBuffers.NONE);
        List<Batch> batches = feed(r, 3, 7, 1, 5, 1);
        assertEquals(4, batches.size());
        Batch rest = r.flush();
        assertSamples(rest, 16, 1);
        assertNull(r.flush(), "flush empties the rebatcher");
    }

    @Test
    void emittedBatchesAreNotOverwrittenByLaterSamples() {
        Rebatcher r = new Rebatcher(4, FEATURES, true, 1, FeatureBuffers.NONE);
        List<Batch> first = r.add(record(0, 4));
        r.add(record(4, 3));
        Batch partial = r.flush();
        r.add(record(100, 4));
        assertSamples(first.get(0), 0, 4);
        assertSamples(partial, 4, 3);
    }

    @Test
    void resetDropsThePartialBatch() {
        Rebatcher r = new Rebatcher(4, FEATURES, true, 1, FeatureBuffers.NONE);
        r.add(record(0, 3));
        r.reset();
        List<Batch> out = r.add(record(50, 4));
        assertEquals(1, out.size());
        assertSamples(out.get(0), 50, 4);
        assertNull(r.flush());
    }

    @Test
    void regressionTargetsWithTwoOutputsAreCopiedInOrder() {
        int outputs = 2;
        Rebatcher r = new Rebatcher(3, FEATURES, false, outputs, FeatureBuffers.NONE);
        List<Batch> batches = new ArrayList<>();
        int next = 0;
        for (int n : new int[] {2, 2, 3}) {
            float[] x = new float[n * FEATURES];
            float[] t = new float[n * outputs];
            for (int i = 0; i < n; i++) {
                for (int f = 0; f < FEATURES; f++) {
                    x[i * FEATURES + f] = (next + i) * 10 + f;
                }
                t[i * outputs] = (next + i) + 0.25f;
                t[i * outputs + 1] = -(next + i) - 0.5f;
            }
            batches.addAll(r.add(new Batch(n, FEATURES, x, null, t, outputs)));
            next += n;
        }
        Batch rest = r.flush();
        assertEquals(2, batches.size());
        assertEquals(1, rest.samples());
        List<Batch> all = new ArrayList<>(batches);
        all.add(rest);
        int sample = 0;
        for (Batch b : all) {
            assertNull(b.classLabels());
            assertEquals(outputs, b.outputs());
            assertEquals(b.samples() * outputs, b.targets().length);
            float[] expected = new float[b.samples() * outputs];
            for (int i = 0; i < b.samples(); i++) {
                expected[i * outputs] = (sample + i) + 0.25f;
                expected[i * outputs + 1] = -(sample + i) - 0.5f;
                assertEquals((sample + i) * 10, b.xValues()[i * FEATURES]);
            }
            assertArrayEquals(expected, b.targets());
            sample += b.samples();
        }
        assertEquals(7, sample);
    }

    @Test
    void aCausalLmsLabelsTravelWithTheirSamples() {
        // 2 positions per sample: x = [n, n + 0.5], y = [10n, 10n + 1]
        Rebatcher r = new Rebatcher(3, 2, true, 2, FeatureBuffers.NONE);
        List<Batch> out = new ArrayList<>();
        int next = 0;
        for (int n : new int[] {2, 2, 1}) {
            float[] x = new float[2 * n];
            long[] y = new long[2 * n];
            for (int i = 0; i < n; i++) {
                x[2 * i] = next + i;
                x[2 * i + 1] = next + i + 0.5f;
                y[2 * i] = 10L * (next + i);
                y[2 * i + 1] = 10L * (next + i) + 1;
            }
            out.addAll(r.add(new Batch(n, 2, x, y, null, 2)));
            next += n;
        }
        out.add(r.flush());
        assertEquals(2, out.size());
        assertArrayEquals(new long[] {0, 1, 10, 11, 20, 21}, out.get(0).classLabels());
        assertArrayEquals(new float[] {3, 3.5f, 4, 4.5f}, out.get(1).xValues());
        assertArrayEquals(new long[] {30, 31, 40, 41}, out.get(1).classLabels());
        assertEquals(2, out.get(1).outputs());
    }
}
