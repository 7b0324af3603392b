package io.streamtrain.core.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.util.Pair;
import io.streamtrain.core.codec.SafeTensors;
import io.streamtrain.core.codec.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Moves weights between safetensors documents and DJL parameters, by name. */
public final class Weights {
    /** A checkpoint payload's optimizer slot of a parameter: {@code optimizer.<slot>.<parameter>}. */
    public static final String OPTIMIZER_PREFIX = "optimizer.";
    /** A parameter's L2-SP anchor (its initial weights): {@code anchor.<parameter>}. */
    public static final String ANCHOR_PREFIX = "anchor.";
    /** The outer (Nesterov) optimizer's momentum of a parameter: {@code outer.momentum.<parameter>}. */
    public static final String OUTER_MOMENTUM_PREFIX = "outer.momentum.";

    /**
     * Tensors of a checkpoint payload (or an export with {@code --with-optimizer}) that are
     * not model parameters: optimizer slots, L2-SP anchors, the outer optimizer's momentum.
     */
    private static final List<String> STATE_PREFIXES = List.of(OPTIMIZER_PREFIX, ANCHOR_PREFIX, "outer.");

    private Weights() {}

    /** Overwrites {@code target} in place with the values of {@code t} (same shape). */
    public static void assign(NDArray target, Tensor t) {
        if (!target.getShape().equals(new Shape(t.shape()))) {
            throw new IllegalArgumentException(
                    "tensor '" + t.name() + "' is " + new Shape(t.shape()) + ", its target is " + target.getShape());
        }
        try (NDManager scratch = target.getManager().newSubManager()) {
            target.set(new NDIndex("..."), scratch.create(t.toFloats(), new Shape(t.shape())));
        }
    }

    /**
     * Loads every parameter of an initialized block from {@code doc}, or none: all names and
     * shapes are checked before the first is written, so a mismatch never half-loads a model.
     * Tensors the model has no parameter for are ignored (a checkpoint payload also holds
     * optimizer state).
     *
     * @param source names the document in error messages
     */
    public static void load(Block block, SafeTensors.Document doc, String source) {
        Match m = match(block, doc.tensors());
        if (!m.missing().isEmpty() || !m.mismatched().isEmpty()) {
            throw new IllegalArgumentException(source + " does not fit the model: " + m.problems(false));
        }
        m.assignAll();
    }

    /**
     * Loads pretrained weights: every parameter of the block from the tensor of the same name,
     * and every tensor of {@code tensors} must be a parameter of the block (tensors of
     * optimizer state, L2-SP anchors and outer momentum excepted), or nothing is loaded.
     *
     * @throws IllegalArgumentException listing every missing, unexpected and mismatched name
     */
    public static void loadExactly(Block block, Map<String, Tensor> tensors, String source) {
        Match m = match(block, tensors);
        if (!m.fits()) {
            throw new IllegalArgumentException(
                    source + " does not fit the model (parameters are matched by name and shape): " + m.problems(true));
        }
        m.assignAll();
    }

    /** How a document's tensors line up with a block's parameters. */
    public static Match match(Block block, Map<String, Tensor> tensors) {
        List<Pair<Parameter, Tensor>> pairs = new ArrayList<>();
        List<String> missing = new ArrayList<>();
        List<String> mismatched = new ArrayList<>();
        Map<String, Tensor> unexpected = new LinkedHashMap<>(tensors);
        STATE_PREFIXES.forEach(prefix -> unexpected.keySet().removeIf(name -> name.startsWith(prefix)));
        for (Pair<String, Parameter> p : block.getParameters()) {
            Tensor t = tensors.get(p.getKey());
            unexpected.remove(p.getKey());
            Shape want = p.getValue().getArray().getShape();
            if (t == null) {
                missing.add(p.getKey() + " " + want);
            } else if (!want.equals(new Shape(t.shape()))) {
                mismatched.add("'" + p.getKey() + "' is " + new Shape(t.shape()) + ", the model needs " + want);
            } else {
                pairs.add(new Pair<>(p.getValue(), t));
            }
        }
        List<String> extra = unexpected.values().stream()
                .map(t -> t.name() + " " + new Shape(t.shape()))
                .toList();
        return new Match(pairs, missing, extra, mismatched);
    }

    /**
     * @param missing parameters of the model the document lacks (name and shape)
     * @param unexpected tensors of the document the model has no parameter for (name and shape)
     * @param mismatched names in both whose shapes differ
     */
    public record Match(
            List<Pair<Parameter, Tensor>> pairs,
            List<String> missing,
            List<String> unexpected,
            List<String> mismatched) {

        public boolean fits() {
            return missing.isEmpty() && unexpected.isEmpty() && mismatched.isEmpty();
        }

        /** One sentence per kind of problem. */
        public String problems(boolean withUnexpected) {
            List<String> parts = new ArrayList<>();
            if (!mismatched.isEmpty()) {
                parts.add(count(mismatched.size(), "shape mismatch", "shape mismatches") + ": "
                        + String.join(", ", mismatched));
            }
            if (!missing.isEmpty()) {
                parts.add(count(missing.size(), "model parameter", "model parameters") + " missing from it: "
                        + String.join(", ", missing));
            }
            if (withUnexpected && !unexpected.isEmpty()) {
                parts.add(count(unexpected.size(), "tensor", "tensors") + " the model has no parameter for: "
                        + String.join(", ", unexpected));
            }
            return String.join("; ", parts);
        }

        void assignAll() {
            pairs.forEach(p -> assign(p.getKey().getArray(), p.getValue()));
        }

        private static String count(int n, String one, String many) {
            return n + " " + (n == 1 ? one : many);
        }
    }
}
