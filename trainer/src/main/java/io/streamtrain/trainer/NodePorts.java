package io.streamtrain.trainer;

import io.micrometer.core.instrument.MeterRegistry;
import io.streamtrain.core.kafka.KafkaSettings;
import io.streamtrain.core.metrics.KafkaMeters;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.core.topics.Topics;
import io.streamtrain.trainer.feed.BatchFeed;
import io.streamtrain.trainer.feed.EpochPlan;
import io.streamtrain.trainer.feed.Windowing;
import io.streamtrain.trainer.sync.SyncChannel;
import io.streamtrain.trainer.sync.SyncLog;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The adapters a {@link NodeLoop} works through, each owning its Kafka clients: the batch
 * feed (on a thread of its own), the sync channel, the checkpoint topic and the dead-letter
 * writer. {@link #open} builds them over Kafka; tests build them over Kafka's mock clients.
 * Closing closes them all, each bounded, so SIGTERM's grace period holds with the broker away.
 */
final class NodePorts implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(NodePorts.class);
    /** How long a client may take to close: bounded, so SIGTERM's grace period holds even with the broker away. */
    static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(5);
    /** How long reading a topic to its end (control history, the latest checkpoint) may take. */
    static final Duration READ_TIMEOUT = Duration.ofSeconds(60);

    private final BatchFeed feed;
    private final Thread feedThread;
    private final SyncChannel sync;
    private final Checkpoints checkpoints;
    private final DeadLetterWriter deadLetters;
    private final Supplier<EpochPlan> planSnapshot;
    private final List<AutoCloseable> alsoClose;

    /**
     * @param feedThread the thread running {@code feed}, joined on close (null if none)
     * @param planSnapshot the train topic's end offsets now: the plan of a run's first epoch
     * @param alsoClose closed last (meters bound to the clients)
     */
    NodePorts(
            BatchFeed feed,
            Thread feedThread,
            SyncChannel sync,
            Checkpoints checkpoints,
            DeadLetterWriter deadLetters,
            Supplier<EpochPlan> planSnapshot,
            List<AutoCloseable> alsoClose) {
        this.feed = feed;
        this.feedThread = feedThread;
        this.sync = sync;
        this.checkpoints = checkpoints;
        this.deadLetters = deadLetters;
        this.planSnapshot = planSnapshot;
        this.alsoClose = alsoClose;
    }

    /**
     * @param syncFrom where to read the sync log from (a checkpoint's sync point, or -1)
     * @param trainMaxMessageBytes the largest record of the train topic (a dead letter carries one)
     * @param checkpoints the node's checkpoint channel, which outlives this session (not closed here)
     */
    static NodePorts open(
            KafkaSettings kafka,
            RunSpec spec,
            TrainerOptions options,
            SyncLog syncLog,
            long syncFrom,
            int trainMaxMessageBytes,
            Checkpoints checkpoints,
            MeterRegistry registry) {
        List<AutoCloseable> opened = new ArrayList<>();
        try {
            KafkaProducer<byte[], byte[]> dlqProducer =
                    new KafkaProducer<>(kafka.deadLetterProducer(trainMaxMessageBytes));
            DeadLetterWriter deadLetters =
                    new DeadLetterWriter(dlqProducer, spec.run(), options.nodeId(), options.brokerWait());
            opened.add(deadLetters);
            AutoCloseable dlqMeters = KafkaMeters.bind(registry, dlqProducer);
            opened.add(dlqMeters);
            SyncChannel sync = new SyncChannel(
                    kafka,
                    Topics.sync(spec.run()),
                    spec.checkpoints().chunkBytes(),
                    syncLog,
                    syncFrom,
                    options.brokerWait());
            opened.add(sync);
            KafkaConsumer<byte[], ByteBuffer> trainConsumer =
                    new KafkaConsumer<>(kafka.trainFeedConsumer(Topics.trainerGroup(spec.run())));
            opened.add(trainConsumer);
            KafkaConsumer<byte[], ByteBuffer> replayConsumer =
                    Windowing.of(spec).replay() > 0 ? new KafkaConsumer<>(kafka.replayReader()) : null;
            if (replayConsumer != null) {
                opened.add(replayConsumer);
            }
            BatchFeed feed = new BatchFeed(
                    trainConsumer, replayConsumer, spec, null, options.prefetchBytes(), options.brokerWait());
            List<AutoCloseable> meters = List.of(KafkaMeters.bind(registry, trainConsumer), dlqMeters);
            Thread feedThread = new Thread(feed, "streamtrain-feed-" + options.nodeId());
            feedThread.setDaemon(true);
            feedThread.start();
            Supplier<EpochPlan> plan = () -> {
                try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(kafka.reader())) {
                    EpochPlan p = EpochPlan.start(c, spec.data().train(), Windowing.of(spec));
                    log.info("epoch plan: {}", p.describe());
                    return p;
                }
            };
            return new NodePorts(feed, feedThread, sync, checkpoints, deadLetters, plan, meters);
        } catch (RuntimeException e) {
            for (AutoCloseable c : opened) {
                closeQuietly(c);
            }
            throw e;
        }
    }

    BatchFeed feed() {
        return feed;
    }

    SyncChannel sync() {
        return sync;
    }

    Checkpoints checkpoints() {
        return checkpoints;
    }

    DeadLetterWriter deadLetters() {
        return deadLetters;
    }

    EpochPlan snapshotPlan() {
        return planSnapshot.get();
    }

    @Override
    public void close() throws InterruptedException {
        try {
            feed.close();
            if (feedThread != null) {
                feedThread.join(10_000);
            }
        } finally {
            closeQuietly(sync);
            checkpoints.closePublisher();
            closeQuietly(deadLetters);
            alsoClose.forEach(NodePorts::closeQuietly);
        }
    }

    private static void closeQuietly(AutoCloseable c) {
        try {
            c.close();
        } catch (Exception e) {
            log.debug("closing {}: {}", c, e.toString());
        }
    }
}
