package io.streamtrain.trainer.feed;

import io.streamtrain.core.spec.DataSpec;
import io.streamtrain.core.spec.RunSpec;

/**
 * How a run cuts its epochs: a bounded run's epoch is the whole topic ({@code records} and
 * {@code millis} 0); a continuous run's is a window of {@code records}, of which the share
 * {@code replay} is drawn again from the run's last {@code horizon} windows (the seed makes the
 * draw the same on every node and after every resume), or a window of {@code millis} of record
 * timestamps on each partition ({@link #boundaryAfter}).
 *
 * @param records Kafka records per window over all partitions; 0 for a bounded run or a window of time
 * @param millis the span of record timestamps of a window of time; 0 for any other run
 * @param replay the share of a window's trained records drawn from earlier windows, in [0, 0.9]
 * @param horizon how many windows back a replay may reach
 * @param seed what the replay's draw is seeded with (the run's {@code init.seed})
 */
public record Windowing(long records, long millis, double replay, int horizon, long seed) {
    /** A bounded run's: its epoch is the whole topic. */
    public static final Windowing BOUNDED = new Windowing(0, 0, 0, 1, 0);

    public Windowing {
        if (records < 0
                || millis < 0
                || (records > 0 && millis > 0)
                || !(replay >= 0 && replay <= DataSpec.Window.MAX_REPLAY)
                || (millis > 0 && replay > 0)
                || horizon < 1) {
            throw new IllegalArgumentException("windows of " + records + " records or " + millis + " ms replaying "
                    + replay + " from " + horizon + " windows back");
        }
    }

    /** Windows of {@code records} records without replay (0: bounded). */
    public static Windowing records(long records) {
        return new Windowing(records, 0, 0, 1, 0);
    }

    /** Windows of {@code millis} of record timestamps on each partition. */
    public static Windowing millis(long millis) {
        return new Windowing(0, millis, 0, 1, 0);
    }

    public static Windowing of(RunSpec spec) {
        DataSpec.Window w = spec.data().window();
        return w == null
                ? BOUNDED
                : new Windowing(
                        w.records(),
                        w.millis(),
                        w.replayShare(),
                        w.horizon(),
                        spec.init().seed());
    }

    public boolean continuous() {
        return records > 0 || millis > 0;
    }

    /** Whether a window ends on record timestamps ({@code data.window.minutes}) rather than a count. */
    public boolean timed() {
        return millis > 0;
    }

    /**
     * Where a window of time that starts with a record stamped {@code timestamp} ends: the next
     * multiple of {@code millis} since the Unix epoch after it. The window takes, on the
     * partition, every record up to the first one stamped at or after that; so a window is never
     * empty (it holds its first record), and after a pause in the data the next window starts
     * with the next record, not with empty windows for the time that passed.
     */
    public long boundaryAfter(long timestamp) {
        return Math.floorDiv(timestamp, millis) * millis + millis;
    }
}
