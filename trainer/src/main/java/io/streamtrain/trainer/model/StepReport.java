package io.streamtrain.trainer.model;

/**
 * What one optimizer step did, each regularization term reported on its own.
 *
 * @param step 1-based step count after this step
 * @param samples samples in the batch
 * @param learningRate the rate used
 * @param dataLoss the loss before regularization (cross-entropy or MSE)
 * @param l1 the L1 term, already scaled by its coefficient (0 when off)
 * @param l2 the L2 term, scaled
 * @param l2sp the L2-SP term, scaled
 * @param gradNorm global gradient norm before clipping
 * @param clippedGradNorm global gradient norm after clipping
 * @param weightNorm global L2 norm of the parameters at the start of the step (the weights its gradient and penalties are of)
 * @param correct predictions right before the update (classification only): samples, or a causal-lm's tokens
 * @param seconds wall time of the step
 * @param skipped the loss or the gradient was not finite (NaN or infinite): the step made no
 *     update (the batch counts as trained; its loss is what it was)
 */
public record StepReport(
        long step,
        int samples,
        double learningRate,
        double dataLoss,
        double l1,
        double l2,
        double l2sp,
        double gradNorm,
        double clippedGradNorm,
        double weightNorm,
        long correct,
        double seconds,
        boolean skipped) {

    /** The loss that was minimized: data loss plus every penalty. */
    public double totalLoss() {
        return dataLoss + l1 + l2 + l2sp;
    }
}
