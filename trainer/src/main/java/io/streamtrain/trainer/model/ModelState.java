package io.streamtrain.trainer.model;

import static io.streamtrain.core.model.Weights.ANCHOR_PREFIX;
import static io.streamtrain.core.model.Weights.OPTIMIZER_PREFIX;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.util.Pair;
import io.streamtrain.core.checkpoint.CheckpointManifest.ParameterInfo;
import io.streamtrain.core.codec.DType;
import io.streamtrain.core.codec.SafeTensors;
import io.streamtrain.core.codec.Tensor;
import io.streamtrain.core.model.ModelFactory;
import io.streamtrain.core.model.Weights;
import io.streamtrain.core.regularization.ParameterSelector;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.core.spec.SpecException;
import io.streamtrain.trainer.optim.Optimizer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Everything a trainer's model is at a step boundary: the block's parameters, the
 * optimizer's state, the L2-SP anchors w0 and the step count. It round-trips through a
 * safetensors payload exactly, which is what makes resume bit-identical.
 *
 * <p>Payload names: a parameter under its block name ({@code 01Linear_weight}), optimizer
 * state as {@code optimizer.<slot>.<parameter>}, anchors as {@code anchor.<parameter>}.
 */
public final class ModelState implements AutoCloseable {

    private final RunSpec spec;
    private final NDManager manager;
    private final Block block;
    private final Map<String, Parameter> parameters = new LinkedHashMap<>();
    private final Set<String> frozen = new LinkedHashSet<>();
    private final Map<String, NDArray> anchors = new LinkedHashMap<>();
    private final Optimizer optimizer;
    private long step;

    private ModelState(RunSpec spec, Engine engine) {
        this.spec = spec;
        this.manager = engine.newBaseManager();
        engine.setRandomSeed(Long.hashCode(spec.init().seed()));
        this.block = ModelFactory.create(spec.model());
        block.initialize(manager, DataType.FLOAT32, ModelFactory.inputShape(spec.model()));
        for (Pair<String, Parameter> p : block.getParameters()) {
            parameters.put(p.getKey(), p.getValue());
        }
        this.optimizer = Optimizer.create(spec.optimizer(), manager);
    }

    /**
     * The initial state of a run that has no checkpoint yet: seeded initialization, or the
     * weights of {@code init.from} when it names a file. (A checkpoint of another run is read
     * from Kafka by the trainer node: {@link #initialize(RunSpec, Engine, InitialWeights)}.)
     */
    public static ModelState initialize(RunSpec spec, Engine engine) {
        if (spec.init().checkpoint().isPresent()) {
            throw new IllegalArgumentException(
                    "init.from " + spec.init().from() + " is read from Kafka: pass the checkpoint as InitialWeights");
        }
        return initialize(
                spec, engine, spec.init().file().map(InitialWeights::read).orElse(null));
    }

    /**
     * The initial state: seeded initialization overwritten by {@code from} (when not null), the
     * {@code init.freeze} patterns applied, and the L2-SP anchors w0 set to these weights.
     *
     * @throws SpecException (exit 2) if {@code from} does not fit the model by name and shape,
     *     or a freeze pattern matches no parameter, or every one
     */
    public static ModelState initialize(RunSpec spec, Engine engine, InitialWeights from) {
        ModelState s = new ModelState(spec, engine);
        try {
            if (from != null) {
                try {
                    Weights.loadExactly(s.block, from.tensors(), from.source());
                } catch (IllegalArgumentException e) {
                    throw new SpecException("init.from", e.getMessage());
                }
            }
            s.freeze(spec.init().freeze());
            if (spec.regularization().l2sp() > 0) {
                s.parameters.forEach((name, p) -> s.anchors.put(name, s.copyOf(p.getArray())));
            }
            return s;
        } catch (RuntimeException e) {
            s.close();
            throw e;
        }
    }

