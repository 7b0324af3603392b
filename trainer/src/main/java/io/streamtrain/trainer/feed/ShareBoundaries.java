package io.streamtrain.trainer.feed;

import java.time.Instant;
import java.util.HashMap;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.TopicPartition;

/**
 * Where each assigned partition's share of a window of time ({@link Windowing#timed}) ends: the
 * boundary that the timestamp of the share's first record gives ({@link
 * Windowing#boundaryAfter}); the first later record stamped at or after it is the next window's.
 * A resume in the middle of a share reads the share's first record again for its boundary, and
 * what it reads below the resume position only for that. For any other run it knows nothing and
 * ends nothing. The feed thread's own, part of {@link PartitionBuffers}.
 */
final class ShareBoundaries {
    /** Where a share that starts at {@code from} ends. */
    private record Boundary(long from, long at) {}

    private final Windowing windowing;
    /** Per partition: the boundary of its current share, once its first record was seen. */
    private final Map<TopicPartition, Boundary> boundaries = new HashMap<>();
    /** Per partition resumed mid-share: records below this offset are read for the boundary only. */
    private final Map<TopicPartition, Long> skipBelow = new HashMap<>();

    ShareBoundaries(Windowing windowing) {
        this.windowing = windowing;
    }

    /** Whether {@code tp} is in a window of time whose current share's boundary is not known yet. */
    boolean unknown(TopicPartition tp, EpochPlan plan) {
        Boundary b = boundaries.get(tp);
        return windowing.timed() && (b == null || b.from() != plan.from(tp));
    }

    /**
     * Where the live consumer reads {@code tp} from to go on at {@code position}: there, or, in
     * the middle of a share whose boundary is unknown, at the share's first record.
     */
    long seekFor(TopicPartition tp, EpochPlan plan, long position) {
        if (unknown(tp, plan) && position > plan.from(tp)) {
            skipBelow.put(tp, position);
            return plan.from(tp);
        }
        return position;
    }

    /** Whether a fetched record is below a resume position: read for its share's boundary, not kept. */
    boolean readOnly(ConsumerRecord<?, ?> r, TopicPartition tp, EpochPlan plan) {
        Long skip = skipBelow.get(tp);
        if (skip == null) {
            return false;
        }
        if (r.offset() < skip) {
            learn(r, tp, plan);
            return true;
        }
        skipBelow.remove(tp);
        return false;
    }

    /** The feed takes {@code r}: the first record of a share (at or after its start) fixes where the share ends. */
    void learn(ConsumerRecord<?, ?> r, TopicPartition tp, EpochPlan plan) {
        if (unknown(tp, plan) && r.offset() >= plan.from(tp)) {
            boundaries.put(tp, new Boundary(plan.from(tp), windowing.boundaryAfter(r.timestamp())));
        }
    }

    /** Whether {@code next}, the partition's next record, is the first of the next window. */
    boolean ends(ConsumerRecord<?, ?> next, TopicPartition tp, EpochPlan plan) {
        return next != null
                && !unknown(tp, plan)
                && next.timestamp() >= boundaries.get(tp).at();
    }

    /** What an open share waits for, as the feed's wait line says it. */
    String awaited(TopicPartition tp, EpochPlan plan) {
        return unknown(tp, plan)
                ? "its first record"
                : "a record stamped at or after "
                        + Instant.ofEpochMilli(boundaries.get(tp).at());
    }

    /** The positions are gone (a new assignment, or an epoch's start): no resume skips anything. */
    void clearSkips() {
        skipBelow.clear();
    }
}
