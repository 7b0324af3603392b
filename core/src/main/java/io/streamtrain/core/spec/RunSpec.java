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
        SyncSpec sync,
        CheckpointSpec checkpoints) {

    public RunSpec withRegularization(RegularizationSpec r) {
        return new RunSpec(run, data, model, init, batchSize, maxEpochs, optimizer, r, earlyStopping, sync, checkpoints);
    }

    public RunSpec withMaxEpochs(int epochs) {
        return new RunSpec(run, data, model, init, batchSize, epochs, optimizer, regularization, earlyStopping, sync, checkpoints);
    }
}
