package io.streamtrain.trainer.optim;

import io.streamtrain.core.spec.OptimizerSpec;

/**
 * The learning rate at each optimizer step: constant, or a linear warmup from 0 to the
 * peak over {@code warmupSteps} followed by a cosine decay to {@code minLearningRate} over
 * {@code decaySteps}, then flat. A pure function of the step, so a resumed run continues
 * the schedule exactly.
 */
public record LearningRateSchedule(double peak, OptimizerSpec.ScheduleSpec spec) {

    public static LearningRateSchedule of(OptimizerSpec optimizer) {
        return new LearningRateSchedule(optimizer.learningRate(), optimizer.schedule());
    }

    /** @param step 0-based index of the step about to be taken */
    public double at(long step) {
        if (!"cosine".equals(spec.type())) {
            return peak;
        }
        if (step < spec.warmupSteps()) {
            return peak * (step + 1) / spec.warmupSteps();
        }
        long intoDecay = step - spec.warmupSteps();
        if (intoDecay >= spec.decaySteps()) {
            return spec.minLearningRate();
        }
        double progress = (double) intoDecay / spec.decaySteps();
        return spec.minLearningRate() + 0.5 * (peak - spec.minLearningRate()) * (1 + Math.cos(Math.PI * progress));
    }
}
