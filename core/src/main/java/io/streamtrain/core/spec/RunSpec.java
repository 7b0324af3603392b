package io.streamtrain.core.spec;

/**
 * One training run, as written in its YAML document. Immutable; build it with
 * {@link RunSpecParser}, which rejects anything it does not understand.
 */
public record RunSpec(
        String run,
        DataSpec data,
        ModelSpec model,
        InitSpec init,
        int batchSize,
        int maxEpochs,
        OptimizerSpec optimizer,
        RegularizationSpec regularization,
        EarlyStoppingSpec earlyStopping,
        EvaluationSpec evaluation,
        SyncSpec sync,
        CheckpointSpec checkpoints) {

    /** A spec with the default {@link EvaluationSpec} (trainers not held back by the evaluator). */
    public RunSpec(
            String run,
            DataSpec data,
            ModelSpec model,
            InitSpec init,
            int batchSize,
            int maxEpochs,
            OptimizerSpec optimizer,
            RegularizationSpec regularization,
            EarlyStoppingSpec earlyStopping,
            SyncSpec sync,
            CheckpointSpec checkpoints) {
        this(
                run,
                data,
                model,
                init,
                batchSize,
                maxEpochs,
                optimizer,
                regularization,
                earlyStopping,
                EvaluationSpec.DEFAULT,
                sync,
                checkpoints);
    }

    public RunSpec withRegularization(RegularizationSpec r) {
        return new RunSpec(
                run,
                data,
                model,
                init,
                batchSize,
                maxEpochs,
                optimizer,
                r,
                earlyStopping,
                evaluation,
                sync,
                checkpoints);
    }

    public RunSpec withMaxEpochs(int epochs) {
        return new RunSpec(
                run,
                data,
                model,
                init,
                batchSize,
                epochs,
                optimizer,
                regularization,
                earlyStopping,
                evaluation,
                sync,
                checkpoints);
    }
}
