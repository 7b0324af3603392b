package io.streamtrain.trainer;

import io.streamtrain.core.protocol.RoundSums;
import io.streamtrain.core.spec.ModelSpec;
import io.streamtrain.trainer.model.StepReport;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Sums an epoch's step reports into the training metrics its checkpoint carries. Losses
 * are sample-weighted means over the epoch; penalties are step means (they do not depend
 * on the batch).
 */
final class EpochMeter {
    private long samples;
    private long steps;
    private long correct;
    private double dataLossSum;
    private double l1Sum;
    private double l2Sum;
    private double l2spSum;
    private double stepSeconds;
    private long dataWaitNanos;
    private long startedNanos = System.nanoTime();

    void add(StepReport r) {
        samples += r.samples();
        steps++;
        correct += r.correct();
        dataLossSum += r.dataLoss() * r.samples();
        l1Sum += r.l1();
        l2Sum += r.l2();
        l2spSum += r.l2sp();
        stepSeconds += r.seconds();
    }

    /** Time the training thread spent waiting for its next batch (the feed fell behind). */
    void addDataWait(long nanos) {
        dataWaitNanos += nanos;
    }

    void reset() {
        samples = steps = correct = 0;
        dataLossSum = l1Sum = l2Sum = l2spSum = stepSeconds = 0;
        dataWaitNanos = 0;
        startedNanos = System.nanoTime();
    }

    long samples() {
        return samples;
    }

    long steps() {
        return steps;
    }

    /** The sums a sync contribution carries. */
    RoundSums sums(long records, long rejected, long recordsChecksum) {
        return new RoundSums(
                samples, steps, correct, dataLossSum, l1Sum, l2Sum, l2spSum, records, rejected, recordsChecksum, 0, 0);
    }

    Map<String, Double> metrics(ModelSpec model, long records, long rejected) {
        double seconds = (System.nanoTime() - startedNanos) / 1e9;
        Map<String, Double> m = new LinkedHashMap<>(sums(records, rejected, 0).metrics(model));
        m.put("seconds", seconds);
        m.put("step_seconds", stepSeconds);
        m.put("data_wait_seconds", dataWaitNanos / 1e9);
        m.put("samples_per_second", seconds > 0 ? samples / seconds : 0);
        return m;
    }
}
