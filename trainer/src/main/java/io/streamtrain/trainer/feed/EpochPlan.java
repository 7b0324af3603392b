package io.streamtrain.trainer.feed;

import io.streamtrain.core.checkpoint.CheckpointManifest.OffsetRange;
import io.streamtrain.core.kafka.StartupException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.common.TopicPartition;

/**
 * What one epoch reads: for each partition of the train topic, the offsets {@code [from, to)}.
 *
 * <p>Over bounded data ({@code windowing} {@link Windowing#BOUNDED}) these are the offsets
 * snapshotted when the run started, and every epoch replays exactly them. In a continuous run
 * each epoch is a <i>window</i> of {@code windowing.records()} records of a live topic: the
 * next window starts where this one ends, each partition advancing by its share ({@link
 * #share}), so where every window ends follows from the first window's offsets alone, whatever
 * arrived when.
 *
 * <p>A window with replay ({@code data.window.replay}) first trains, on each partition, a run
 * of {@link #replayed} earlier records of that partition ({@link #replayRange}), then its own.
 * Where that run starts is drawn, seeded by the run's seed, the window and the partition, from
 * the partition's last {@code horizon} windows: a function of the plan alone, like the rest.
 * A position in such a window counts the replayed records first: it goes from {@link #start}
 * ({@code from} minus the replayed count) to {@code to}, and a position below {@code from}
 * stands for the replayed record {@link #replayOffset} names. So a round's ranges, the sync
 * log's positions and a resume mid-window work as they do without replay.
 *
 * <p>A window of time ({@code data.window.minutes}, {@link Windowing#timed}) does not know where
 * it ends when it starts: each partition's range is {@link #OPEN} until the node that reads it
 * meets its first record stamped at or after the window's boundary ({@link
 * Windowing#boundaryAfter}), and declares the end in its round's contribution; the sync log then
 * fixes it ({@link #endedAt}) for every node. The next window starts where this one ended.
 *
 * @param ranges each partition's own records {@code [from, to)}, in partition order
 * @param windowing how the run cuts its epochs
 * @param index which window of the run this plan is (1: the first); 0 for a bounded run
 */
public record EpochPlan(String topic, Map<Integer, long[]> ranges, Windowing windowing, int index) {
    /** The end of a window of time's range on a partition before it is known. */
    public static final long OPEN = Long.MAX_VALUE;

    public EpochPlan {
        Map<Integer, long[]> copy = new TreeMap<>();
        ranges.forEach((p, r) -> copy.put(p, new long[] {r[0], r[1]}));
        ranges = java.util.Collections.unmodifiableMap(copy);
        long window = windowing.records();
        if (window > 0 && window < ranges.size()) {
            throw new IllegalArgumentException(
                    "a window of " + window + " records cannot give each of " + ranges.size() + " partitions a share");
        }
        if (windowing.continuous() != index > 0) {
            throw new IllegalArgumentException("window index " + index + " for " + windowing);
        }
    }

    /** A bounded run's plan. */
    public EpochPlan(String topic, Map<Integer, long[]> ranges) {
        this(topic, ranges, Windowing.BOUNDED, 0);
    }

    /** The first window of a continuous run of {@code window} records without replay (0: a bounded run's plan). */
    public EpochPlan(String topic, Map<Integer, long[]> ranges, long window) {
        this(topic, ranges, Windowing.records(window), window > 0 ? 1 : 0);
    }

    /** Records per window of a continuous run; 0 for a bounded one. */
    public long window() {
        return windowing.records();
    }

    /** The plan a checkpoint's offset ranges describe (a bounded run's; see {@link #windowed}). */
    public static EpochPlan of(String topic, Collection<OffsetRange> offsets) {
        Map<Integer, long[]> m = new TreeMap<>();
        for (OffsetRange r : offsets) {
            if (r.topic().equals(topic)) {
                m.put(r.partition(), new long[] {r.from(), r.to()});
            }
        }
        return new EpochPlan(topic, m);
    }

    /**
     * The same ranges as window {@code index} of a run cut by {@code windowing} (a bounded run's
     * plan again when it is {@link Windowing#BOUNDED}).
     */
    public EpochPlan windowed(Windowing w, int windowIndex) {
        return new EpochPlan(topic, ranges, w, w.continuous() ? windowIndex : 0);
    }

    /** The same ranges as the first window of a run of {@code records} per window without replay (0: bounded). */
    public EpochPlan windowed(long records) {
        return new EpochPlan(topic, ranges, records);
    }

    public boolean continuous() {
        return windowing.continuous();
    }

