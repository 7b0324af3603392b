package io.streamtrain.trainer.feed;

import io.streamtrain.core.checkpoint.CheckpointManifest.OffsetRange;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.TopicPartition;

/**
 * The feed thread's account of each assigned partition against the epoch plan: the records
 * fetched and not yet taken, the next offset to take, where the current round started, and
 * whether its fetching is paused (so that the buffers stay bounded in bytes and nothing past
 * the epoch's end is fetched: {@link FetchPauses}). The assignment is kept in partition order,
 * the order records are taken in round-robin.
 *
 * <p>A continuous run's window with replay reads each partition's replayed records first
 * ({@link EpochPlan#replayRange}) through a consumer of their own, outside the group, so that
 * the live consumer reads on where it is; a position below the plan's {@code from} is a
 * replayed record's ({@link EpochPlan#replayOffset}).
 *
 * <p>A window of time learns here where it ends on a partition ({@link ShareBoundaries}).
 *
 * <p>Apart from the thread's loop so that every offset the feed reports (a round's ranges,
 * what an epoch still needs) comes from one place. Used by the feed thread only, but for
 * {@link #plan()}.
 */
final class PartitionBuffers {
    /** What an unfinished epoch still needs: each partition as {@code partition@position/end}, and the records missing. */
    record Needed(List<String> partitions, long missing) {}

    /**
     * A round's ranges, and the partitions whose share of a window of time ended at its range's
     * end (the round's contribution declares them; empty for any other run).
     */
    record RoundRanges(List<OffsetRange> ranges, List<Integer> ended) {}

    private final Consumer<byte[], ByteBuffer> consumer;
    /** Reads the replayed records of a continuous run's windows; null when its windows replay none. */
    private final ReplayReader replay;

    private final Windowing windowing;
    /** Read by the training thread too (a joining node's resume point names it). */
    private volatile EpochPlan plan;

    private List<TopicPartition> assignment = List.of();
    private final Map<TopicPartition, ArrayDeque<ConsumerRecord<byte[], ByteBuffer>>> buffers = new HashMap<>();
    /** The buffers' bytes, and which partitions' fetching is paused. */
    private final FetchPauses pauses;
    /** Per assigned partition: where the round started, and the next offset to take. */
    private final Map<TopicPartition, Long> roundFrom = new HashMap<>();

    private final Map<TopicPartition, Long> next = new HashMap<>();
    /** Where the shares of a window of time end. */
    private final ShareBoundaries shares;
    /** Whether the record {@link #take} returned last was a replayed one. */
    private boolean tookReplayed;

    /** The partition whose next record (in round-robin order) had not arrived when the feed last looked, or null. */
    private TopicPartition blockedOn;

    /**
     * @param plan the epoch plan from the checkpoint being resumed, or null until it is known
     * @param replay reads the replayed records of a run whose windows replay some (else null)
     * @param bufferBytes how many bytes all partitions' buffers hold before their fetching pauses
     */
    PartitionBuffers(
            Consumer<byte[], ByteBuffer> consumer,
            ReplayReader replay,
            EpochPlan plan,
            Windowing windowing,
            long bufferBytes) {
        this.consumer = consumer;
        this.replay = replay;
        this.plan = plan;
        this.windowing = windowing;
        this.shares = new ShareBoundaries(windowing);
        this.pauses = new FetchPauses(consumer, replay, windowing, bufferBytes);
    }

    EpochPlan plan() {
        return plan;
    }

    void plan(EpochPlan newPlan) {
        plan = newPlan;
    }

    List<TopicPartition> assignment() {
        return assignment;
    }

    /** Whether this node holds every partition of the topic. */
    boolean holdsAll() {
        return plan != null && assignment.size() == plan.ranges().size();
    }

    // ---- assignment ----

    /** The partitions are no longer ours: nothing of them is kept. */
    void revoke() {
        buffers.clear();
        pauses.revoked();
        shares.clearSkips();
        assignment = List.of();
        if (replay != null) {
            replay.unassign();
        }
    }

    /**
     * Takes the consumer's new assignment, paused until an epoch begins on it.
     *
     * @return the assignment, in partition order
     */
    List<TopicPartition> reassign() {
        List<TopicPartition> now = consumer.assignment().stream()
                .sorted(Comparator.comparingInt(TopicPartition::partition))
                .toList();
        buffers.clear();
        shares.clearSkips();
        assignment = now;
        pauses.assigned(now);
        // a defined position until beginEpoch seeks to the plan (reset policy is "none": no silent jumps)
        consumer.seekToBeginning(now);
        if (replay != null) {
            replay.assign(now);
        }
        return now;
    }

