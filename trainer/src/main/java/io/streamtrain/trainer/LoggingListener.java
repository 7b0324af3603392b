package io.streamtrain.trainer;

import io.streamtrain.core.checkpoint.CheckpointManifest;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.trainer.model.StepReport;
import java.util.Locale;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Progress in the log: a line every N steps with each loss term, and one per checkpoint. */
final class LoggingListener implements TrainingListener {
    private static final Logger log = LoggerFactory.getLogger("streamtrain.progress");

    private final RunSpec spec;
    private final int every;

    LoggingListener(RunSpec spec, int every) {
        this.spec = spec;
        this.every = every;
    }

    @Override
    public void onStep(int epoch, StepReport r) {
        if (r.skipped()) {
            log.warn(String.format(
                    Locale.ROOT,
                    "epoch %d step %d: the loss (data %s, l1 %s, l2 %s, l2sp %s) or the gradient norm (%s) is not"
                            + " finite: no update this step (|w| %.4g)",
                    epoch,
                    r.step(),
                    r.dataLoss(),
                    r.l1(),
                    r.l2(),
                    r.l2sp(),
                    r.gradNorm(),
                    r.weightNorm()));
        }
        if (every > 0 && r.step() % every == 0) {
            log.info(String.format(
                    Locale.ROOT,
                    "epoch %d step %d: loss %.4f (data %.4f, l1 %.4g, l2 %.4g, l2sp %.4g) lr %.3g grad %.3g->%.3g |w| %.4g",
                    epoch,
                    r.step(),
                    r.totalLoss(),
                    r.dataLoss(),
                    r.l1(),
                    r.l2(),
                    r.l2sp(),
                    r.learningRate(),
                    r.gradNorm(),
                    r.clippedGradNorm(),
                    r.weightNorm()));
        }
    }

    @Override
    public void onCheckpoint(CheckpointManifest m) {
        Map<String, Double> x = m.metrics();
        log.info(String.format(
                Locale.ROOT,
                "epoch %d/%d checkpointed as %s: train_loss %.4f (data %.4f), %d samples at %.0f samples/s, %d records rejected;"
                        + " sync: %.1f MB, %.2f s waiting (all nodes)",
                m.epoch(),
                spec.maxEpochs(),
                m.checkpointId(),
                x.get("train_loss"),
                x.get("data_loss"),
                x.get("samples").longValue(),
                x.get("samples_per_second"),
                x.get("rejected").longValue(),
                x.getOrDefault("sync_bytes", 0.0) / 1e6,
                x.getOrDefault("sync_wait_seconds", 0.0)));
    }
}
