package io.streamtrain.trainer.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.DataType;
import io.streamtrain.core.regularization.ParameterSelector;
import io.streamtrain.core.regularization.Penalties;
import io.streamtrain.core.spec.RegularizationSpec;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The scalars a step reports, computed on the native side as the step goes and read back in
 * one copy: each {@code getDouble()} on its own is a native call and a copy, and a step used to
 * make forty of them. Norms, not {@code square().sum()}: one pass and no temporary array the
 * size of the parameter.
 */
final class StepFigures {
    private static final int[] NO_AXES = new int[0];
    private final List<NDArray> scalars = new ArrayList<>();
    private int dataLoss = -1;
    private NDArray correctCount;
    private final List<Integer> l1 = new ArrayList<>();
    private final List<Integer> l2 = new ArrayList<>();
    private final List<Integer> l2sp = new ArrayList<>();
    private final List<Integer> weightNorms = new ArrayList<>();
    private final List<Integer> gradientNorms = new ArrayList<>();
    private RegularizationSpec regularization = RegularizationSpec.NONE;

    /** What was read: losses, penalty terms (scaled by their coefficients) and global norms. */
    record Values(
            double dataLoss, long correct, double l1, double l2, double l2sp, double gradNorm, double weightNorm) {}

    void dataLoss(NDArray loss) {
        dataLoss = add(loss);
    }

    void correct(NDArray count) {
        // read as an integer: float32 is exact only to 2^24 predictions (a causal-lm's batch x tokens can pass that)
        correctCount = count;
    }

    /**
     * The penalty terms of the regularized parameters and the norm of all of them.
     *
     * @param parameters every parameter, frozen ones included (they count in the weight norm,
     *     and the selector never regularizes them because they are not trained)
     */
    void weights(
            Map<String, NDArray> parameters,
            ParameterSelector selector,
            RegularizationSpec spec,
            Map<String, NDArray> anchors) {
        this.regularization = spec;
        parameters.forEach((name, w) -> {
            int norm = add(w.norm());
            weightNorms.add(norm);
            if (!selector.regularized(name) || !w.hasGradient()) {
                return;
            }
            if (spec.l1() > 0) {
                // the entry-wise 1-norm over every axis (no axes given): sum(|w|) in one pass
                l1.add(add(w.norm(1, NO_AXES, false)));
            }
            if (spec.l2() > 0) {
                l2.add(norm);
            }
            if (spec.l2sp() > 0) {
                l2sp.add(add(w.sub(Penalties.anchor(anchors, name)).norm()));
            }
        });
    }

    void gradients(Iterable<NDArray> trained) {
        trained.forEach(w -> gradientNorms.add(add(w.getGradient().norm())));
    }

    Values read() {
        float[] v = NDArrays.stack(new NDList(scalars)).toFloatArray();
        return new Values(
                dataLoss < 0 ? Double.NaN : v[dataLoss],
                correctCount == null
                        ? 0
                        : correctCount.toType(DataType.INT64, false).getLong(),
                regularization.l1() * sum(v, l1, false),
                regularization.l2() * sum(v, l2, true),
                regularization.l2sp() * sum(v, l2sp, true),
                Math.sqrt(sum(v, gradientNorms, true)),
                Math.sqrt(sum(v, weightNorms, true)));
    }

    private int add(NDArray scalar) {
        scalars.add(scalar.getDataType() == DataType.FLOAT32 ? scalar : scalar.toType(DataType.FLOAT32, false));
        return scalars.size() - 1;
    }

    private static double sum(float[] v, List<Integer> at, boolean squares) {
        double s = 0;
        for (int i : at) {
            s += squares ? (double) v[i] * v[i] : v[i];
        }
        return s;
    }
}
