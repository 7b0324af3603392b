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
import java.util.List;

/** Moves weights between safetensors documents and DJL parameters, by name. */
public final class Weights {
    private Weights() {}

    /** Overwrites {@code target} in place with the values of {@code t} (same shape). */
    public static void assign(NDArray target, Tensor t) {
        if (!target.getShape().equals(new Shape(t.shape()))) {
            throw new IllegalArgumentException("tensor '" + t.name() + "' is " + new Shape(t.shape()) + ", its target is " + target.getShape());
        }
        try (NDManager scratch = target.getManager().newSubManager()) {
            target.set(new NDIndex("..."), scratch.create(t.toFloats(), new Shape(t.shape())));
        }
    }

    /**
     * Loads every parameter of an initialized block from {@code doc}, or none: all names and
     * shapes are checked before the first is written, so a mismatch never half-loads a model.
     *
     * @param source names the document in error messages
     */
    public static void load(Block block, SafeTensors.Document doc, String source) {
        List<Pair<Parameter, Tensor>> pairs = new ArrayList<>();
        List<String> problems = new ArrayList<>();
        for (Pair<String, Parameter> p : block.getParameters()) {
            Tensor t = doc.tensor(p.getKey());
            Shape want = p.getValue().getArray().getShape();
            if (t == null) {
                problems.add("no tensor '" + p.getKey() + "'");
            } else if (!want.equals(new Shape(t.shape()))) {
                problems.add("'" + p.getKey() + "' is " + new Shape(t.shape()) + ", the model needs " + want);
            } else {
                pairs.add(new Pair<>(p.getValue(), t));
            }
        }
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException(source + " does not fit the model: " + String.join("; ", problems));
        }
        pairs.forEach(p -> assign(p.getKey().getArray(), p.getValue()));
    }
}