    /** Frozen parameters get no gradient, so no update, no penalty and no weight decay. */
    private void freeze(List<String> patterns) {
        for (int i = 0; i < patterns.size(); i++) {
            ParameterSelector one = new ParameterSelector(List.of(patterns.get(i)));
            List<String> hit = parameters.keySet().stream()
                    .filter(name -> !one.regularized(name))
                    .toList();
            if (hit.isEmpty()) {
                throw new SpecException(
                        "init.freeze[" + i + "]",
                        "'" + patterns.get(i) + "' matches no parameter of the model; its" + " parameters: "
                                + String.join(", ", parameters.keySet()));
            }
            frozen.addAll(hit);
        }
        if (!frozen.isEmpty() && frozen.size() == parameters.size()) {
            throw new SpecException(
                    "init.freeze", patterns + " freezes every parameter of the model: nothing would be trained");
        }
        frozen.forEach(name -> parameters.get(name).freeze(true));
    }

    /** Replaces parameters, optimizer state, anchors and step with a checkpoint's. */
    public void restore(SafeTensors.Document payload, long restoredStep) {
        for (Map.Entry<String, Parameter> e : parameters.entrySet()) {
            Tensor t = payload.tensor(e.getKey());
            if (t == null) {
                throw new IllegalArgumentException("checkpoint has no parameter " + e.getKey());
            }
            Weights.assign(e.getValue().getArray(), t);
        }
        Map<String, NDArray> optimizerState = new LinkedHashMap<>();
        try (NDManager scratch = manager.newSubManager()) {
            for (Tensor t : payload.tensors().values()) {
                if (t.name().startsWith(OPTIMIZER_PREFIX)) {
                    optimizerState.put(
                            t.name().substring(OPTIMIZER_PREFIX.length()),
                            scratch.create(t.toFloats(), new Shape(t.shape())));
                } else if (t.name().startsWith(ANCHOR_PREFIX)) {
                    String name = t.name().substring(ANCHOR_PREFIX.length());
                    NDArray anchor = anchors.computeIfAbsent(name, k -> manager.zeros(new Shape(t.shape())));
                    Weights.assign(anchor, t);
                }
            }
            optimizer.load(optimizerState, manager);
        }
        this.step = restoredStep;
    }

    /**
     * Takes a closed round's parameters and keeps everything else (optimizer state, anchors):
     * a streaming node's inner optimizer state stays its own between an epoch's rounds. With
     * {@code mixing} α, the node's parameters are mixed with the round's, as Streaming DiLoCo
     * merges: {@code θ ← α·θ_now + (1 − α)·θ_round}. Without, and with {@code atHandIn}, the
     * steps this node trained since it handed in are kept on top: {@code θ ← θ_round + (θ_now −
     * θ_atHandIn)}; with neither, the round's parameters are taken as they are.
     *
     * @param atHandIn the parameters as they were when the node handed in, or null (no steps since)
     * @param mixing α in [0, 1), or null
     */
    public void adoptParameters(
            SafeTensors.Document round, Map<String, float[]> atHandIn, long newStep, Double mixing) {
        for (Map.Entry<String, Parameter> e : parameters.entrySet()) {
            Tensor t = round.tensor(e.getKey());
            if (t == null) {
                throw new IllegalArgumentException("the round has no parameter " + e.getKey());
            }
            if (atHandIn == null && mixing == null) {
                Weights.assign(e.getValue().getArray(), t);
                continue;
            }
            float[] outer = t.toFloats();
            float[] now = e.getValue().getArray().toFloatArray();
            float[] next = new float[outer.length];
            if (mixing != null) {
                float alpha = mixing.floatValue();
                for (int i = 0; i < next.length; i++) {
                    next[i] = alpha * now[i] + (1 - alpha) * outer[i];
                }
            } else {
                float[] then = atHandIn.get(e.getKey());
                for (int i = 0; i < next.length; i++) {
                    next[i] = outer[i] + (now[i] - then[i]);
                }
            }
            Weights.assign(e.getValue().getArray(), Tensor.ofFloats(e.getKey(), t.shape(), next));
        }
        this.step = newStep;
    }

