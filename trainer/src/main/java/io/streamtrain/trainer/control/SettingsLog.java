package io.streamtrain.trainer.control;

import io.streamtrain.core.spec.RunSpec;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

/**
 * The SET commands of a run with the step each took effect from, so the settings of any
 * step can be recomputed: after a rollback to an earlier step, and after a restart (from
 * the acknowledgements on the control topic), training uses exactly the settings the
 * uninterrupted run used at each step.
 */
public final class SettingsLog {
    /** A SET in effect for every step after {@code afterStep} steps had been taken. */
    record Entry(long afterStep, long order, Map<String, Double> values) {}

    private final RunSpec base;
    private final List<Entry> entries = new ArrayList<>();
    // at() runs before every step: the spec is rebuilt only when the entries in effect change
    private int cachedCount = -1;
    private RunSpec cached;

    public SettingsLog(RunSpec base) {
        this.base = base;
    }

    /**
     * Records a SET; entries for the same step apply in the order they were recorded.
     *
     * @throws IllegalArgumentException if the values are not settable or not allowed
     */
    public void add(long afterStep, Map<String, Double> values) {
        Settings.apply(base, values); // refuse now what would be refused later
        Double l2sp = values.get("l2sp");
        if (l2sp != null && l2sp > 0 && base.regularization().l2sp() == 0) {
            // the anchors w0 are kept only by a run that starts with L2-SP: without them every step would fail
            throw new IllegalArgumentException("'l2sp' cannot be turned on in a run that started without L2-SP: its anchors"
                    + " (the initial weights w0) were not kept; start a run with regularization.l2sp > 0");
        }
        entries.add(new Entry(afterStep, entries.size(), Map.copyOf(values)));
        entries.sort(Comparator.comparingLong(Entry::afterStep).thenComparingLong(Entry::order));
        cachedCount = -1;
    }

    /** The settings for the step that follows {@code stepsTaken} steps. */
    public RunSpec at(long stepsTaken) {
        int count = 0;
        while (count < entries.size() && entries.get(count).afterStep() <= stepsTaken) {
            count++;
        }
        if (count != cachedCount) {
            RunSpec s = base;
            for (Entry e : entries.subList(0, count)) {
                s = Settings.apply(s, e.values());
            }
            cached = s;
            cachedCount = count;
        }
        return cached;
    }
}
