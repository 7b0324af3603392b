package io.streamtrain.trainer.feed;

import java.time.Duration;
import java.util.OptionalLong;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Whether the feed is waiting for records, and what it says about it. A bounded run's epoch
 * needs records that exist: the feed warns every 30 s that none arrive, and fails after the
 * broker wait (the node then exits, to be restarted from its checkpoint). A continuous run's
 * window waits for records that may not be produced yet, as long as it takes: an idle topic
 * is no failure; the feed says so, and keeps the window lag.
 *
 * <p>Apart from the thread's loop so that its clocks, and the two figures the trainer's
 * metrics read from another thread ({@link #awaitingData()}, {@link #backlog()}), live in one
 * place.
 */
final class DataWait {
    // the feed's log lines keep the logger name its operators' filters know
    private static final Logger log = LoggerFactory.getLogger(BatchFeed.class);
    private static final long WAIT_LOG_NANOS = TimeUnit.SECONDS.toNanos(30);

    private final String topic;
    /** Whether the run is continuous: its windows wait for data as long as it takes. */
    private final boolean continuous;

    private final long brokerWaitNanos;
    private final PartitionBuffers partitions;
    private final PrefetchQueue<FeedItem> queue;
    private long lastProgress = System.nanoTime();
    private long lastWaitLog;
    /** When the partition a continuous window waits on was first seen with no known lag (no fetch answered), or -1. */
    private long lagUnknownSince = -1;

    private volatile boolean awaitingData;
    /** Records on the assigned partitions not taken by the feed yet, as of the last fetch. */
    private volatile long backlog;
    /** Records the feed took since the assignment, and those of them the trainer finished a round on. */
    private final AtomicLong taken = new AtomicLong();

    private final AtomicLong trained = new AtomicLong();

    /**
     * @param brokerWait how long the epoch may get no records while it still needs some
     *     before the feed fails
     */
    DataWait(
            String topic,
            boolean continuous,
            Duration brokerWait,
            PartitionBuffers partitions,
            PrefetchQueue<FeedItem> queue) {
        this.topic = topic;
        this.continuous = continuous;
        this.brokerWaitNanos = brokerWait.toNanos();
        this.partitions = partitions;
        this.queue = queue;
        this.lastWaitLog = System.nanoTime() - WAIT_LOG_NANOS; // a continuous run's first wait for data is said at once
    }

    /** See {@link BatchFeed#awaitingData()}. */
    boolean awaitingData() {
        return awaitingData;
    }

    /** See {@link BatchFeed#backlog()}: not taken yet, or taken and in a round the trainer has not finished. */
    long backlog() {
        return continuous ? backlog + Math.max(0, taken.get() - trained.get()) : 0;
    }

    /** The feed took a record (the feed thread). */
    void took() {
        taken.incrementAndGet();
    }

    /** The trainer reached the end of a round of {@code records} records (the training thread). */
    void trained(long records) {
        trained.addAndGet(records);
    }

    /** Records arrived, or the epoch (re)started: the broker wait starts over. */
    void progressed() {
        lastProgress = System.nanoTime();
    }

    /** Nothing is read for now (no partitions, or none left to read): nothing is awaited, and there is no lag. */
    void reset() {
        awaitingData = false;
        backlog = 0;
        taken.set(0);
        trained.set(0);
    }

    /**
     * PAUSEd (by an operator, or held back by {@code evaluation.maxLag}): waiting for that, not
     * for data, and not for the broker; what arrives meanwhile is lag.
     */
    void paused() {
        awaitingData = false;
        lastProgress = System.nanoTime();
        if (continuous) {
            backlog = partitions.backlog();
        }
    }

    /**
     * Looks at the wait once per poll of a running epoch.
     *
     * @param running whether the epoch is still read (the poll may have ended the feed's last)
     * @param itemsPending whether items wait for room in the prefetch queue
     */
    void look(boolean running, int epoch, boolean itemsPending) {
        if (continuous) {
            watchWindow(running, epoch, itemsPending);
            return;
        }
        long now = System.nanoTime();
        if (itemsPending || queue.bytes() > 0) {
            lastProgress = now; // the trainer has data: a slow step is not a missing broker
            return;
        }
        boolean givingUp = now - lastProgress > brokerWaitNanos;
        if (!givingUp && (now - lastProgress < WAIT_LOG_NANOS || now - lastWaitLog < WAIT_LOG_NANOS)) {
            return;
        }
        PartitionBuffers.Needed needed = partitions.needed();
        if (needed.partitions().isEmpty()) {
            return;
        }
        long waited = (now - lastProgress) / 1_000_000_000L;
        if (givingUp) {
            throw new IllegalStateException("no records from " + topic + " for " + waited + " s (the broker wait is "
                    + brokerWaitNanos / 1_000_000_000L + " s) while epoch " + epoch + " still needs partitions "
                    + needed.partitions()
                    + " (position/end); giving up, a restart resumes from the last checkpoint");
        }
        lastWaitLog = now;
        log.warn(
                "no records from {} for {} s; epoch {} still needs partitions {} (position/end). Is the broker reachable?"
                        + " Waiting up to {} s",
                topic,
                waited,
                epoch,
                needed.partitions(),
                brokerWaitNanos / 1_000_000_000L);
    }

    /** A continuous run's window: says that it waits (at most every 30 s), and keeps the window lag. */
    private void watchWindow(boolean running, int epoch, boolean itemsPending) {
        if (!running) {
            reset();
            return;
        }
        backlog = partitions.backlog();
        TopicPartition starved = itemsPending ? null : partitions.starvedOn();
        OptionalLong blockedLag = starved != null ? partitions.lagOf(starved) : OptionalLong.empty();
        boolean idle = blockedLag.isPresent() && blockedLag.getAsLong() == 0;
        long now = System.nanoTime();
        if (idle && now - lastWaitLog >= WAIT_LOG_NANOS) {
            lastWaitLog = now;
            PartitionBuffers.Needed needed = partitions.needed();
            log.info(
                    "window {} waits for data: {} on partitions {} (position/window end); {} has no newer records yet",
                    epoch,
                    needed.missing() > 0
                            ? needed.missing() + " more record(s) to close it"
                            : "the record that closes it",
                    needed.partitions(),
                    topic);
        }
        awaitingData = idle;
        // starved with no lag known: no fetch has answered, which is the broker's silence, not an idle topic
        if (starved == null || blockedLag.isPresent()) {
            lagUnknownSince = -1;
        } else if (lagUnknownSince < 0) {
            lagUnknownSince = now;
        } else if (now - lagUnknownSince >= WAIT_LOG_NANOS && now - lastWaitLog >= WAIT_LOG_NANOS) {
            lastWaitLog = now;
            log.warn(
                    "window {} waits for partition {} of {}, whose lag has been unknown for {} s: no fetch has answered. Is the broker"
                            + " reachable? The window waits (a continuous run does not give up on its data)",
                    epoch,
                    starved.partition(),
                    topic,
                    (now - lagUnknownSince) / 1_000_000_000L);
        }
    }
}
