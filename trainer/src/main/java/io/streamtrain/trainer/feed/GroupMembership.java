package io.streamtrain.trainer.feed;

import java.nio.ByteBuffer;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The feed's membership of the train topic's consumer group: the subscription and its
 * rebalance listener, and leaving the group while the training thread stalls, so that the
 * other nodes take this node's partitions over (their rounds wait for it otherwise); it
 * rejoins when the trainer is back.
 *
 * <p>Apart from the thread's loop so that every way an assignment can end is in one place.
 * Used by the feed thread only, but for {@link #heartbeat()} and {@link #evictions()}.
 */
final class GroupMembership {
    // the feed's log lines keep the logger name its operators' filters know
    private static final Logger log = LoggerFactory.getLogger(BatchFeed.class);

    private final Consumer<byte[], ByteBuffer> consumer;
    private final String topic;
    private final long stallNanos;
    private final Runnable revoked;
    private final Runnable reassigned;
    private final AtomicLong evictions = new AtomicLong();
    /** When the training thread last showed it is alive; a feed whose trainer hangs leaves the group. */
    private volatile long trainerBeat = System.nanoTime();

    private boolean left;

    /**
     * @param stallNanos {@code sync.timeoutSeconds}: how long the training thread may go unheard
     * @param revoked the partitions are no longer this node's
     * @param reassigned a rebalance gave this node its (possibly empty, possibly same) partitions
     */
    GroupMembership(
            Consumer<byte[], ByteBuffer> consumer,
            String topic,
            long stallNanos,
            Runnable revoked,
            Runnable reassigned) {
        this.consumer = consumer;
        this.topic = topic;
        this.stallNanos = stallNanos;
        this.revoked = revoked;
        this.reassigned = reassigned;
    }

    /** See {@link BatchFeed#heartbeat()}. */
    void heartbeat() {
        trainerBeat = System.nanoTime();
    }

    /** Times this feed left the group because the training thread stalled. */
    long evictions() {
        return evictions.get();
    }

    void subscribe() {
        consumer.subscribe(List.of(topic), new Listener());
    }

    /** @return true while out of the group (nothing to poll) */
    boolean leaveOrRejoin() throws InterruptedException {
        long since = System.nanoTime() - trainerBeat;
        if (!left && since > stallNanos) {
            log.warn(
                    "the training thread has not been heard from for {} s (sync.timeoutSeconds is {}): leaving the group so"
                            + " that the other nodes take this node's partitions over; it rejoins when training resumes",
                    since / 1_000_000_000L,
                    stallNanos / 1_000_000_000L);
            consumer.unsubscribe();
            revoked.run();
            left = true;
            evictions.incrementAndGet();
        } else if (left && since < stallNanos) {
            log.info("the training thread is back: rejoining the group");
            subscribe();
            left = false;
        }
        if (left) {
            Thread.sleep(100);
        }
        return left;
    }

    private final class Listener implements ConsumerRebalanceListener {
        // nothing is committed on revocation: offsets are committed only with the checkpoint that accounts for them

        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
            if (!partitions.isEmpty()) {
                revoked.run();
            }
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
            // called after every rebalance, with an empty set too: the Reset goes out here
            reassigned.run();
        }

        @Override
        public void onPartitionsLost(Collection<TopicPartition> partitions) {
            revoked.run();
        }
    }
}
