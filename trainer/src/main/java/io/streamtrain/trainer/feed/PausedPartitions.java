package io.streamtrain.trainer.feed;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Predicate;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.common.TopicPartition;

/**
 * Which of a consumer's assigned partitions it fetches: a mirror of the consumer's own paused
 * set, so that only what changes is sent to it. The live consumer's ({@link FetchPauses}) and
 * the replay consumer's ({@link ReplayReader}); the feed thread's own.
 */
final class PausedPartitions {
    private final Consumer<?, ?> consumer;
    private final Set<TopicPartition> paused = new HashSet<>();

    PausedPartitions(Consumer<?, ?> consumer) {
        this.consumer = consumer;
    }

    /** A new assignment: every one of its partitions paused. */
    void pauseEvery(List<TopicPartition> now) {
        consumer.pause(now);
        paused.clear();
        paused.addAll(now);
    }

    /** The partitions are no longer assigned (the consumer forgets their pauses too). */
    void forget() {
        paused.clear();
    }

    /** Fetches exactly the partitions of {@code assignment} that {@code wanted} accepts. */
    void fetchOnly(List<TopicPartition> assignment, Predicate<TopicPartition> wanted) {
        List<TopicPartition> pause = new ArrayList<>();
        List<TopicPartition> resume = new ArrayList<>();
        for (TopicPartition tp : assignment) {
            boolean fetch = wanted.test(tp);
            if (!fetch && paused.add(tp)) {
                pause.add(tp);
            } else if (fetch && paused.remove(tp)) {
                resume.add(tp);
            }
        }
        if (!pause.isEmpty()) {
            consumer.pause(pause);
        }
        if (!resume.isEmpty()) {
            consumer.resume(resume);
        }
    }

    /** Fetches nothing more on any of {@code assignment}. */
    void pauseAll(List<TopicPartition> assignment) {
        List<TopicPartition> more = assignment.stream().filter(paused::add).toList();
        if (!more.isEmpty()) {
            consumer.pause(more);
        }
    }
}
