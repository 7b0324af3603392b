package io.streamtrain.trainer.optim;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.streamtrain.core.djl.FusedKernels;
import io.streamtrain.core.spec.OptimizerSpec;
import java.util.Map;

/**
 * Updates weights in place from their gradients, with PyTorch's semantics so results can
 * be checked against it. streamtrain keeps its own optimizers (rather than DJL's) because
 * their state must go into checkpoints: a resumed run continues bit for bit.
 *
 * <p>Call {@link #update} outside any gradient collector: in-place writes to leaf tensors
 * are only legal with gradient recording off.
 */
public interface Optimizer {

    /**
     * What one step applies to each parameter.
     *
     * @param gradientScale the gradient clipping's factor, applied by the update (1 without
     *     clipping); the gradient may be left scaled or not
     * @param learningRate for this step
     * @param weightDecay the decay for the parameter (0 when it is excluded)
     * @param step 1-based count of updates including this one (for bias correction)
     */
    record Update(double gradientScale, double learningRate, double weightDecay, long step) {
        /** The same update for a parameter that {@code exclude} exempts from weight decay. */
        public Update withoutDecay() {
            return new Update(gradientScale, learningRate, 0, step);
        }
    }

    /**
     * @param name parameter name (state is kept per name)
     * @param weight the parameter, updated in place
     * @param gradient its gradient (penalties included, not clipped)
     */
    void update(String name, NDArray weight, NDArray gradient, Update u);

    /** The state to checkpoint, as {@code slot.parameter} names; arrays stay owned by the optimizer. */
    Map<String, NDArray> state();

    /** Replaces the state with checkpointed arrays (copied into {@code manager}). */
    void load(Map<String, NDArray> state, NDManager manager);

    static Optimizer create(OptimizerSpec spec, NDManager manager) {
        return switch (spec.type()) {
            case "sgd" -> new Sgd(spec.momentum(), manager);
            case "adam" ->
                new Adam(spec.beta1(), spec.beta2(), spec.epsilon(), false, manager, FusedKernels.forEngine());
            case "adamw" ->
                new Adam(spec.beta1(), spec.beta2(), spec.epsilon(), true, manager, FusedKernels.forEngine());
            default -> throw new IllegalArgumentException("unknown optimizer " + spec.type());
        };
    }
}
