package io.streamtrain.trainer.model;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.GradientCollector;
import io.streamtrain.core.codec.Batch;
import io.streamtrain.core.djl.BatchArrays;
import io.streamtrain.core.djl.FusedKernels;
import io.streamtrain.core.model.Losses;
import io.streamtrain.core.regularization.ParameterSelector;
import io.streamtrain.core.regularization.Penalties;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.trainer.optim.LearningRateSchedule;
import io.streamtrain.trainer.optim.Optimizer;
import java.util.Map;

/**
 * One training step: forward in training mode (dropout on), data loss plus the chapter's
 * penalties, backward, global gradient-norm clipping, then the optimizer update with weight
 * decay for the parameters the {@code exclude} patterns do not exempt. Frozen parameters
 * ({@code init.freeze}) take no part: no gradient, no penalty, no clipping, no update.
 *
 * <p>A step whose loss or gradient norm is not finite makes no update (one bad batch or a
 * numerical accident must not turn every weight into NaN: a clipped infinite gradient is
 * NaN); it is reported as skipped. {@value #MAX_SKIPPED_IN_A_ROW} such steps in a row mean the
 * weights themselves have gone bad: {@link NonFiniteTrainingException}.
 */
public final class StepRunner {
    /** Non-finite steps in a row that end the training. */
    public static final int MAX_SKIPPED_IN_A_ROW = 20;

    private final RunSpec spec;
    private final ModelState state;
    private final Engine engine;
    private final Penalties penalties;
    private final ParameterSelector selector;
    private final LearningRateSchedule schedule;
    private final FusedKernels kernels = FusedKernels.forEngine();
    private int skippedInARow;

    /** Training can no longer make progress: the loss or the gradient was not finite step after step. */
    public static final class NonFiniteTrainingException extends IllegalStateException {
        private final long streakStart;

        public NonFiniteTrainingException(String message, long streakStart) {
            super(message);
            this.streakStart = streakStart;
        }

        /** The steps taken before the first of the non-finite steps in a row. */
        public long streakStart() {
            return streakStart;
        }
    }

    public StepRunner(ModelState state, Engine engine) {
        this(state, engine, state.spec());
    }

    /**
     * @param settings the spec to train with now: the state's, or one changed by SET (learning
     *     rate, weight decay, penalty strengths; never the model)
     */
    public StepRunner(ModelState state, Engine engine, RunSpec settings) {
        this.spec = settings;
        this.state = state;
        this.engine = engine;
        this.penalties = new Penalties(spec.regularization());
        this.selector = penalties.selector();
        this.schedule = LearningRateSchedule.of(spec.optimizer());
    }

    /**
     * The same training with settings a SET changed: the count of non-finite steps in a row
     * goes on (a SET arriving between bad steps must not restart it).
     */
    public StepRunner withSettings(RunSpec settings) {
        StepRunner next = new StepRunner(state, engine, settings);
        next.skippedInARow = skippedInARow;
        return next;
    }

    /**
     * PyTorch adds each backward's gradients to the last; this model's are cleared here. (DJL's
     * {@code collector.zeroGradients()} walks every array of the process, other threads' included.)
     * A fill, not {@code g - g}: a skipped step's NaN or infinite gradient must not outlive it.
     */
    private static void zeroGradients(Iterable<NDArray> weights) {
        for (NDArray w : weights) {
            if (w.hasGradient()) {
                JniUtils.zeroGrad((PtNDArray) w);
            }
        }
    }

    static int stepSeed(long seed, long step) {
        return Long.hashCode(seed * 0x9E3779B97F4A7C15L + step);
    }

    public StepReport train(Batch batch) {
        long started = System.nanoTime();
        // every array made during the step (inputs, activations, gradients' wrappers,
        // optimizer temporaries) is freed when the scope closes; parameters and state live on
        try (NDScope scope = new NDScope();
                NDManager step = state.manager().newSubManager()) {
            NDArray x = BatchArrays.x(step, batch);
            NDArray y = BatchArrays.y(step, batch);
            Map<String, NDArray> weights = state.trainableArrays();
            StepFigures figures = new StepFigures();
            // dropout masks are a function of (seed, step), so a resumed or rolled-back run
            // draws exactly the masks the uninterrupted run drew
            engine.setRandomSeed(stepSeed(spec.init().seed(), state.step()));
            zeroGradients(weights.values());
            try (GradientCollector collector = engine.newGradientCollector()) {
                NDArray output = state.forward(x, true);
                NDArray loss = Losses.dataLoss(spec.model(), output, y);
                collector.backward(loss);
                figures.dataLoss(loss);
                if (spec.model().classification()) {
                    figures.correct(Losses.correctCount(output, y));
                }
            }
            figures.penalize(
                    state.parameterArrays(), weights, penalties, spec.regularization(), state.anchors(), kernels);
            StepFigures.Values v = figures.read();
            double gradNorm = v.gradNorm();
            double lr = schedule.at(state.step());
            // a gradient norm beyond float32's range counts as infinite, as libtorch's float32 norm has it: the
            // fused kernels sum in double, and an update that large would leave infinities in Adam's moments
            boolean finite = Double.isFinite(v.dataLoss() + v.l1() + v.l2() + v.l2sp()) && gradNorm <= Float.MAX_VALUE;
            skippedInARow = finite ? 0 : skippedInARow + 1;
            if (skippedInARow >= MAX_SKIPPED_IN_A_ROW) {
                throw new NonFiniteTrainingException(
                        String.format(
                                java.util.Locale.ROOT,
                                "%d steps in a row (up to step %d) had a non-finite loss or gradient (last: data loss %s, gradient norm %s, "
                                        + "weight norm %s): training cannot go on; lower optimizer.learningRate or set "
                                        + "regularization.clipGradNorm, and resume from the last checkpoint",
                                skippedInARow,
                                state.step() + 1,
                                v.dataLoss(),
                                gradNorm,
                                v.weightNorm()),
                        state.step() + 1 - skippedInARow);
            }
            // a skipped step counts (its batch was read) but changes no weight
            double scale = finite ? clipScale(gradNorm) : 0;
            state.advance();
            if (finite) {
                double decay = spec.regularization().weightDecay();
                Optimizer.Update update = new Optimizer.Update(scale, lr, decay, state.step());
                weights.forEach((name, w) -> state.optimizer()
                        .update(name, w, w.getGradient(), selector.regularized(name) ? update : update.withoutDecay()));
            }
            return new StepReport(
                    state.step(),
                    batch.samples(),
                    lr,
                    v.dataLoss(),
                    v.l1(),
                    v.l2(),
                    v.l2sp(),
                    gradNorm,
                    finite ? gradNorm * scale : 0,
                    v.weightNorm(),
                    v.correct(),
                    (System.nanoTime() - started) / 1e9,
                    !finite);
        }
    }

    /**
     * The factor that brings the global gradient norm down to clipGradNorm, as torch's
     * {@code clip_grad_norm_} (1 when it is within the bound or clipping is off); the optimizer
     * applies it as it reads each gradient.
     */
    private double clipScale(double norm) {
        double max = spec.regularization().clipGradNorm();
        return max <= 0 || norm <= max ? 1 : max / (norm + 1e-6);
    }
}
