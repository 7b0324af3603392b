package io.streamtrain.trainer.sync;

import static io.streamtrain.core.logging.Logs.escape;

import io.streamtrain.core.checkpoint.CheckpointManifest.OffsetRange;
import io.streamtrain.core.codec.SafeTensors;
import io.streamtrain.core.protocol.RoundSums;
import io.streamtrain.core.protocol.SyncMessage;
import io.streamtrain.trainer.feed.EpochPlan;
import io.streamtrain.trainer.feed.Windowing;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The sync protocol as a state machine over the sync topic's records, in log order. Every
 * node feeds it the same records, so every node reaches the same closed rounds, the same
 * combined state and the same resume points, without talking to anyone but the log.
 *
 * <ul>
 *   <li>A <b>generation</b> is the consumer group's: every node writes a join when it is
 *       assigned partitions, and the first join of a new generation ends the previous one.
 *       Later records of another generation are stale and ignored (their writer is about to
 *       learn of the rebalance and roll back). A join of a lower generation after a long
 *       silence is a group made anew (see {@link #GROUP_RECREATED_GAP_MILLIS}).
 *   <li>A <b>round</b> closes when the contributions of the current generation to round
 *       {@code last + 1} cover every partition of the train topic exactly once. The combined
 *       state, the new positions and the epoch's sums follow from them alone.
 *   <li>The <b>resume point</b> of a generation is the last closed round as it stood when the
 *       generation's first record was read: what every node of that generation rolls back to.
 * </ul>
 */
public final class SyncLog {
    private static final Logger log = LoggerFactory.getLogger(SyncLog.class);

    /**
     * What the nodes of one generation roll back to.
     *
     * @param lastEpochEnd the round that ended the last epoch of the log, or null
     * @param epochEndBefore the round that ended the epoch before that one, or null: if the
     *     group moved on while its checkpoint was committed, and the last epoch closed in the
     *     old generation before its nodes saw that, neither checkpoint was committed
     */
    public record Resume(int generation, RoundState round, RoundState lastEpochEnd, RoundState epochEndBefore) {
        /** The epochs' ends whose checkpoints the new owner of partition 0 makes sure of, oldest first. */
        public List<RoundState> epochEnds() {
            List<RoundState> ends = new ArrayList<>();
            if (epochEndBefore != null) {
                ends.add(epochEndBefore);
            }
            if (lastEpochEnd != null) {
                ends.add(lastEpochEnd);
            }
            return ends;
        }
    }

    private record Pending(SyncMessage.Contribution contribution, SafeTensors.Document state) {}

    /**
     * A join of a lower (or the same) generation written this long after the log's previous record means
     * the consumer group was deleted (empty, no offsets) and made anew: Kafka starts its
     * generations over. A stale join (a node that had not seen the rebalance yet) comes
     * within moments of the others.
     */
    static final long GROUP_RECREATED_GAP_MILLIS = 60_000;

    private final Combiner combiner;
    private final Windowing windowing;
    private long lastTimestamp = -1;
    /** The most nodes any generation read so far had. */
    private int mostMembers;

    private RoundState lastClosed;
    private RoundState lastEpochEnd;
    /** The epoch end before {@link #lastEpochEnd} (kept for a new owner of partition 0: see {@link Resume}). */
    private RoundState epochEndBefore;

    private int generation;
    private Resume resume;
    private final Map<String, Pending> pending = new LinkedHashMap<>();
    /** Generation → the nodes that joined it. */
    private final Map<Integer, Set<String>> members = new HashMap<>();
    /** The current generation's first join of each node name, and the later joins of other processes under a name taken. */
    private final Map<String, SyncMessage.Join> joinOf = new HashMap<>();

    private final Set<String> nameTaken = new HashSet<>();
    /** Generation → partition → node, from the joins: who holds up a round. */
    private final Map<Integer, Map<Integer, String>> owners = new HashMap<>();
    /** Per partition, how far the first pass over its records was contributed by anyone (their dead letters are written). */
    private final Map<Integer, Long> deadLettersThrough = new HashMap<>();

    /**
     * @param start the run's start, or the round its latest checkpoint ended
     * @param lastEpochEnd the same when {@code start} ends an epoch (a checkpoint), else null
     */
    public SyncLog(Combiner combiner, RoundState start, RoundState lastEpochEnd) {
        this(combiner, start, lastEpochEnd, -1);
    }

    /**
     * @param startedAt when {@code start} was written (a checkpoint's time, milliseconds), or
     *     -1: a join long after it with a generation not above the checkpoint's is a group made anew
     */
    public SyncLog(Combiner combiner, RoundState start, RoundState lastEpochEnd, long startedAt) {
        this(combiner, start, lastEpochEnd, startedAt, Windowing.BOUNDED);
    }

    /**
     * @param windowing how the run cuts its epochs: for a continuous run the plan the run's
     *     first join names is its first window, and every epoch's end moves on to the next
     */
    public SyncLog(Combiner combiner, RoundState start, RoundState lastEpochEnd, long startedAt, Windowing windowing) {
        this.windowing = windowing;
        this.lastTimestamp = startedAt;
        this.combiner = combiner;
        this.lastClosed = start;
        this.lastEpochEnd = lastEpochEnd;
        this.generation = start.generation();
    }

    public RoundState lastClosed() {
        return lastClosed;
    }

    public RoundState lastEpochEnd() {
        return lastEpochEnd;
    }

    /** The highest generation seen. */
    public int generation() {
        return generation;
    }

    /** The resume point of {@code g}, or null when {@code g} is not the latest generation (it is stale). */
    public Resume resume(int g) {
        return resume != null && resume.generation() == g && generation == g ? resume : null;
    }

    /** First-pass dead letters of partition {@code p} below this offset were already written by some node. */
    public long deadLettersThrough(int partition) {
        return deadLettersThrough.getOrDefault(partition, -1L);
    }

    /** The most nodes that joined any one generation in the log read so far. */
    public int mostMembers() {
        return mostMembers;
    }

    /** The nodes that joined generation {@code g} so far (none once a later generation began). */
    /**
     * Whether the join {@code joinId} came from a second live node under a name another
     * node joined the current generation with first (each has partitions of its own): the
     * sync log counts and names nodes by their names, so the later one must go.
     */
    public boolean nameTaken(String joinId) {
        return nameTaken.contains(joinId);
    }

    public Set<String> members(int g) {
        return members.getOrDefault(g, Set.of());
    }

    /** The partitions the open round still waits for, with the node that holds each (when known). */
    public Map<Integer, String> missing() {
        Map<Integer, String> out = new TreeMap<>();
        if (lastClosed.plan() == null) {
            return out;
        }
        Set<Integer> covered = covered();
        Map<Integer, String> who = owners.getOrDefault(generation, Map.of());
        for (int p : lastClosed.plan().ranges().keySet()) {
            if (!covered.contains(p)) {
                out.put(p, who.getOrDefault(p, "?"));
            }
        }
        return out;
    }

    /** Takes the next record of the log, as if written at time 0 (no group recreation is ever seen). */
    public RoundState accept(long offset, SyncMessage m, SafeTensors.Document state) {
        return accept(offset, 0, m, state);
    }

    /**
     * Takes the next record of the log.
     *
     * @param offset its offset on the sync topic
     * @param timestamp its timestamp on the sync topic (milliseconds)
     * @param state a contribution's decoded payload (null when it carries none)
     * @return the round this record closed, or null
     */
    public RoundState accept(long offset, long timestamp, SyncMessage m, SafeTensors.Document state) {
        long previous = lastTimestamp;
        lastTimestamp = Math.max(lastTimestamp, timestamp);
        // a bounded run reads its records first in epoch 1; a continuous one reads every window's for the first time
        if (m instanceof SyncMessage.Contribution c && (c.epoch() == 1 || windowing.continuous())) {
            for (OffsetRange r : c.ranges()) {
                deadLettersThrough.merge(r.partition(), r.to(), Math::max);
            }
        }
        if (m instanceof SyncMessage.Join j) {
            boolean recreated =
                    j.generation() <= generation && previous >= 0 && timestamp - previous > GROUP_RECREATED_GAP_MILLIS;
            if (j.generation() < generation && !recreated) {
                log.debug("stale join of generation {} from {} (now {})", j.generation(), escape(j.node()), generation);
                return null;
            }
            if (recreated) {
                log.warn(
                        "the consumer group's generation went back from {} to {} after {} s without sync records: the group was"
                                + " deleted while no trainer ran and made anew; its generations start over",
                        generation,
                        j.generation(),
                        (timestamp - previous) / 1000);
            }
            if (lastClosed.plan() == null) {
                // the run's first join decides the epoch plan for everyone
                lastClosed = lastClosed.withPlan(
                        EpochPlan.of(j.plan().get(0).topic(), j.plan()).windowed(windowing, lastClosed.epoch() + 1));
            }
            if (j.generation() != generation || recreated) {
                // only a join starts a generation: every node writes one before it contributes in it
                generation = j.generation();
                pending.clear();
                owners.clear();
                members.clear();
                joinOf.clear();
                nameTaken.clear();
                resume = new Resume(generation, lastClosed, lastEpochEnd, epochEndBefore);
            }
            SyncMessage.Join first = joinOf.putIfAbsent(j.node(), j);
            if (first != null
                    && !first.id().equals(j.id())
                    && !first.partitions().equals(j.partitions())) {
                nameTaken.add(j.id()); // two processes, one name: the group gave them different partitions; the first
                // keeps it
            }
            Map<Integer, String> who = owners.computeIfAbsent(j.generation(), g -> new HashMap<>());
            j.partitions().forEach(p -> who.put(p, j.node()));
            members.computeIfAbsent(j.generation(), g -> new TreeSet<>()).add(j.node());
            mostMembers = Math.max(mostMembers, members.get(j.generation()).size());
            return null;
        }
        SyncMessage.Contribution c = (SyncMessage.Contribution) m;
        if (c.generation() != generation) {
            log.debug(
                    "stale contribution of generation {} from {} (now {})",
                    c.generation(),
                    escape(c.node()),
                    generation);
            return null;
        }
        if (c.round() != lastClosed.round() + 1 || c.epoch() != lastClosed.epoch() + 1 || lastClosed.plan() == null) {
            log.warn(
                    "ignoring a contribution of {} to round {} (epoch {}): the open round is {} (epoch {})",
                    escape(c.node()),
                    c.round(),
                    c.epoch(),
                    lastClosed.round() + 1,
                    lastClosed.epoch() + 1);
            return null;
        }
        Set<Integer> covered = covered();
        if (!endsFit(c)) {
            log.warn(
                    "ignoring a contribution of {} to round {}: it ends partitions {} of window {} where the window does"
                            + " not end by time, outside its ranges, or elsewhere than the round's log fixed",
                    escape(c.node()),
                    c.round(),
                    c.ended(),
                    lastClosed.epoch() + 1);
            return null;
        }
        for (OffsetRange r : c.ranges()) {
            if (!covered.add(r.partition())
                    || !lastClosed.plan().ranges().containsKey(r.partition())
                    || r.from() != lastClosed.positions().get(r.partition())) {
                log.warn(
                        "ignoring a contribution of {} to round {}: partition {} from {} is already covered, not in the plan,"
                                + " or not where the round started",
                        escape(c.node()),
                        c.round(),
                        r.partition(),
                        r.from());
                return null;
            }
        }
        pending.put(c.id(), new Pending(c, state));
        if (!covered().containsAll(lastClosed.plan().ranges().keySet())) {
            return null;
        }
        return close(offset);
    }

    /** Whether the partitions a contribution ends are its own, and the plan lets them end where its ranges do. */
    private boolean endsFit(SyncMessage.Contribution c) {
        for (int p : c.ended()) {
            OffsetRange r = c.ranges().stream()
                    .filter(x -> x.partition() == p)
                    .findFirst()
                    .orElse(null);
            if (r == null || !lastClosed.plan().canEndAt(p, r.to())) {
                return false;
            }
        }
        return true;
    }

    private Set<Integer> covered() {
        Set<Integer> s = new TreeSet<>();
        pending.values().forEach(p -> p.contribution().ranges().forEach(r -> s.add(r.partition())));
        return s;
    }

    private RoundState close(long offset) {
        // the canonical order: by the lowest partition each contribution covers
        List<Pending> ordered = new ArrayList<>(pending.values());
        ordered.sort(Comparator.comparingInt(p -> p.contribution().ranges().stream()
                .mapToInt(OffsetRange::partition)
                .min()
                .orElse(-1)));
        List<Combiner.Weighted> weighted = new ArrayList<>();
        Map<Integer, Long> positions = new TreeMap<>(lastClosed.positions());
        RoundSums sums = lastClosed.epochEnd() ? RoundSums.ZERO : lastClosed.epochSums();
        long steps = 0;
        EpochPlan plan = lastClosed.plan();
        for (Pending p : ordered) {
            SyncMessage.Contribution c = p.contribution();
            c.ranges().forEach(r -> positions.put(r.partition(), r.to()));
            for (OffsetRange r : c.ranges()) {
                if (c.ended().contains(r.partition())) {
                    plan = plan.endedAt(r.partition(), r.to()); // a window of time ends where its reader met the next
                }
            }
            sums = sums.plus(c.sums());
            steps = Math.max(steps, c.steps());
            weighted.add(new Combiner.Weighted(p.state(), c.sums().samples()));
        }
        SafeTensors.Document combined = combiner.combine(lastClosed.state(), weighted);
        boolean epochDone =
                plan.ranges().entrySet().stream().allMatch(e -> positions.get(e.getKey()) >= e.getValue()[1]);
        long round = lastClosed.round() + 1;
        long step = lastClosed.step() + steps;
        pending.clear();
        if (epochDone) {
            EpochPlan next = plan.next(); // the same plan again, or a continuous run's next window
            lastClosed = new RoundState(
                    round,
                    lastClosed.epoch() + 1,
                    step,
                    RoundState.starts(next),
                    sums,
                    combined,
                    next,
                    generation,
                    offset + 1,
                    true,
                    plan);
            epochEndBefore = lastEpochEnd;
            lastEpochEnd = lastClosed;
        } else {
            lastClosed = new RoundState(
                    round,
                    lastClosed.epoch(),
                    step,
                    positions,
                    sums,
                    combined,
                    plan,
                    generation,
                    offset + 1,
                    false,
                    null);
        }
        return lastClosed;
    }
}
