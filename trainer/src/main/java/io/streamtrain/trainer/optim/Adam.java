package io.streamtrain.trainer.optim;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.util.Map;

/**
 * Adam, with weight decay either coupled ({@code torch.optim.Adam}: the decay is added to
 * the gradient and so is rescaled by the adaptive denominator) or decoupled
 * ({@code torch.optim.AdamW}: {@code w *= 1 - lr*wd} before the Adam step).
 */
final class Adam implements Optimizer {
    private final double beta1;
    private final double beta2;
    private final double epsilon;
    private final boolean decoupled;
    private final OptimizerState state;

    Adam(double beta1, double beta2, double epsilon, boolean decoupled, NDManager manager) {
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.epsilon = epsilon;
        this.decoupled = decoupled;
        this.state = new OptimizerState(manager);
    }

    @Override
    public void update(String name, NDArray weight, NDArray gradient, double learningRate, double weightDecay, long step) {
        NDArray g = gradient;
        if (weightDecay > 0) {
            if (decoupled) {
                weight.muli(1 - learningRate * weightDecay);
            } else {
                g = gradient.add(weight.mul(weightDecay));
            }
        }
        NDArray m = state.zerosLike("m", name, weight);
        NDArray v = state.zerosLike("v", name, weight);
        m.muli(beta1).addi(g.mul(1 - beta1));
        v.muli(beta2).addi(g.square().muli(1 - beta2));
        double biasCorrection1 = 1 - Math.pow(beta1, step);
        double biasCorrection2Sqrt = Math.sqrt(1 - Math.pow(beta2, step));
        // the same order of operations as PyTorch's single-tensor Adam, for matching floats
        NDArray denominator = v.sqrt().divi(biasCorrection2Sqrt).addi(epsilon);
        weight.subi(m.div(denominator).muli(learningRate / biasCorrection1));
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