    // ---- epochs and rounds ----

    /** Drops every buffered record and position: at an epoch's start, and when the feed goes idle. */
    void clear() {
        buffers.clear();
        pauses.emptied();
        next.clear();
        shares.clearSkips();
        if (replay != null) {
            replay.clear();
        }
    }

    /**
     * An epoch begins: each partition is read from the plan's start, or from {@code positions}
     * (the last closed round's, kept within the plan's range).
     */
    void seek(Map<Integer, Long> positions) {
        for (TopicPartition tp : assignment) {
            long start = plan.start(tp.partition());
            long from =
                    positions == null ? start : Math.max(start, Math.min(plan.to(tp), positions.get(tp.partition())));
            // the live consumer reads the window's own records; the replayed ones come first, from the replay consumer
            consumer.seek(tp, shares.seekFor(tp, plan, Math.max(from, plan.from(tp))));
            next.put(tp, from);
            buffers.put(tp, new ArrayDeque<>());
            pauses.emptied(tp);
            beginReplay(tp, from);
        }
        roundFrom.clear();
        roundFrom.putAll(next);
    }

    /** A continuous run's next window, where the last one ended: what is buffered past that is the new window's. */
    void nextWindow() {
        for (TopicPartition tp : assignment) {
            long start = plan.start(tp.partition());
            next.put(tp, start);
            beginReplay(tp, start);
        }
        roundFrom.clear();
        roundFrom.putAll(next);
    }

    /** A partition at {@code position} of its window: if that is in the window's replay, the replay consumer reads from there. */
    private void beginReplay(TopicPartition tp, long position) {
        if (position < plan.from(tp)) {
            replay.begin(
                    tp,
                    plan.replayOffset(tp.partition(), position),
                    plan.replayRange(tp.partition()).to());
        } else if (replay != null) {
            replay.end(tp);
        }
    }

    /** Whether the record {@link #take} returned last was a replayed one (read again by the window's replay). */
    boolean tookReplayed() {
        return tookReplayed;
    }

    /** Whether the round-robin order waits on a replayed record (the feed then polls the replay consumer more often). */
    boolean replayAwaited() {
        return blockedOn != null && inReplay(blockedOn) && replay.starved(blockedOn);
    }

    /** Takes what the replay consumer fetched, waiting {@code wait} at most; see {@link ReplayReader#poll}. */
    boolean pollReplay(Duration wait, int window, boolean awaited) {
        return replay != null && replay.poll(wait, window, awaited);
    }

    /** Closes the replay consumer, if any (the feed thread's, at its end). */
    void closeReplay(Duration timeout) {
        if (replay != null) {
            replay.close(timeout);
        }
    }

    /** Whether {@code tp}'s next record is a replayed one. */
    private boolean inReplay(TopicPartition tp) {
        return next.get(tp) != null && next.get(tp) < plan.from(tp);
    }

    /** @return whether the record was kept */
    boolean buffer(ConsumerRecord<byte[], ByteBuffer> r) {
        TopicPartition tp = new TopicPartition(r.topic(), r.partition());
        ArrayDeque<ConsumerRecord<byte[], ByteBuffer>> b = buffers.get(tp);
        // records past the snapshot belong to no epoch of this run; a continuous run's belong to its next windows
        if (b == null || (!windowing.continuous() && r.offset() >= plan.to(tp))) {
            return false;
        }
        if (shares.readOnly(r, tp, plan)) {
            return false; // trained before the resume: read for its share's boundary only
        }
        b.addLast(r);
        pauses.buffered(tp, r);
        return true;
    }

    /** The next record of {@code tp}, or null when it has not arrived yet. */
    ConsumerRecord<byte[], ByteBuffer> take(TopicPartition tp) {
        if (inReplay(tp)) {
            ConsumerRecord<byte[], ByteBuffer> replayed = replay.take(tp);
            if (replayed != null) {
                blockedOn = null;
                long position = next.get(tp);
                // the position of the record taken, plus one (offsets without records in between are skipped over)
                next.put(tp, position + (replayed.offset() - plan.replayOffset(tp.partition(), position)) + 1);
                tookReplayed = true;
                return replayed;
            }
            if (!replay.fetched(tp)) {
                blockedOn = tp;
                return null;
            }
            next.put(tp, plan.from(tp)); // the replay is done: the window's own records follow
            replay.end(tp);
        }
        ConsumerRecord<byte[], ByteBuffer> r = buffers.get(tp).pollFirst();
        if (r == null) {
            blockedOn = tp;
            return null;
        }
        blockedOn = null;
        tookReplayed = false;
        pauses.taken(tp, r);
        next.put(tp, r.offset() + 1);
        shares.learn(r, tp, plan);
        return r;
    }

