package io.streamtrain.trainer;

import java.time.Duration;

/**
 * How a trainer node runs, apart from what it trains (that is the run spec).
 *
 * @param nodeId this node's name: in logs, checkpoints, acknowledgements and the sync log,
 *     which counts and names a run's nodes by it; two live nodes of a run must not share one
 * @param prefetchBytes the most decoded batch data held ahead of the training step
 * @param brokerWait how long Kafka may be unreachable mid-run before the node gives up
 * @param logEverySteps a progress line every this many steps (0: only per epoch)
 */
public record TrainerOptions(String nodeId, long prefetchBytes, Duration brokerWait, int logEverySteps) {
    public static final long DEFAULT_PREFETCH_BYTES = 64L * 1024 * 1024;

    public static TrainerOptions defaults(String nodeId) {
        return new TrainerOptions(nodeId, DEFAULT_PREFETCH_BYTES, Duration.ofMinutes(5), 100);
    }

    public TrainerOptions withPrefetchBytes(long bytes) {
        return new TrainerOptions(nodeId, bytes, brokerWait, logEverySteps);
    }

    public TrainerOptions withLogEverySteps(int steps) {
        return new TrainerOptions(nodeId, prefetchBytes, brokerWait, steps);
    }

    public TrainerOptions withBrokerWait(Duration wait) {
        return new TrainerOptions(nodeId, prefetchBytes, wait, logEverySteps);
    }
}
