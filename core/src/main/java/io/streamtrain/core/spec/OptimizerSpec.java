package io.streamtrain.core.spec;

/**
 * The optimizer and its learning-rate schedule. Weight decay lives in
 * {@link RegularizationSpec#weightDecay()}: coupled for {@code sgd} and {@code adam}
 * (PyTorch's {@code weight_decay}), decoupled for {@code adamw}.
 *
 * @param type {@code sgd}, {@code adam} or {@code adamw}
 * @param learningRate peak learning rate
 * @param momentum SGD momentum (ignored by Adam)
 * @param beta1 Adam's first-moment decay
 * @param beta2 Adam's second-moment decay
 * @param epsilon Adam's denominator guard
 * @param schedule how the learning rate changes over steps
 */
public record OptimizerSpec(
        String type,
        double learningRate,
        double momentum,
        double beta1,
        double beta2,
        double epsilon,
        ScheduleSpec schedule) {

    /**
     * @param type {@code constant} or {@code cosine} (linear warmup, then cosine decay)
     * @param warmupSteps steps of linear warmup from 0 to the peak rate
     * @param decaySteps steps after warmup over which the rate decays to {@code minLearningRate}
     * @param minLearningRate the floor of the cosine decay
     */
    public record ScheduleSpec(String type, long warmupSteps, long decaySteps, double minLearningRate) {
        public static final ScheduleSpec CONSTANT = new ScheduleSpec("constant", 0, 0, 0);
    }
}
