package io.streamtrain.core.protocol;

import io.streamtrain.core.spec.ModelSpec;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Training sums of a round or of an epoch so far, added up across nodes. Losses are
 * sample-weighted, penalties are per step, so the epoch's metrics are the same means one
 * node training everything would report.
 *
 * @param recordsChecksum the {@link io.streamtrain.core.checkpoint.RecordsChecksum} sum of the records trained
 * @param syncBytes bytes the contributions wrote to the sync topic
 * @param syncWaitSeconds time the nodes spent waiting for rounds to close, from handing
 *     their contribution to Kafka (writing it included); a node reports a round's wait with
 *     its next contribution
 */
public record RoundSums(
        long samples,
        long steps,
        long correct,
        double dataLoss,
        double l1,
        double l2,
        double l2sp,
        long records,
        long rejected,
        long recordsChecksum,
        long syncBytes,
        double syncWaitSeconds) {

    public static final RoundSums ZERO = new RoundSums(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);

    public RoundSums plus(RoundSums o) {
        return new RoundSums(
                samples + o.samples,
                steps + o.steps,
                correct + o.correct,
                dataLoss + o.dataLoss,
                l1 + o.l1,
                l2 + o.l2,
                l2sp + o.l2sp,
                records + o.records,
                rejected + o.rejected,
                recordsChecksum + o.recordsChecksum,
                syncBytes + o.syncBytes,
                syncWaitSeconds + o.syncWaitSeconds);
    }

    /** These sums with the sync traffic and wait a contribution reports. */
    public RoundSums withSync(long bytes, double waitSeconds) {
        return new RoundSums(
                samples,
                steps,
                correct,
                dataLoss,
                l1,
                l2,
                l2sp,
                records,
                rejected,
                recordsChecksum,
                bytes,
                waitSeconds);
    }

    /** The epoch's training metrics as a checkpoint manifest carries them. */
    public Map<String, Double> metrics(ModelSpec model) {
        double data = samples == 0 ? Double.NaN : dataLoss / samples;
        double meanL1 = steps == 0 ? 0 : l1 / steps;
        double meanL2 = steps == 0 ? 0 : l2 / steps;
        double meanL2sp = steps == 0 ? 0 : l2sp / steps;
        Map<String, Double> m = new LinkedHashMap<>();
        m.put("train_loss", data + meanL1 + meanL2 + meanL2sp);
        m.put("data_loss", data);
        m.put("l1", meanL1);
        m.put("l2", meanL2);
        m.put("l2sp", meanL2sp);
        if (model.classification()) {
            // a causal-lm predicts every position of a sample: accuracy per token
            m.put("train_accuracy", samples == 0 ? Double.NaN : (double) correct / ((double) samples * model.yWidth()));
        }
        m.put("samples", (double) samples);
        m.put("steps", (double) steps);
        m.put("records", (double) records);
        m.put("rejected", (double) rejected);
        m.put("sync_bytes", (double) syncBytes);
        m.put("sync_wait_seconds", syncWaitSeconds);
        return m;
    }
}
