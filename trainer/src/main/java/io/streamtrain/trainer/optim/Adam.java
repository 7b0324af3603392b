package io.streamtrain.trainer.optim;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.streamtrain.core.djl.FusedKernels;
import java.util.Map;

/**
 * Adam, with weight decay either coupled ({@code torch.optim.Adam}: the decay is added to
 * the gradient and so is rescaled by the adaptive denominator) or decoupled
 * ({@code torch.optim.AdamW}: {@code w *= 1 - lr*wd} before the Adam step).
 *
 * <p>One pass over each parameter where the fused kernels can work on it
 * ({@link FusedKernels#adam}: the gradient clipped, the decay, both moments and the weight in one
 * loop, no temporary); elsewhere libtorch's fused update (the one DJL's engine exposes, two calls
 * with decoupled decay, which is applied in place first), which copies the gradient and makes
 * four temporaries the size of the weight. Both divide by {@code sqrt(v) + eps'} with the bias
 * corrections folded into the step size, so {@code eps' = eps * sqrt(1 - beta2^t)} gives torch's
 * {@code m/(1-beta1^t) / (sqrt(v/(1-beta2^t)) + eps)}, in another order of float32 operations
 * and with float32 constants ({@code 1 - 0.999f} is not {@code 0.001f}): within about 1e-5
 * relative of torch's update, which RegularizationNumericsTest checks. Resume stays bit for
 * bit, since a resumed run computes the same way. The moments stay ours, under the same
 * names, so checkpoints and resume are unchanged. (Written as a dozen NDArray operations
 * this took 18 % of a step; see docs/benchmarks.md.)
 */
final class Adam implements Optimizer {
    private final double beta1;
    private final double beta2;
    private final double epsilon;
    private final boolean decoupled;
    private final OptimizerState state;
    private final FusedKernels kernels;

    /** @param kernels the fused kernels, or null to update with libtorch's operations only */
    Adam(double beta1, double beta2, double epsilon, boolean decoupled, NDManager manager, FusedKernels kernels) {
        this.kernels = kernels;
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.epsilon = epsilon;
        this.decoupled = decoupled;
        this.state = new OptimizerState(manager);
    }

    @Override
    public void update(String name, NDArray weight, NDArray gradient, Update u) {
        double learningRate = u.learningRate();
        double weightDecay = u.weightDecay();
        long step = u.step();
        NDArray m = state.zerosLike("m", name, weight);
        NDArray v = state.zerosLike("v", name, weight);
        double biasCorrection1 = 1 - Math.pow(beta1, step);
        double biasCorrection2Sqrt = Math.sqrt(1 - Math.pow(beta2, step));
        double stepSize = learningRate * biasCorrection2Sqrt / biasCorrection1;
        double eps = epsilon * biasCorrection2Sqrt;
        if (kernels != null
                && kernels.adam(
                        weight,
                        gradient,
                        m,
                        v,
                        u.gradientScale(),
                        decoupled ? 0 : weightDecay,
                        decoupled ? 1 - learningRate * weightDecay : 1,
                        beta1,
                        beta2,
                        stepSize,
                        eps)) {
            return;
        }
        if (u.gradientScale() != 1) {
            gradient.muli(u.gradientScale());
        }
        if (decoupled && weightDecay > 0) {
            // in place, one pass (libtorch's fused AdamW decay makes two temporaries the size of the weight)
            weight.muli(1 - learningRate * weightDecay);
        }
        // rescale 1 and a negative clip value: the gradient is already clipped (by the global norm, not by
        // libtorch's clamp)
        JniUtils.adamUpdate(
                (PtNDArray) weight,
                (PtNDArray) gradient,
                (PtNDArray) m,
                (PtNDArray) v,
                (float) learningRate,
                (float) stepSize,
                decoupled ? 0f : (float) weightDecay,
                1f,
                -1f,
                (float) beta1,
                (float) beta2,
                (float) eps,
                false);
    }

    @Override
    public Map<String, NDArray> state() {
        return state.view();
    }

    @Override
    public void load(Map<String, NDArray> s, NDManager into) {
        state.load(s, into);
    }
}
