package io.streamtrain.lab.report;

/**
 * One scrape of a trainer node's {@code /metrics} while it trained: the node's gauges and
 * its samples counter at one moment.
 *
 * @param timeMillis when the scrape was taken, Unix milliseconds
 * @param epoch {@code streamtrain_trainer_epoch}
 * @param step {@code streamtrain_trainer_steps_total}: the node's optimizer steps so far
 * @param samplesTotal {@code streamtrain_trainer_samples_total}; throughput is its rate
 * @param dataLoss {@code streamtrain_trainer_loss{term="data"}} of the last step
 * @param l1 {@code streamtrain_trainer_loss{term="l1"}}, the penalty as scaled
 * @param l2 {@code streamtrain_trainer_loss{term="l2"}}
 * @param l2sp {@code streamtrain_trainer_loss{term="l2sp"}}
 * @param weightNorm {@code streamtrain_trainer_weight_norm}
 * @param learningRate {@code streamtrain_trainer_learning_rate}
 */
public record StepSample(
        long timeMillis,
        int epoch,
        long step,
        double samplesTotal,
        double dataLoss,
        double l1,
        double l2,
        double l2sp,
        double weightNorm,
        double learningRate) {}