    /**
     * A partition is done for the epoch when every record before the plan's end is taken: its
     * position passed the end and its buffer is empty, or (a continuous run, which keeps what
     * it read of its next windows) the next record buffered is past the end.
     */
    boolean finished(TopicPartition tp) {
        if (inReplay(tp)) {
            return false;
        }
        ConsumerRecord<byte[], ByteBuffer> head = buffers.get(tp).peekFirst();
        if (plan.open(tp.partition())) {
            if (!shares.ends(head, tp, plan)) {
                return false;
            }
            plan = plan.endedAt(tp.partition(), head.offset()); // the first record of the next window
            return true;
        }
        return head == null ? consumer.position(tp) >= plan.to(tp) : head.offset() >= plan.to(tp);
    }

    boolean allFinished() {
        return assignment.stream().allMatch(this::finished);
    }

    /**
     * Closes the round's ranges: each partition's from where the last round ended to what it took
     * (its end, once finished), and in a window of time the partitions whose share has ended.
     */
    RoundRanges closeRound(String topic) {
        List<OffsetRange> ranges = new ArrayList<>();
        List<Integer> ended = new ArrayList<>();
        for (TopicPartition tp : assignment) {
            boolean finished = finished(tp);
            long to = finished ? plan.to(tp) : next.get(tp);
            ranges.add(new OffsetRange(topic, tp.partition(), roundFrom.get(tp), to));
            roundFrom.put(tp, to);
            if (finished && windowing.timed()) {
                ended.add(tp.partition());
            }
        }
        return new RoundRanges(ranges, ended);
    }

    // ---- fetching ----

    /** Fetch only what the buffers have room for, and nothing past the epoch's end. */
    void adjustPauses() {
        pauses.adjust(assignment, plan);
    }

    /** Fetches nothing more on any assigned partition. */
    void pauseAll() {
        pauses.pauseAll(assignment);
    }

    // ---- what the epoch waits for ----

    Needed needed() {
        List<String> waiting = new ArrayList<>();
        long missing = 0;
        for (TopicPartition tp : assignment) {
            if (!finished(tp)) {
                long position = consumer.position(tp);
                if (plan.open(tp.partition())) {
                    waiting.add(tp.partition() + "@" + position + "/" + shares.awaited(tp, plan));
                    continue;
                }
                waiting.add(
                        inReplay(tp)
                                ? tp.partition() + "@replay " + plan.replayOffset(tp.partition(), next.get(tp)) + "/"
                                        + plan.replayRange(tp.partition()).to() + ", then " + position + "/"
                                        + plan.to(tp)
                                : tp.partition() + "@" + position + "/" + plan.to(tp));
                missing += plan.to(tp) - position - buffers.get(tp).size();
            }
        }
        return new Needed(waiting, missing);
    }

    /** Records that arrived on the assigned partitions and are not taken yet, as of the last fetch. */
    long backlog() {
        long lag = 0;
        for (TopicPartition tp : assignment) {
            // a partition has a buffer once an epoch began on it (a pause may come before)
            ArrayDeque<ConsumerRecord<byte[], ByteBuffer>> b = buffers.get(tp);
            lag += (b == null ? 0 : b.size()) + consumer.currentLag(tp).orElse(0);
        }
        return lag;
    }

    /** The partition the round-robin order waits on, if nothing of it is buffered; else null. */
    TopicPartition starvedOn() {
        // a replay waits for records that exist (the replay consumer's fetch), never for new data
        return blockedOn != null
                        && !inReplay(blockedOn)
                        && buffers.get(blockedOn) != null
                        && buffers.get(blockedOn).isEmpty()
                ? blockedOn
                : null;
    }

    /** How many records {@code tp} has that are not fetched yet, as of the last fetch; empty if no fetch has answered. */
    OptionalLong lagOf(TopicPartition tp) {
        return consumer.currentLag(tp);
    }
}
