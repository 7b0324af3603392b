package io.streamtrain.trainer.feed;

import io.streamtrain.core.spec.DataSpec;
import io.streamtrain.core.spec.RunSpec;

/**
 * How a run cuts its epochs: a bounded run's epoch is the whole topic ({@code records} 0); a
 * continuous run's is a window of {@code records}, of which the share {@code replay} is drawn
 * again from the run's last {@code horizon} windows (the seed makes the draw the same on every
 * node and after every resume).
 *
 * @param records Kafka records per window over all partitions; 0 for a bounded run
 * @param replay the share of a window's trained records drawn from earlier windows, in [0, 0.9]
 * @param horizon how many windows back a replay may reach
 * @param seed what the replay's draw is seeded with (the run's {@code init.seed})
 */
public record Windowing(long records, double replay, int horizon, long seed) {
    /** A bounded run's: its epoch is the whole topic. */
    public static final Windowing BOUNDED = new Windowing(0, 0, 1, 0);

    public Windowing {
        if (records < 0 || !(replay >= 0 && replay <= DataSpec.Window.MAX_REPLAY) || horizon < 1) {
            throw new IllegalArgumentException(
                    "windows of " + records + " records replaying " + replay + " from " + horizon + " windows back");
        }
    }

    /** Windows of {@code records} records without replay (0: bounded). */
    public static Windowing records(long records) {
        return new Windowing(records, 0, 1, 0);
    }

    public static Windowing of(RunSpec spec) {
        DataSpec.Window w = spec.data().window();
        return w == null
                ? BOUNDED
                : new Windowing(
                        w.records(), w.replayShare(), w.horizon(), spec.init().seed());
    }

    public boolean continuous() {
        return records > 0;
    }
}
