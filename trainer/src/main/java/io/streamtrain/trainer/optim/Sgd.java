package io.streamtrain.trainer.optim;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.util.Map;

/**
 * SGD with optional momentum and coupled weight decay, as {@code torch.optim.SGD}
 * (dampening 0, no Nesterov): {@code g = grad + wd*w; buf = momentum*buf + g} (the first
 * buffer is {@code g} itself); {@code w -= lr * buf}.
 */
final class Sgd implements Optimizer {
    private final double momentum;
    private final NDManager manager;
    private final OptimizerState state;

    Sgd(double momentum, NDManager manager) {
        this.momentum = momentum;
        this.manager = manager;
        this.state = new OptimizerState(manager);
    }

    @Override
    public void update(String name, NDArray weight, NDArray gradient, Update u) {
        if (u.gradientScale() != 1) {
            gradient.muli(u.gradientScale());
        }
        NDArray g = u.weightDecay() > 0 ? gradient.add(weight.mul(u.weightDecay())) : gradient;
        if (momentum > 0) {
            NDArray buf = state.get("momentum", name);
            if (buf == null) {
                buf = g.duplicate();
                buf.attach(manager);
                state.put("momentum", name, buf);
            } else {
                buf.muli(momentum).addi(g);
            }
            g = buf;
        }
        weight.subi(g.mul(u.learningRate()));
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
