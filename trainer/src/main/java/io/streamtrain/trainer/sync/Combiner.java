package io.streamtrain.trainer.sync;

import io.streamtrain.core.codec.SafeTensors;
import io.streamtrain.core.codec.Tensor;
import io.streamtrain.core.spec.SyncSpec;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Combines the nodes' states at the close of a round. A pure function of the round's base
 * state and the contributions, summed in a fixed order, so every node computes the same
 * bits.
 *
 * <ul>
 *   <li>{@code average}: every parameter and optimizer slot becomes the sample-weighted mean
 *       of the contributions. With plain SGD and one step per round this is synchronous
 *       data-parallel SGD.
 *   <li>{@code nesterov} (DiLoCo): the outer gradient is {@code base − mean}; the outer
 *       momentum {@code m ← μ·m + Δ}; the parameters {@code base − lr·(Δ + μ·m)}. The momentum
 *       travels in the state as {@code outer.momentum.<parameter>}. Optimizer slots are
 *       averaged as above.
 * </ul>
 *
 * L2-SP anchors are the base's (every node has the same ones). Optimizer slots the base
 * lacks (the run's first round: an optimizer makes them at its first step) are averaged
 * from the contributions. A round in which nobody trained a sample leaves the base as it
 * was.
 */
public final class Combiner {
    public static final String OPTIMIZER_PREFIX = "optimizer.";
    public static final String ANCHOR_PREFIX = "anchor.";
    public static final String MOMENTUM_PREFIX = "outer.momentum.";

    /** A node's state and the samples it trained since the base. */
    public record Weighted(SafeTensors.Document state, long samples) {}

    private final SyncSpec spec;

    public Combiner(SyncSpec spec) {
        this.spec = spec;
    }

    /**
     * @param base the state the round started from (the last closed round's)
     * @param contributions in a fixed order (the round's canonical order), samples > 0 each
     */
    public SafeTensors.Document combine(SafeTensors.Document base, List<Weighted> contributions) {
        long total = contributions.stream().mapToLong(Weighted::samples).sum();
        if (total == 0) {
            return base;
        }
        List<Tensor> out = new ArrayList<>();
        for (Tensor t : tensorsToCombine(base, contributions)) {
            String name = t.name();
            if (name.startsWith(ANCHOR_PREFIX) || name.startsWith(MOMENTUM_PREFIX)) {
                if (!(spec.nesterov() && name.startsWith(MOMENTUM_PREFIX))) {
                    out.add(t); // anchors as they are; a nesterov momentum is rewritten with its parameter below
                }
                continue;
            }
            float[] mean = mean(name, t.shape(), contributions, total);
            if (name.startsWith(OPTIMIZER_PREFIX) || !spec.nesterov()) {
                out.add(Tensor.ofFloats(name, t.shape(), mean));
            } else {
                outerStep(base, t, mean, out);
            }
        }
        return new SafeTensors.Document(ordered(out), base.metadata());
    }

    /**
     * The base's tensors, then optimizer slots the contributions made since (an optimizer
     * makes its slots at its first step, so the run's first base has none): the slots
     * carry on from round to round like the parameters.
     */
    private static List<Tensor> tensorsToCombine(SafeTensors.Document base, List<Weighted> contributions) {
        List<Tensor> out = new ArrayList<>(base.tensors().values());
        for (Tensor t : contributions.get(0).state().tensors().values()) {
            if (t.name().startsWith(OPTIMIZER_PREFIX) && base.tensor(t.name()) == null) {
                out.add(t);
            }
        }
        return out;
    }

    private static float[] mean(String name, long[] shape, List<Weighted> contributions, long total) {
        int n = (int) Arrays.stream(shape).reduce(1, (a, b) -> a * b);
        double[] acc = new double[n];
        // an IEEE sum starts at -0.0: then a single contribution's -0.0 stays -0.0, bit for bit
        Arrays.fill(acc, -0.0);
        for (Weighted w : contributions) {
            Tensor t = w.state().tensor(name);
            if (t == null || !Arrays.equals(t.shape(), shape)) {
                throw new IllegalArgumentException("a contribution has no tensor " + name + " of shape " + Arrays.toString(shape));
            }
            float[] v = t.toFloats();
            double weight = (double) w.samples() / total;
            for (int i = 0; i < n; i++) {
                acc[i] += weight * v[i];
            }
        }
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = (float) acc[i];
        }
        return out;
    }

    private void outerStep(SafeTensors.Document base, Tensor param, float[] mean, List<Tensor> out) {
        float[] w = param.toFloats();
        Tensor m0 = base.tensor(MOMENTUM_PREFIX + param.name());
        float[] m = m0 == null ? new float[w.length] : m0.toFloats();
        double mu = spec.outerMomentum();
        double lr = spec.outerLearningRate();
        float[] next = new float[w.length];
        for (int i = 0; i < w.length; i++) {
            double delta = (double) w[i] - mean[i];
            double momentum = mu * m[i] + delta;
            m[i] = (float) momentum;
            next[i] = (float) (w[i] - lr * (delta + mu * momentum));
        }
        out.add(Tensor.ofFloats(param.name(), param.shape(), next));
        out.add(Tensor.ofFloats(MOMENTUM_PREFIX + param.name(), param.shape(), m));
    }

    private static Map<String, Tensor> ordered(List<Tensor> tensors) {
        Map<String, Tensor> m = new java.util.LinkedHashMap<>();
        tensors.forEach(t -> m.put(t.name(), t));
        return m;
    }
}
