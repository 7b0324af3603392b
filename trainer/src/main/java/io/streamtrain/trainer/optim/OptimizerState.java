package io.streamtrain.trainer.optim;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import java.util.LinkedHashMap;
import java.util.Map;

/** Per-parameter state slots of an optimizer (momentum buffers, moments), by slot and name. */
final class OptimizerState {
    private final NDManager manager;

    private final Map<String, NDArray> slots = new LinkedHashMap<>();

    OptimizerState(NDManager manager) {
        this.manager = manager;
    }

    /** The slot's array, created as zeros shaped like {@code like} on first use. */
    NDArray zerosLike(String slot, String name, NDArray like) {
        return slots.computeIfAbsent(slot + "." + name, k -> {
            NDArray z = manager.zeros(like.getShape(), like.getDataType());
            z.setName(k);
            // state outlives the step's NDScope that may be open while it is created
            NDScope.unregister(z);
            return z;
        });
    }

    NDArray get(String slot, String name) {
        return slots.get(slot + "." + name);
    }

    void put(String slot, String name, NDArray value) {
        NDScope.unregister(value);
        NDArray old = slots.put(slot + "." + name, value);
        if (old != null && old != value) {
            old.close();
        }
    }

    Map<String, NDArray> view() {
        return java.util.Collections.unmodifiableMap(slots);
    }

    void load(Map<String, NDArray> state, NDManager into) {
        slots.values().forEach(NDArray::close);
        slots.clear();
        state.forEach((k, v) -> {
            // a copy libtorch owns: set() with an index copies, whatever backs the source
            NDArray copy = into.zeros(v.getShape(), v.getDataType());
            copy.set(new NDIndex("..."), v);
            copy.setName(k);
            NDScope.unregister(copy);
            slots.put(k, copy);
        });
    }
}
