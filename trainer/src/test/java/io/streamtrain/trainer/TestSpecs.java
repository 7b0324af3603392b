package io.streamtrain.trainer;

import io.streamtrain.core.spec.CheckpointSpec;
import io.streamtrain.core.spec.DataSpec;
import io.streamtrain.core.spec.EarlyStoppingSpec;
import io.streamtrain.core.spec.InitSpec;
import io.streamtrain.core.spec.ModelSpec;
import io.streamtrain.core.spec.OptimizerSpec;
import io.streamtrain.core.spec.RegularizationSpec;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.core.spec.SyncSpec;
import java.util.List;

/** Run specs for unit tests, built from the records directly (no parser defaults involved). */
public final class TestSpecs {
    public static final String TRAIN_TOPIC = "unit.train";

    private TestSpecs() {}

    /** mlp, 4 inputs, hidden [5], 3 classes, relu, no dropout. */
    public static ModelSpec smallMlp() {
        return new ModelSpec("mlp", 4, List.of(5), "relu", 3, 1, 0.0);
    }

    public static OptimizerSpec sgd(double lr) {
        return new OptimizerSpec("sgd", lr, 0.0, 0.9, 0.999, 1e-8, OptimizerSpec.ScheduleSpec.CONSTANT);
    }

    public static OptimizerSpec adam(String type, double lr) {
        return new OptimizerSpec(type, lr, 0.0, 0.9, 0.999, 1e-8, OptimizerSpec.ScheduleSpec.CONSTANT);
    }

    public static RegularizationSpec reg(
            double l1, double l2, double l2sp, double weightDecay, List<String> exclude, double clip) {
        return new RegularizationSpec(l1, l2, l2sp, weightDecay, exclude, clip);
    }

    public static RunSpec spec(ModelSpec model, OptimizerSpec optimizer, RegularizationSpec regularization, long seed) {
        return spec(model, optimizer, regularization, seed, 4, 1);
    }

    public static RunSpec spec(
            ModelSpec model,
            OptimizerSpec optimizer,
            RegularizationSpec regularization,
            long seed,
            int batchSize,
            int maxEpochs) {
        return new RunSpec(
                "unit-run",
                new DataSpec(TRAIN_TOPIC, "unit.validation"),
                model,
                new InitSpec(seed, null),
                batchSize,
                maxEpochs,
                optimizer,
                regularization,
                EarlyStoppingSpec.of("val_loss", "min", 3, 0.001),
                SyncSpec.defaults(),
                new CheckpointSpec("kafka", 512 * 1024));
    }

    /** {@code s} with other data and sync sections. */
    public static RunSpec with(RunSpec s, DataSpec data, SyncSpec sync) {
        return new RunSpec(
                s.run(),
                data,
                s.model(),
                s.init(),
                s.batchSize(),
                s.maxEpochs(),
                s.optimizer(),
                s.regularization(),
                s.earlyStopping(),
                sync,
                s.checkpoints());
    }
}
