package io.streamtrain.trainer.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.DataType;
import io.streamtrain.core.djl.FusedKernels;
import io.streamtrain.core.regularization.Penalties;
import io.streamtrain.core.spec.RegularizationSpec;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The scalars a step reports, summed by the fused kernels or computed on the native side as the
 * step goes and read back in one copy: each {@code getDouble()} on its own is a native call and a
 * copy, and a step used to make forty of them. Norms, not {@code square().sum()}: one pass and no
 * temporary array the size of the parameter.
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
    // the fused kernels' sums, of the parameters they worked on
    private double hostL1;
    private double hostL2;
    private double hostL2sp;
    private double hostWeightSquares;
    private double hostGradientSquares;

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
     * Adds the penalties' gradients to the trained parameters' gradients and takes the step's
     * figures: the penalty terms of the regularized parameters (of the weights the step starts
     * from, as their gradients), the norm of every parameter, and the norm of the trained ones'
     * gradients with the penalties added. A parameter the fused kernels can work on takes one
     * pass over its memory, summed on the host; any other takes libtorch's operations, its
     * norms read back with the rest in {@link #read}.
     *
     * @param parameters every parameter, frozen ones included (they count in the weight norm,
     *     and are neither regularized nor given a gradient because they are not trained)
     * @param trained the parameters that are trained, each with its gradient
     * @param kernels the fused kernels, or null to use libtorch's operations only
     */
    void penalize(
            Map<String, NDArray> parameters,
            Map<String, NDArray> trained,
            Penalties penalties,
            RegularizationSpec spec,
            Map<String, NDArray> anchors,
            FusedKernels kernels) {
        this.regularization = spec;
        parameters.forEach((name, w) -> {
            boolean training = trained.containsKey(name);
            boolean regularized =
                    training && w.hasGradient() && penalties.selector().regularized(name);
            NDArray g = training ? w.getGradient() : null;
            NDArray w0 = regularized && spec.l2sp() > 0 ? Penalties.anchor(anchors, name) : null;
            double[] sums = null; // the kernels' sums: null when they are off or the arrays do not fit them
            if (kernels != null) {
                sums = regularized
                        ? kernels.penalize(w, g, w0, spec.l1(), spec.l2(), spec.l2sp())
                        : kernels.penalize(w, g, null, 0, 0, 0);
            }
            if (sums != null) {
                hostWeightSquares += sums[1];
                // only the terms that are on: 0 times the sum of a non-finite weight would make the loss NaN
                if (regularized && spec.l1() > 0) {
                    hostL1 += sums[0];
                }
                if (regularized && spec.l2() > 0) {
                    hostL2 += sums[1];
                }
                if (regularized && spec.l2sp() > 0) {
                    hostL2sp += sums[2];
                }
                if (training) {
                    hostGradientSquares += sums[3];
                }
                return;
            }
            int norm = add(w.norm());
            weightNorms.add(norm);
            if (regularized) {
                if (spec.l1() > 0) {
                    // the entry-wise 1-norm over every axis (no axes given): sum(|w|) in one pass
                    l1.add(add(w.norm(1, NO_AXES, false)));
                }
                if (spec.l2() > 0) {
                    l2.add(norm);
                }
                if (spec.l2sp() > 0) {
                    l2sp.add(add(w.sub(w0).norm()));
                }
                penalties.addGradient(name, w, anchors);
            }
            if (training) {
                gradientNorms.add(add(g.norm()));
            }
        });
    }

    Values read() {
        float[] v = NDArrays.stack(new NDList(scalars)).toFloatArray();
        return new Values(
                dataLoss < 0 ? Double.NaN : v[dataLoss],
                correctCount == null
                        ? 0
                        : correctCount.toType(DataType.INT64, false).getLong(),
                regularization.l1() * (hostL1 + sum(v, l1, false)),
                regularization.l2() * (hostL2 + sum(v, l2, true)),
                regularization.l2sp() * (hostL2sp + sum(v, l2sp, true)),
                Math.sqrt(hostGradientSquares + sum(v, gradientNorms, true)),
                Math.sqrt(hostWeightSquares + sum(v, weightNorms, true)));
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
