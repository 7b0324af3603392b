package io.streamtrain.trainer.control;

import io.streamtrain.core.spec.RunSpec;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The SET commands of a run with the step each took effect from (and, once revoked, the step
 * it ended at), so the settings of any step can be recomputed: after a rollback to an earlier
 * step, and after a restart (from the acknowledgements on the control topic), training uses
 * exactly the settings the uninterrupted run used at each step.
 */
public final class SettingsLog {
    /**
     * A SET in effect for every step after {@code afterStep} steps had been taken, until
     * {@code untilStep} steps had been (revoked then; {@link Long#MAX_VALUE} while it holds).
     */
    record Entry(String id, long afterStep, long untilStep, long order, Map<String, Double> values) {
        boolean holdsAfter(long stepsTaken) {
            return afterStep <= stepsTaken && stepsTaken < untilStep;
        }
    }

    private final RunSpec base;
    private final List<Entry> entries = new ArrayList<>();
    // at() runs before every step: the spec is rebuilt only when the entries in effect change
    private List<Entry> cachedEntries;
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
        add(null, afterStep, values);
    }

    /**
     * Records SET {@code id} (revocable by it); entries for the same step apply in the order
     * they were recorded.
     *
     * @throws IllegalArgumentException if the values are not settable or not allowed
     */
    public void add(String id, long afterStep, Map<String, Double> values) {
        Settings.apply(base, values); // refuse now what would be refused later
        Double l2sp = values.get("l2sp");
        if (l2sp != null && l2sp > 0 && base.regularization().l2sp() == 0) {
            // the anchors w0 are kept only by a run that starts with L2-SP: without them every step would fail
            throw new IllegalArgumentException(
                    "'l2sp' cannot be turned on in a run that started without L2-SP: its anchors"
                            + " (the initial weights w0) were not kept; start a run with regularization.l2sp > 0");
        }
        entries.add(new Entry(id, afterStep, Long.MAX_VALUE, entries.size(), Map.copyOf(values)));
        entries.sort(Comparator.comparingLong(Entry::afterStep).thenComparingLong(Entry::order));
        cachedEntries = null;
    }

    /**
     * Ends SET {@code id} for every step after {@code afterStep} steps (the earliest revocation
     * counts, as the earliest application does).
     *
     * @return false when no SET of that id is recorded (refused, or not this run's)
     */
    public boolean revoke(String id, long afterStep) {
        for (int i = 0; i < entries.size(); i++) {
            Entry e = entries.get(i);
            if (id.equals(e.id())) {
                entries.set(
                        i, new Entry(e.id(), e.afterStep(), Math.min(e.untilStep(), afterStep), e.order(), e.values()));
                cachedEntries = null;
                return true;
            }
        }
        return false;
    }

    /**
     * A SET that took effect from step {@code afterStep + 1}.
     *
     * @param values what it set
     */
    public record Applied(String id, long afterStep, Map<String, Double> values) {}

    /**
     * The SET to blame when the steps from {@code streakStart + 1} on were not finite: the one
     * that took effect last among those holding then, if it took effect at most {@code within}
     * steps before (the settings the first bad step trained with, changed by a command just
     * before it). None when no SET holds or the last one is older: the data, or the spec itself,
     * made training fail.
     */
    public Optional<Applied> culprit(long streakStart, long within) {
        Entry last = null;
        for (Entry e : entries) {
            if (e.id() != null && e.holdsAfter(streakStart) && (last == null || e.afterStep() >= last.afterStep())) {
                last = e;
            }
        }
        // a SET replayed before any node applied it holds from wherever this node started: counted from step 0, so an
        // old one
        // is not blamed for a node that trained long with it
        return last == null || streakStart - Math.max(0, last.afterStep()) > within
                ? Optional.empty()
                : Optional.of(new Applied(last.id(), last.afterStep(), last.values()));
    }

    /** The settings for the step that follows {@code stepsTaken} steps. */
    public RunSpec at(long stepsTaken) {
        List<Entry> holding = new ArrayList<>();
        for (Entry e : entries) {
            if (e.holdsAfter(stepsTaken)) {
                holding.add(e);
            }
        }
        if (!holding.equals(cachedEntries)) {
            RunSpec s = base;
            for (Entry e : holding) {
                s = Settings.apply(s, e.values());
            }
            cached = s;
            cachedEntries = holding;
        }
        return cached;
    }
}