    /**
     * The plan of the epoch after this one: the same for a bounded run, the next window for a
     * continuous one. In a window of time, a partition whose end this plan does not know (a
     * feed knows only the ends of the partitions it reads; the sync log moves on only once it
     * knows them all) has no known start in the next window either: {@code [OPEN, OPEN)}.
     */
    public EpochPlan next() {
        return nextFrom(index);
    }

    /** The plan after this one, numbered {@code from + 1} ({@link StartingPlan#firstWindow} starts from 0). */
    EpochPlan nextFrom(int from) {
        if (!continuous()) {
            return this;
        }
        Map<Integer, long[]> m = new TreeMap<>();
        int i = 0;
        for (Map.Entry<Integer, long[]> e : ranges.entrySet()) {
            long to = e.getValue()[1];
            m.put(e.getKey(), new long[] {to, windowing.timed() ? OPEN : to + share(i++)});
        }
        return new EpochPlan(topic, m, windowing, from + 1);
    }

    /**
     * The plan of the epoch before this one ({@link #next()} undone).
     *
     * @throws IllegalStateException for a window of time, whose length is not fixed
     */
    public EpochPlan previous() {
        if (!continuous()) {
            return this;
        }
        if (windowing.timed()) {
            throw new IllegalStateException("where window " + (index - 1) + " of time began is not in window " + index
                    + "'s plan: keep the plan that ended");
        }
        Map<Integer, long[]> m = new TreeMap<>();
        int i = 0;
        for (Map.Entry<Integer, long[]> e : ranges.entrySet()) {
            long from = e.getValue()[0];
            m.put(e.getKey(), new long[] {from - share(i++), from});
        }
        return new EpochPlan(topic, m, windowing, Math.max(1, index - 1));
    }

    /** Whether {@code partition}'s range in this window of time has no known end yet. */
    public boolean open(int partition) {
        return ranges.get(partition)[1] == OPEN;
    }

    /**
     * This window of time with {@code partition}'s range ending at {@code end}: the offset of
     * the first record of the partition that belongs to the next window.
     *
     * @throws IllegalArgumentException when the plan is not a window of time, the end is before
     *     the range's start, or the range already ends elsewhere
     */
    public EpochPlan endedAt(int partition, long end) {
        long[] r = ranges.get(partition);
        if (!canEndAt(partition, end)) {
            throw new IllegalArgumentException("partition " + partition + " of window " + index + " cannot end at "
                    + end + " (its range: " + (r == null ? "none" : "[" + r[0] + ", " + r[1] + ")") + ")");
        }
        if (r[1] == end) {
            return this;
        }
        Map<Integer, long[]> m = new TreeMap<>(ranges);
        m.put(partition, new long[] {r[0], end});
        return new EpochPlan(topic, m, windowing, index);
    }

    /**
     * Whether {@code partition}'s range in this window of time may end at {@code end}: at or
     * after its start, and where it ends already if it does ({@link #endedAt} refuses the rest).
     */
    public boolean canEndAt(int partition, long end) {
        long[] r = ranges.get(partition);
        return windowing.timed() && r != null && end >= r[0] && end != OPEN && (r[1] == OPEN || r[1] == end);
    }

    /** The records of a window the {@code order}-th partition (in partition order) holds. */
    long share(int order) {
        int partitions = ranges.size();
        long window = windowing.records();
        return window / partitions + (order < window % partitions ? 1 : 0);
    }

    // ---- replay ----

    /**
     * How many earlier records this window replays on {@code partition} before its own: the
     * share {@code replay} of what it trains there ({@code share * replay / (1 - replay)},
     * rounded down), at most what the partition's earlier windows within the horizon hold.
     */
    public long replayed(int partition) {
        if (windowing.replay() == 0) {
            return 0;
        }
        long share = share(orderOf(partition));
        double f = windowing.replay();
        long wanted = (long) Math.floor(share * f / (1 - f) + 1e-9);
        return Math.min(wanted, reach(partition));
    }

    /** The records of {@code partition} before this window that a replay may draw from (within the horizon). */
    private long reach(int partition) {
        return (long) Math.min(index - 1, windowing.horizon()) * share(orderOf(partition));
    }

    /**
     * The earlier records this window replays on {@code partition}: {@link #replayed} of them
     * in a row, from an offset drawn (seeded by the run, the window and the partition) within the
     * last {@code horizon} windows; null when it replays none.
     */
    public OffsetRange replayRange(int partition) {
        long k = replayed(partition);
        if (k == 0) {
            return null;
        }
        long from = ranges.get(partition)[0];
        long lowest = from - reach(partition);
        long choices = from - k - lowest + 1;
        long seed = windowing.seed() * 0x9E3779B97F4A7C15L + index * 0xC2B2AE3D27D4EB4FL + partition;
        long start = lowest + new SplittableRandom(seed).nextLong(choices);
        return new OffsetRange(topic, partition, start, start + k);
    }

