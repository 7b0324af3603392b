package io.streamtrain.trainer.sync;

import static io.streamtrain.core.model.Weights.ANCHOR_PREFIX;
import static io.streamtrain.core.model.Weights.OPTIMIZER_PREFIX;
import static io.streamtrain.core.model.Weights.OUTER_MOMENTUM_PREFIX;

import io.streamtrain.core.codec.SafeTensors;
import io.streamtrain.core.codec.Tensor;
import io.streamtrain.core.spec.SyncSpec;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Combines the nodes' contributions at the close of a round. A pure function of the round's
 * base state and the contributions, summed in a fixed order, so every node computes the same
 * bits.
 *
 * <ul>
 *   <li>{@code average}: every parameter becomes the sample-weighted mean of the
 *       contributions. With plain SGD, one step per round and {@code mode: strict} this is
 *       synchronous data-parallel SGD.
 *   <li>{@code nesterov} (DiLoCo): the outer gradient is {@code base − mean}; the outer
 *       momentum {@code m ← μ·m + Δ}; the parameters {@code base − lr·(Δ + μ·m)}. The momentum
 *       travels in the state as {@code outer.momentum.<parameter>}.
 * </ul>
 *
 * <p>Optimizer slots: in {@code strict} mode every contribution carries them and they are
 * averaged like the parameters. In {@code streaming} mode a contribution carries its
 * parameters as an outer gradient ({@link OuterGradients}) and its slots only when its
 * payload says so ({@value #SLOTS_KEY} in its metadata: a node whose partitions reached the
 * epoch's end, or a node alone on the topic); the slots are the plain mean of theirs when
 * every contribution of the round carries them (the epoch's last round), else the base's.
 *
 * <p>L2-SP anchors are the base's (every node has the same ones). Optimizer slots the base
 * lacks (the run's first round: an optimizer makes them at its first step) are taken from
 * the contributions. A round in which nobody trained a sample leaves the parameters as they
 * were.
 */
public final class Combiner {
    /** The payload metadata key of a streaming contribution that carries its optimizer slots. */
    public static final String SLOTS_KEY = "optimizer";

    public static final String SLOTS_INCLUDED = "included";
    /**
     * The payload metadata key of a contribution that resets the round (a ROLLBACK, handed in
     * by the owner of partition 0): its value is the command's id. The round's state is then
     * that payload, whatever the others handed in; the combined state carries the key too.
     */
    public static final String RESET_KEY = "streamtrain.reset";

    /**
     * A node's contribution: its payload and the samples it trained since the base.
     *
     * @param state the payload, or null when it carries none (it trained nothing and holds no slots to hand in)
     */
    public record Weighted(SafeTensors.Document state, long samples) {
        boolean trained() {
            return samples > 0 && state != null;
        }

        boolean carriesSlots() {
            return state != null && SLOTS_INCLUDED.equals(state.metadata().get(SLOTS_KEY));
        }
    }

    private final SyncSpec spec;

    public Combiner(SyncSpec spec) {
        this.spec = spec;
    }

    /**
     * @param base the state the round started from (the last closed round's)
     * @param contributions every contribution of the round, in the round's canonical order
     */
    public SafeTensors.Document combine(SafeTensors.Document base, List<Weighted> contributions) {
        Map<String, String> metadata = new java.util.LinkedHashMap<>(base == null ? Map.of() : base.metadata());
        metadata.remove(RESET_KEY); // a reset marks the round it closed, not the ones after
        for (Weighted w : contributions) {
            String reset = w.state() == null ? null : w.state().metadata().get(RESET_KEY);
            if (reset != null) {
                // the first in the round's canonical order: every node takes the same one
                Map<String, String> marked = new java.util.LinkedHashMap<>(metadata);
                marked.put(RESET_KEY, reset);
                return new SafeTensors.Document(w.state().tensors(), marked);
            }
        }
        if (base != null && base.metadata().containsKey(RESET_KEY)) {
            base = new SafeTensors.Document(base.tensors(), metadata);
        }
        List<Weighted> trained =
                contributions.stream().filter(Weighted::trained).toList();
        if (!spec.streaming()) {
            return trained.isEmpty() ? base : strict(base, trained);
        }
        boolean slots = !contributions.isEmpty() && contributions.stream().allMatch(Weighted::carriesSlots);
        if (trained.isEmpty() && !slots) {
            return base;
        }
        long total = trained.stream().mapToLong(Weighted::samples).sum();
        List<Tensor> out = new ArrayList<>();
        for (Tensor t : base.tensors().values()) {
            String name = t.name();
            if (name.startsWith(OPTIMIZER_PREFIX)) {
                if (!slots) {
                    out.add(t);
                }
            } else if (name.startsWith(ANCHOR_PREFIX) || name.startsWith(OUTER_MOMENTUM_PREFIX)) {
                if (!(spec.nesterov() && name.startsWith(OUTER_MOMENTUM_PREFIX) && total > 0)) {
                    out.add(t);
                }
            } else if (total == 0) {
                out.add(t);
            } else {
                Tensor alone = spec.nesterov() ? null : alone(trained, t);
                if (alone != null) {
                    out.add(alone);
                } else {
                    combineParameter(base, t, streamingMean(t, trained, total), out);
                }
            }
        }
        if (slots) {
            out.addAll(slotMeans(contributions));
        }
        return new SafeTensors.Document(ordered(out), base.metadata());
    }

    private SafeTensors.Document strict(SafeTensors.Document base, List<Weighted> contributions) {
        long total = contributions.stream().mapToLong(Weighted::samples).sum();
        List<Tensor> out = new ArrayList<>();
        for (Tensor t : tensorsToCombine(base, contributions)) {
            String name = t.name();
            if (name.startsWith(ANCHOR_PREFIX) || name.startsWith(OUTER_MOMENTUM_PREFIX)) {
                if (!(spec.nesterov() && name.startsWith(OUTER_MOMENTUM_PREFIX))) {
                    out.add(t); // anchors as they are; a nesterov momentum is rewritten with its parameter below
                }
                continue;
            }
            Tensor alone = alone(contributions, t);
            if (alone != null && (name.startsWith(OPTIMIZER_PREFIX) || !spec.nesterov())) {
                out.add(alone);
                continue;
            }
            float[] mean = mean(name, t.shape(), contributions, total);
            if (name.startsWith(OPTIMIZER_PREFIX)) {
                out.add(Tensor.ofFloats(name, t.shape(), mean));
            } else {
                combineParameter(base, t, mean, out);
            }
        }
        return new SafeTensors.Document(ordered(out), base.metadata());
    }

    /**
     * The round's one contribution's own float32 value of {@code like}, when it is the whole
     * mean: one contribution weighs 1, and its values pass through the mean bit for bit (−0.0 +
     * 1·x = x in IEEE, float to double and back exact), so taking the tensor as it is gives the
     * same bits without decoding, summing and encoding a lone node's whole state every round
     * (docs/benchmarks.md). Null when there are several, or the value travelled in another
     * encoding or as an outer gradient.
     */
    private static Tensor alone(List<Weighted> contributions, Tensor like) {
        if (contributions.size() != 1 || contributions.get(0).state() == null) {
            return null;
        }
        Tensor own = contributions.get(0).state().tensor(like.name());
        return own != null
                        && own.dtype() == io.streamtrain.core.codec.DType.F32
                        && Arrays.equals(own.shape(), like.shape())
                ? own
                : null;
    }

    private void combineParameter(SafeTensors.Document base, Tensor param, float[] mean, List<Tensor> out) {
        if (spec.nesterov()) {
            outerStep(base, param, mean, out);
        } else {
            out.add(Tensor.ofFloats(param.name(), param.shape(), mean));
        }
    }

    /** The sample-weighted mean of the nodes' values of {@code param}, each as its contribution gives it. */
    private static float[] streamingMean(Tensor param, List<Weighted> trained, long total) {
        return weightedMean(Math.toIntExact(param.elements()), trained, w -> (double) w.samples() / total, w -> {
            double[] v = OuterGradients.parameter(w.state(), param);
            if (v == null) {
                throw new IllegalArgumentException(
                        "a contribution carries neither " + param.name() + " nor its outer gradient");
            }
            return v;
        });
    }

    /** Each optimizer slot any contribution carries: the plain mean over those that carry it, in their order. */
    private static List<Tensor> slotMeans(List<Weighted> contributions) {
        Map<String, List<Tensor>> slots = new java.util.LinkedHashMap<>();
        for (Weighted w : contributions) {
            for (Tensor t : w.state().tensors().values()) {
                if (t.name().startsWith(OPTIMIZER_PREFIX)) {
                    slots.computeIfAbsent(t.name(), k -> new ArrayList<>()).add(t);
                }
            }
        }
        List<Tensor> out = new ArrayList<>();
        slots.forEach((name, ts) -> {
            long[] shape = ts.get(0).shape();
            if (ts.size() == 1 && ts.get(0).dtype() == io.streamtrain.core.codec.DType.F32) {
                out.add(ts.get(0)); // the mean of one, bit for bit (see alone)
                return;
            }
            out.add(Tensor.ofFloats(
                    name,
                    shape,
                    weightedMean(
                            Math.toIntExact(ts.get(0).elements()),
                            ts,
                            t -> 1.0 / ts.size(),
                            t -> values(t, name, shape))));
        });
        return out;
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
        return weightedMean(
                n,
                contributions,
                w -> (double) w.samples() / total,
                w -> values(w.state().tensor(name), name, shape));
    }

    /** {@code t}'s values, when it is there and of {@code shape}. */
    private static double[] values(Tensor t, String name, long[] shape) {
        if (t == null || !Arrays.equals(t.shape(), shape)) {
            throw new IllegalArgumentException(
                    "a contribution has no tensor " + name + " of shape " + Arrays.toString(shape));
        }
        float[] v = t.toFloats();
        double[] out = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            out[i] = v[i];
        }
        return out;
    }

    /** Σ weight(x)·values(x) over {@code xs} in their order, summed in double and rounded to float once. */
    private static <T> float[] weightedMean(
            int n,
            List<T> xs,
            java.util.function.ToDoubleFunction<T> weight,
            java.util.function.Function<T, double[]> values) {
        double[] acc = new double[n];
        // an IEEE sum starts at -0.0: then a single contribution's -0.0 stays -0.0, bit for bit
        Arrays.fill(acc, -0.0);
        for (T x : xs) {
            double[] v = values.apply(x);
            double w = weight.applyAsDouble(x);
            for (int i = 0; i < n; i++) {
                acc[i] += w * v[i];
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
        Tensor m0 = base.tensor(OUTER_MOMENTUM_PREFIX + param.name());
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
        out.add(Tensor.ofFloats(OUTER_MOMENTUM_PREFIX + param.name(), param.shape(), m));
    }

    private static Map<String, Tensor> ordered(List<Tensor> tensors) {
        Map<String, Tensor> m = new java.util.LinkedHashMap<>();
        tensors.forEach(t -> m.put(t.name(), t));
        return m;
    }
}
