package io.streamtrain.core.regularization;

import ai.djl.ndarray.NDArray;
import io.streamtrain.core.spec.RegularizationSpec;
import java.util.Map;

/**
 * The chapter's explicit penalties, added to the data loss:
 * {@code l1 * sum(|w|)}, {@code l2 * sum(w^2)} and {@code l2sp * sum((w - w0)^2)}, summed
 * over every parameter the {@link ParameterSelector} regularizes. (Weight decay is not a
 * loss term; the optimizer applies it.)
 *
 * <p>{@link #compute} builds the terms on the autograd graph: the definition, and what the
 * tests check against. The trainer's step uses {@link #addGradient} instead, the same
 * gradients without a graph (a third of the native calls), and reports the terms' values
 * from norms it reads anyway.
 */
public final class Penalties {
    private final RegularizationSpec spec;
    private final ParameterSelector selector;

    public Penalties(RegularizationSpec spec) {
        this.spec = spec;
        this.selector = new ParameterSelector(spec.exclude());
    }

    public ParameterSelector selector() {
        return selector;
    }

    /**
     * @param parameters the model's parameters by name
     * @param anchors the L2-SP reference weights w0 by name; may be empty when l2sp is 0
     */
    public PenaltyTerms compute(Map<String, NDArray> parameters, Map<String, NDArray> anchors) {
        NDArray l1 = null;
        NDArray l2 = null;
        NDArray l2sp = null;
        for (Map.Entry<String, NDArray> e : parameters.entrySet()) {
            if (!selector.regularized(e.getKey())) {
                continue;
            }
            NDArray w = e.getValue();
            if (spec.l1() > 0) {
                l1 = sum(l1, w.abs().sum());
            }
            if (spec.l2() > 0) {
                l2 = sum(l2, w.square().sum());
            }
            if (spec.l2sp() > 0) {
                l2sp = sum(l2sp, w.sub(anchor(anchors, e.getKey())).square().sum());
            }
        }
        return new PenaltyTerms(
                l1 == null ? null : l1.mul(spec.l1()),
                l2 == null ? null : l2.mul(spec.l2()),
                l2sp == null ? null : l2sp.mul(spec.l2sp()));
    }

    /**
     * Adds the penalties' gradients to a parameter's gradient, in place, instead of putting the
     * terms on the autograd graph: {@code l1 * sign(w) + 2 * l2 * w + 2 * l2sp * (w - w0)}
     * (sign(0) = 0, as autograd's for |w|); nothing for a parameter the selector exempts. Call it
     * after the data loss's backward and before any update, outside a gradient collector. (The
     * trainer's step does the same in one pass where it can: FusedKernels.)
     *
     * @param name the parameter's name
     * @param w the trained parameter, with its gradient
     * @param anchors the L2-SP reference weights w0 by name; may be empty when l2sp is 0
     */
    public void addGradient(String name, NDArray w, Map<String, NDArray> anchors) {
        if (!selector.regularized(name)) {
            return;
        }
        NDArray g = w.getGradient();
        if (spec.l1() > 0) {
            g.addi(w.sign().muli(spec.l1()));
        }
        if (spec.l2() > 0) {
            g.addi(w.mul(2 * spec.l2()));
        }
        if (spec.l2sp() > 0) {
            g.addi(w.sub(anchor(anchors, name)).muli(2 * spec.l2sp()));
        }
    }

    /** The L2-SP reference weights of {@code name}; a missing one is a bug, said with the parameter's name. */
    public static NDArray anchor(Map<String, NDArray> anchors, String name) {
        NDArray w0 = anchors.get(name);
        if (w0 == null) {
            throw new IllegalStateException("no L2-SP anchor for parameter " + name);
        }
        return w0;
    }

    private static NDArray sum(NDArray acc, NDArray term) {
        return acc == null ? term : acc.add(term);
    }
}