    /** The replayed ranges of every partition that replays, in partition order (a checkpoint lists them). */
    public List<OffsetRange> replays() {
        List<OffsetRange> out = new ArrayList<>();
        for (int p : ranges.keySet()) {
            OffsetRange r = replayRange(p);
            if (r != null) {
                out.add(r);
            }
        }
        return out;
    }

    /** Where {@code partition}'s reading of this window starts: {@code from}, less the records it replays first. */
    public long start(int partition) {
        return ranges.get(partition)[0] - replayed(partition);
    }

    /**
     * The offset a position below {@code from} stands for: the replayed record it counts.
     *
     * @throws IllegalArgumentException for a position outside the replay
     */
    public long replayOffset(int partition, long position) {
        long skipped = position - start(partition);
        OffsetRange r = replayRange(partition);
        if (r == null || skipped < 0 || skipped >= r.count()) {
            throw new IllegalArgumentException(
                    "position " + position + " of partition " + partition + " is not in window " + index + "'s replay");
        }
        return r.from() + skipped;
    }

    private int orderOf(int partition) {
        int i = 0;
        for (int p : ranges.keySet()) {
            if (p == partition) {
                return i;
            }
            i++;
        }
        throw new IllegalArgumentException("partition " + partition + " is not in the plan " + ranges.keySet());
    }

    /**
     * The plan a run that starts now reads first: the topic as it stands ({@code window} 0,
     * {@link StartingPlan#snapshot}), or the first window of a continuous run
     * ({@link StartingPlan#firstWindow}).
     *
     * @throws StartupException when the topic has no records, or more partitions than a window has
     *     records
     */
    public static EpochPlan start(Consumer<?, ?> consumer, String topic, Windowing w) {
        return w.continuous() ? StartingPlan.firstWindow(consumer, topic, w) : StartingPlan.snapshot(consumer, topic);
    }

    /** What a log line says of it. */
    public String describe() {
        if (windowing.timed()) {
            return "window " + index + " of " + windowing.millis() / 1000.0 + " s of record timestamps over "
                    + ranges.size() + " partitions of " + topic + " " + text(all());
        }
        return continuous()
                ? "window " + index + " of " + windowing.records() + " records over " + ranges.size()
                        + " partitions of " + topic + " " + text(all())
                        + (replays().isEmpty() ? "" : ", replaying " + text(replays()))
                : records() + " records over " + ranges.size() + " partitions of " + topic
                        + " (end offsets snapshotted now)";
    }

    /** Ranges as a log line shows them: {@code {partition: [from, to), ...}}. */
    private static String text(List<OffsetRange> ranges) {
        StringBuilder b = new StringBuilder();
        ranges.forEach(r -> b.append(b.length() == 0 ? "" : ", ")
                .append(r.partition())
                .append(": [")
                .append(r.from() == OPEN ? "?" : String.valueOf(r.from()))
                .append(", ")
                .append(r.to() == OPEN ? "open" : String.valueOf(r.to()))
                .append(')'));
        return "{" + b + "}";
    }

    /** Every partition's range, in partition order. */
    public List<OffsetRange> all() {
        return rangesOf(
                ranges.keySet().stream().map(p -> new TopicPartition(topic, p)).toList());
    }

    /** The first of {@code tp}'s own records in this epoch (its replayed ones, if any, come before: {@link #start}). */
    public long from(TopicPartition tp) {
        return range(tp)[0];
    }

    public long to(TopicPartition tp) {
        return range(tp)[1];
    }

    public boolean covers(TopicPartition tp) {
        return tp.topic().equals(topic) && ranges.containsKey(tp.partition());
    }

    private long[] range(TopicPartition tp) {
        long[] r = ranges.get(tp.partition());
        if (r == null || !tp.topic().equals(topic)) {
            throw new IllegalArgumentException(tp + " is not in the epoch plan of " + topic + " " + ranges.keySet());
        }
        return r;
    }

    /** The ranges of the given partitions, in partition order, as a manifest lists them. */
    public List<OffsetRange> rangesOf(Collection<TopicPartition> partitions) {
        List<OffsetRange> out = new ArrayList<>();
        partitions.stream()
                .map(TopicPartition::partition)
                .sorted()
                .forEach(p -> out.add(new OffsetRange(topic, p, ranges.get(p)[0], ranges.get(p)[1])));
        return out;
    }

    /** The records of the plan's ranges (those still open count none). */
    public long records() {
        return ranges.values().stream()
                .mapToLong(r -> r[1] == OPEN ? 0 : r[1] - r[0])
                .sum();
    }
}
