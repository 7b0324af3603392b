package io.streamtrain.trainer;

import io.streamtrain.core.kafka.StartupException;
import io.streamtrain.core.protocol.Messages;
import io.streamtrain.core.protocol.SyncMessage;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.core.topics.Topics;
import io.streamtrain.trainer.feed.BatchFeed;
import io.streamtrain.trainer.feed.EpochPlan;
import io.streamtrain.trainer.sync.SyncChannel;
import io.streamtrain.trainer.sync.SyncLog;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One assignment being joined ({@link NodeState#JOINING}, {@link NodeState#AWAITING_MEMBERS}):
 * announced on the sync log, read back, and, before the run's first round, held until
 * {@code sync.minNodes} nodes joined. Each call does one bounded piece of that and says where
 * the join stands.
 */
final class Joining {
    private static final Logger log = LoggerFactory.getLogger(Joining.class);

    enum Step {
        /** This node's announcement has not come back from the log yet. */
        PENDING,
        /** A newer generation came first: its assignment is on its way. */
        SUPERSEDED,
        /** The run's first round waits for more nodes. */
        AWAITING_MEMBERS,
        /** {@link #resume()} is the round every node of this generation continues from. */
        READY
    }

    private final RunSpec spec;
    private final TrainerOptions options;
    private final SyncLog syncLog;
    private final SyncChannel sync;
    private final BatchFeed.Reset reset;
    private final List<Integer> partitions;
    private final String id = Messages.newId();
    private final long deadline;
    private SyncLog.Resume resume;
    private long membersLoggedAt;

    private Joining(RunSpec spec, TrainerOptions options, SyncLog syncLog, SyncChannel sync, BatchFeed.Reset reset) {
        this.spec = spec;
        this.options = options;
        this.syncLog = syncLog;
        this.sync = sync;
        this.reset = reset;
        this.partitions = reset.assignment().stream()
                .map(TopicPartition::partition)
                .sorted()
                .toList();
        this.deadline = System.nanoTime() + options.brokerWait().toNanos();
    }

    /**
     * Writes the join: the partitions and the epoch plan (the last closed round's, or for a run's
     * first join the train topic's end offsets now).
     */
    static Joining announce(
            RunSpec spec,
            TrainerOptions options,
            SyncLog syncLog,
            SyncChannel sync,
            BatchFeed.Reset reset,
            Supplier<EpochPlan> planSnapshot) {
        Joining j = new Joining(spec, options, syncLog, sync, reset);
        EpochPlan plan = syncLog.lastClosed().plan();
        if (plan == null) {
            plan = planSnapshot.get();
        }
        sync.join(new SyncMessage.Join(j.id, j.generation(), options.nodeId(), j.partitions, plan.all()));
        return j;
    }

    BatchFeed.Reset reset() {
        return reset;
    }

    List<Integer> partitions() {
        return partitions;
    }

    SyncLog.Resume resume() {
        return resume;
    }

    private int generation() {
        return reset.group().generationId();
    }

    /** Reads the log for this node's own join. */
    Step readBack() {
        for (SyncChannel.Read r : sync.poll(Duration.ofMillis(100))) {
            if (r.message().id().equals(id)) {
                return joined();
            }
        }
        if (System.nanoTime() > deadline) {
            throw new IllegalStateException(
                    "this node's own record on " + Topics.sync(spec.run()) + " did not come back within "
                            + options.brokerWait().toSeconds() + " s; a restart resumes from the last closed round");
        }
        return Step.PENDING;
    }

    private Step joined() {
        if (syncLog.nameTaken(id)) {
            // the later of the two joins leaves, and the run goes on with the other
            throw new StartupException(
                    StartupException.BAD_CONFIGURATION,
                    "another live trainer of run " + spec.run()
                            + " joined group generation " + generation() + " as node " + options.nodeId()
                            + ": give every trainer its own"
                            + " --node-id (default $STREAMTRAIN_NODE_ID, else $HOSTNAME)");
        }
        resume = syncLog.resume(generation());
        if (resume == null) {
            log.info(
                    "group generation {} was superseded before this node started in it; waiting for the next assignment",
                    generation());
            return Step.SUPERSEDED;
        }
        return resume.round().round() == 0 && !enoughMembers() ? Step.AWAITING_MEMBERS : Step.READY;
    }

    /** Before the run's first round: reads the log for more joins. */
    Step awaitMembers() {
        if (syncLog.generation() != generation()) {
            return Step.SUPERSEDED;
        }
        if (enoughMembers()) {
            return Step.READY;
        }
        if (System.nanoTime() - membersLoggedAt > TimeUnit.SECONDS.toNanos(10)) {
            membersLoggedAt = System.nanoTime();
            log.info(
                    "waiting for {} trainer nodes before the run's first round (sync.minNodes); joined: {}",
                    spec.sync().minNodes(),
                    io.streamtrain.core.logging.Logs.escape(String.valueOf(syncLog.members(generation()))));
        }
        sync.poll(Duration.ofMillis(100));
        return Step.AWAITING_MEMBERS;
    }

    /** Enough when sync.minNodes joined this generation, or some generation had that many (the run started; one lost since does not hold the rest back). */
    private boolean enoughMembers() {
        int want = spec.sync().minNodes();
        return syncLog.members(generation()).size() >= want || syncLog.mostMembers() >= want;
    }
}
