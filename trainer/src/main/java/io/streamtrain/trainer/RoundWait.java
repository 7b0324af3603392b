package io.streamtrain.trainer;

import java.time.Duration;

/**
 * The clock of one wait for a sync round to close. Time the run spends paused does not
 * count: a PAUSE holds every node, those waiting for the paused ones included, and such a
 * wait is not a straggler's. Pure: the caller passes the time.
 */
final class RoundWait {
    enum Verdict {
        /** Keep waiting. */
        WAIT,
        /** Another {@code sync.timeoutSeconds} passed: say which partitions are missing, and keep waiting. */
        STRAGGLER,
        /** Give up: a node that died leaves the group within its session timeout, one that hangs within sync.timeoutSeconds. */
        GIVE_UP
    }

    private final long started;
    private final long stragglerNanos;
    private final long giveUpNanos;
    private long pausedNanos;
    private long warned;
    /** When {@link #after} was last asked: the time since then is attributed to the pause state it is told. */
    private long last;

    /**
     * @param straggler {@code sync.timeoutSeconds}: how long a node may take before the others name it
     * @param brokerWait how long the node waits for the broker; the wait gives up after the longer of it and twice {@code straggler}
     */
    RoundWait(long startedNanos, Duration straggler, Duration brokerWait) {
        this(startedNanos, straggler, brokerWait, true);
    }

    /**
     * @param givesUp false for a continuous run: a round there may wait for records nobody has
     *     produced yet (an idle partition holds every round), which is no failure; a node that
     *     died or hangs still leaves the group, and the round then closes without it
     */
    RoundWait(long startedNanos, Duration straggler, Duration brokerWait, boolean givesUp) {
        this.started = startedNanos;
        this.warned = startedNanos;
        this.last = startedNanos;
        this.stragglerNanos = straggler.toNanos();
        this.giveUpNanos = givesUp ? Math.max(2 * stragglerNanos, brokerWait.toNanos()) : Long.MAX_VALUE;
    }

    /**
     * @param paused whether the run is paused now: the time since the last call counts as
     *     paused (ask once per tick, so a pause's edges are off by one tick at most)
     */
    Verdict after(long nowNanos, boolean paused) {
        long interval = nowNanos - last;
        last = nowNanos;
        if (paused) {
            pausedNanos += interval;
            warned += interval;
            return Verdict.WAIT;
        }
        if (waitedNanos(nowNanos) > giveUpNanos) {
            return Verdict.GIVE_UP;
        }
        if (nowNanos - warned > stragglerNanos) {
            warned = nowNanos;
            return Verdict.STRAGGLER;
        }
        return Verdict.WAIT;
    }

    /** The time waited so far, paused time excluded. */
    long waitedNanos(long nowNanos) {
        return nowNanos - started - pausedNanos;
    }

    long giveUpSeconds() {
        return giveUpNanos / 1_000_000_000L;
    }
}