    /** Every parameter's values, by name (a copy). */
    public Map<String, float[]> parameterValues() {
        Map<String, float[]> out = new LinkedHashMap<>();
        parameters.forEach((name, p) -> out.put(name, p.getArray().toFloatArray()));
        return out;
    }

    /** The optimizer's state as {@code optimizer.<slot>.<parameter>} tensors (copies). */
    public List<Tensor> optimizerTensors() {
        List<Tensor> out = new ArrayList<>();
        optimizer.state().forEach((name, a) -> out.add(tensor(OPTIMIZER_PREFIX + name, a)));
        return out;
    }

    /** The state as a safetensors payload. */
    public byte[] toPayload(Map<String, String> metadata) {
        List<Tensor> tensors = new ArrayList<>();
        parameters.forEach((name, p) -> tensors.add(tensor(name, p.getArray())));
        tensors.addAll(optimizerTensors());
        anchors.forEach((name, a) -> tensors.add(tensor(ANCHOR_PREFIX + name, a)));
        return SafeTensors.write(tensors, metadata);
    }

    public List<ParameterInfo> parameterInfos() {
        List<ParameterInfo> out = new ArrayList<>();
        parameters.forEach((name, p) ->
                out.add(new ParameterInfo(name, "F32", p.getArray().getShape().getShape())));
        return out;
    }

    /** Runs the model; {@code training} turns dropout on. Result attached to the input's manager. */
    public NDArray forward(NDArray x, boolean training) {
        return block.forward(new ParameterStore(manager, false), new NDList(x), training)
                .singletonOrThrow();
    }

    public Map<String, NDArray> parameterArrays() {
        Map<String, NDArray> out = new LinkedHashMap<>();
        parameters.forEach((name, p) -> out.put(name, p.getArray()));
        return Collections.unmodifiableMap(out);
    }

    /** The parameters that are trained: all but the frozen ones. */
    public Map<String, NDArray> trainableArrays() {
        Map<String, NDArray> out = new LinkedHashMap<>();
        parameters.forEach((name, p) -> {
            if (!frozen.contains(name)) {
                out.put(name, p.getArray());
            }
        });
        return Collections.unmodifiableMap(out);
    }

    /** Names of the parameters {@code init.freeze} keeps as they are. */
    public Set<String> frozen() {
        return Collections.unmodifiableSet(frozen);
    }

    public Map<String, NDArray> anchors() {
        return Collections.unmodifiableMap(anchors);
    }

    public Optimizer optimizer() {
        return optimizer;
    }

    public RunSpec spec() {
        return spec;
    }

    public NDManager manager() {
        return manager;
    }

    public long step() {
        return step;
    }

    void advance() {
        step++;
    }

    private NDArray copyOf(NDArray a) {
        NDArray c = manager.zeros(a.getShape(), a.getDataType());
        c.set(new NDIndex("..."), a);
        NDScope.unregister(c);
        return c;
    }

    /**
     * A copy of {@code a} as a float32 tensor: a float32 array's bytes as libtorch hands them out
     * (one copy, into the heap; in the machine's byte order, which is safetensors' on a
     * little-endian one), any other's values converted.
     */
    private static Tensor tensor(String name, NDArray a) {
        if (a.getDataType() != DataType.FLOAT32 || ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
            return Tensor.ofFloats(name, a.getShape().getShape(), a.toFloatArray());
        }
        // toByteBuffer without a direct buffer: a copy (a direct one would be a view, or, for a tensor that is not
        // contiguous, a new tensor held by its manager)
        return new Tensor(name, DType.F32, a.getShape().getShape(), a.toByteBuffer(false));
    }

    @Override
    public void close() {
        manager.close();
    }
}
