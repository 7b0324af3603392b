package io.streamtrain.core.checkpoint;

import io.streamtrain.core.signing.Signing;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Finds a run's latest checkpoint by reading its checkpoint topic from the beginning to
 * the end seen at the start of the read. The consumer must read committed records only, so
 * a checkpoint whose transaction aborted is never seen.
 */
public final class CheckpointReader {
    private static final Logger log = LoggerFactory.getLogger(CheckpointReader.class);

    private CheckpointReader() {}

    /**
     * @return the last epoch checkpoint that verifies: what a run resumes from. Checkpoints
     *     that do not verify are logged and skipped (an earlier good one is still a valid
     *     place to resume from); mid-epoch snapshots are never resumed from
     * @throws TimeoutException if the topic cannot be read to its end within {@code timeout}
     */
    public static Optional<Checkpoint> latest(Consumer<byte[], byte[]> consumer, String topic, Duration timeout) {
        return latest(consumer, topic, timeout, PayloadSources.fromEnvironment());
    }

    /** @param sources where claim-checked payloads may be read from */
    public static Optional<Checkpoint> latest(
            Consumer<byte[], byte[]> consumer, String topic, Duration timeout, PayloadSources sources) {
        return latest(consumer, topic, timeout, sources, Signing.off());
    }

    /** @param signing with signatures checked, a manifest not signed by a key trusted with manifests is skipped */
    public static Optional<Checkpoint> latest(
            Consumer<byte[], byte[]> consumer,
            String topic,
            Duration timeout,
            PayloadSources sources,
            Signing signing) {
        return latest(consumer, topic, timeout, sources, signing, m -> null);
    }

    /**
     * @param refusal why a verified manifest is not one of the run's own (it is skipped, and the reason logged), or null when it is
     */
    public static Optional<Checkpoint> latest(
            Consumer<byte[], byte[]> consumer,
            String topic,
            Duration timeout,
            PayloadSources sources,
            Signing signing,
            java.util.function.Function<CheckpointManifest, String> refusal) {
        List<PartitionInfo> infos = consumer.partitionsFor(topic, timeout);
        if (infos == null || infos.isEmpty()) {
            return Optional.empty();
        }
        List<TopicPartition> partitions = infos.stream()
                .map(i -> new TopicPartition(topic, i.partition()))
                .toList();
        consumer.assign(partitions);
        consumer.seekToBeginning(partitions);
        Map<TopicPartition, Long> end = consumer.endOffsets(partitions, timeout);
        CheckpointAssembler assembler = new CheckpointAssembler(sources, signing);
        Checkpoint latest = null;
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!reached(consumer, end)) {
            if (System.nanoTime() > deadline) {
                throw new TimeoutException("reading " + topic + " to its end took longer than " + timeout);
            }
            for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                try {
                    Checkpoint c = assembler.accept(r);
                    String refused = c == null ? null : refusedOrWhy(refusal, c.manifest());
                    if (refused != null) {
                        log.warn(
                                "checkpoint {} at offset {} of {}: {}; skipping it",
                                io.streamtrain.core.logging.Logs.escape(
                                        c.manifest().checkpointId()),
                                r.offset(),
                                topic,
                                io.streamtrain.core.logging.Logs.escape(refused));
                    } else if (c != null
                            && !c.manifest().snapshot()
                            && (latest == null
                                    || c.manifest().epoch() >= latest.manifest().epoch())) {
                        latest = c;
                    }
                } catch (CheckpointRejectedException e) {
                    // its message escapes what the record says (escaped again, an id's \n would read \\n)
                    log.warn("{}; skipping it", e.getMessage());
                }
            }
        }
        consumer.unsubscribe();
        return Optional.ofNullable(latest);
    }

    /** {@code refusal}'s answer, or why it failed: a manifest its check cannot judge is not resumed from either. */
    private static String refusedOrWhy(
            java.util.function.Function<CheckpointManifest, String> refusal, CheckpointManifest m) {
        try {
            return refusal.apply(m);
        } catch (RuntimeException e) {
            return "it cannot be checked against the run (" + e + ")";
        }
    }

    private static boolean reached(Consumer<byte[], byte[]> consumer, Map<TopicPartition, Long> end) {
        for (Map.Entry<TopicPartition, Long> e : end.entrySet()) {
            if (consumer.position(e.getKey()) < e.getValue()) {
                return false;
            }
        }
        return true;
    }
}
