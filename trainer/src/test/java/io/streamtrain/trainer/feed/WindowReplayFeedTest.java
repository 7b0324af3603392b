package io.streamtrain.trainer.feed;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.core.checkpoint.CheckpointManifest.OffsetRange;
import io.streamtrain.core.codec.Batch;
import io.streamtrain.core.codec.BatchCodec;
import io.streamtrain.core.spec.DataSpec;
import io.streamtrain.core.spec.ModelSpec;
import io.streamtrain.core.spec.RegularizationSpec;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.core.spec.SyncSpec;
import io.streamtrain.trainer.TestSpecs;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A continuous run's windows with {@code data.window.replay}: each partition's replayed
 * records come first, through the replay consumer, then the window's own, and a position
 * inside the replay (a rollback or a resume mid-window) reads the rest of it. Both consumers
 * are mocks that serve a fixed log from their position, as a broker would. Every record holds
 * one sample whose label is {@code partition * 1000 + offset}.
 *
 * <p>Two partitions, windows of 4 records (2 each), replay 0.5: a window trains as many
 * earlier records as its own, 2 per partition, once there are that many before it.
 */
class WindowReplayFeedTest {
    private static final String TOPIC = TestSpecs.TRAIN_TOPIC;
    private static final TopicPartition P0 = new TopicPartition(TOPIC, 0);
    private static final TopicPartition P1 = new TopicPartition(TOPIC, 1);
    private static final long LOG_END = 10; // offsets 0..9 on each partition
    private static final int FEATURES = 2;
    /** A record no codec accepts, at partition 1 offset 1 (window 1). */
    private static final long GARBAGE_OFFSET = 1;

    private FixedLog consumer;
    private FixedLog replayConsumer;
    private BatchFeed feed;
    private Thread thread;

    private static ConsumerRecord<byte[], ByteBuffer> record(int partition, long offset) {
        if (partition == 1 && offset == GARBAGE_OFFSET) {
            return new ConsumerRecord<>(TOPIC, partition, offset, null, ByteBuffer.wrap(new byte[] {1, 2, 3}));
        }
        long label = partition * 1000L + offset;
        float[] x = {label, label + 0.5f};
        return new ConsumerRecord<>(
                TOPIC,
                partition,
                offset,
                null,
                ByteBuffer.wrap(BatchCodec.encode(x, new long[] {1, FEATURES}, new long[] {label})));
    }

    private static RunSpec spec() {
        ModelSpec model = new ModelSpec("mlp", FEATURES, List.of(4), "relu", 10_000, 1, 0.0);
        RunSpec s = TestSpecs.spec(model, TestSpecs.sgd(0.1), RegularizationSpec.NONE, 7, 1, 1000);
        return TestSpecs.with(
                s,
                new DataSpec(TOPIC, null, DataSpec.CONTINUOUS, new DataSpec.Window(4, 0.5, null)),
                // one round a window: the test reads each window up to its RoundEnd
                new SyncSpec(1000, SyncSpec.AVERAGE, 0.7, 0.9, 60, 1, SyncSpec.STRICT, SyncSpec.FLOAT32, 0));
    }

    @BeforeEach
    void setUp() {
        consumer = new FixedLog(LOG_END, WindowReplayFeedTest::record);
        consumer.updatePartitions(
                TOPIC,
                List.of(new PartitionInfo(TOPIC, 0, null, null, null), new PartitionInfo(TOPIC, 1, null, null, null)));
        consumer.updateBeginningOffsets(Map.of(P0, 0L, P1, 0L));
        consumer.updateEndOffsets(Map.of(P0, LOG_END, P1, LOG_END));
        replayConsumer = new FixedLog(LOG_END, WindowReplayFeedTest::record);
        replayConsumer.updateBeginningOffsets(Map.of(P0, 0L, P1, 0L));
    }

    @AfterEach
    void tearDown() throws InterruptedException {
        if (feed != null) {
            feed.close();
            thread.join(TimeUnit.SECONDS.toMillis(30));
            assertFalse(thread.isAlive(), "the feed thread must stop on close");
            assertTrue(replayConsumer.closed(), "the feed closes its replay consumer");
        }
    }

    private BatchFeed.Reset startFeed(EpochPlan plan) throws InterruptedException {
        return startFeed(plan, List.of(P0, P1));
    }

    private BatchFeed.Reset startFeed(EpochPlan plan, List<TopicPartition> assigned) throws InterruptedException {
        feed = new BatchFeed(consumer, replayConsumer, spec(), plan, 1 << 20, Duration.ofMinutes(5));
        thread = new Thread(feed, "replay-feed-test");
        thread.setDaemon(true);
        thread.start();
        consumer.schedulePollTask(() -> consumer.rebalance(assigned));
        return BatchFeedTest.awaitReset(feed);
    }

    /** One window's labels, in the order the feed made them, its rejected records and its RoundEnd. */
    private record Window(List<Long> labels, List<FeedItem.Rejected> rejected, FeedItem.RoundEnd end) {}

    private Window window() throws InterruptedException {
        List<Long> labels = new ArrayList<>();
        List<FeedItem.Rejected> rejected = new ArrayList<>();
        while (true) {
            feed.heartbeat();
            FeedItem item = feed.next(30, TimeUnit.SECONDS);
            assertNotNull(item, "the feed produced nothing; failure: " + feed.failure());
            if (item instanceof FeedItem.Samples s) {
                Batch b = s.batch();
                for (int k = 0; k < b.samples(); k++) {
                    labels.add(b.classLabels()[k]);
                }
            } else if (item instanceof FeedItem.Rejected r) {
                rejected.add(r);
            } else if (item instanceof FeedItem.RoundEnd end) {
                assertTrue(end.last(), "one round a window");
                return new Window(labels, rejected, end);
            }
        }
    }

    private static long label(int partition, long offset) {
        return partition * 1000L + offset;
    }

    /** The labels a window reads: round-robin over the partitions, each its replayed records, then its own. */
    private static List<Long> expected(EpochPlan plan, Map<Integer, Long> positions) {
        Map<Integer, List<Long>> each = new HashMap<>();
        for (int p : plan.ranges().keySet()) {
            List<Long> l = new ArrayList<>();
            for (long v = positions.get(p); v < plan.ranges().get(p)[1]; v++) {
                long offset = v < plan.ranges().get(p)[0] ? plan.replayOffset(p, v) : v;
                // the garbage record takes its turn in the order, and makes no sample
                l.add(p == 1 && offset == GARBAGE_OFFSET ? null : label(p, offset));
            }
            each.put(p, l);
        }
        List<Long> out = new ArrayList<>();
        for (int i = 0; i < Math.max(each.get(0).size(), each.get(1).size()); i++) {
            for (int p = 0; p < 2; p++) {
                if (i < each.get(p).size() && each.get(p).get(i) != null) {
                    out.add(each.get(p).get(i));
                }
            }
        }
        return out;
    }

    private static Map<Integer, Long> starts(EpochPlan plan) {
        return Map.of(0, plan.start(0), 1, plan.start(1));
    }

    @Test
    void eachWindowReadsItsReplayedRecordsFirstThenItsOwn() throws Exception {
        BatchFeed.Reset reset = startFeed(null);
        feed.start(reset.generation(), 1);

        Window w1 = window();
        assertEquals(List.of(0L, 1000L, 1L), w1.labels(), "window 1 has nothing before it to replay");
        assertEquals(1, w1.rejected().size());
        assertFalse(w1.rejected().get(0).replayed(), "read by its own window: its dead letter is due");
        assertEquals(
                List.of(new OffsetRange(TOPIC, 0, 0, 2), new OffsetRange(TOPIC, 1, 0, 2)),
                w1.end().ranges());

        // the plan every node derives (the feed reads ahead: its own plan may be windows further on)
        EpochPlan first =
                new EpochPlan(TOPIC, Map.of(0, new long[] {0, 2}, 1, new long[] {0, 2}), Windowing.of(spec()), 1);
        EpochPlan plan = first.next();
        for (int w = 2; w <= 4; w++) {
            assertEquals(w, plan.index());
            Window read = window();
            assertEquals(expected(plan, starts(plan)), read.labels(), "window " + w);
            assertEquals(8, read.end().records(), "window " + w + ": 2 replayed and 2 own records on each partition");
            assertEquals(8, read.labels().size() + read.rejected().size());
            if (w == 2) {
                assertEquals(1, read.rejected().size(), "window 2 replays all of window 1, its garbage record too");
            }
            for (FeedItem.Rejected r : read.rejected()) {
                assertEquals(GARBAGE_OFFSET, r.record().offset());
                assertTrue(r.replayed(), "window " + w + " read it again: its dead letter was written before");
            }
            // a round's ranges count the replayed records first: from (own from - 2) to the window's end
            assertEquals(
                    List.of(
                            new OffsetRange(TOPIC, 0, 2L * (w - 1) - 2, 2L * w),
                            new OffsetRange(TOPIC, 1, 2L * (w - 1) - 2, 2L * w)),
                    read.end().ranges(),
                    "window " + w);
            plan = plan.next();
        }
        // window 2 can only replay window 1, the garbage record with it
        EpochPlan second = first.next();
        assertEquals(new OffsetRange(TOPIC, 0, 0, 2), second.replayRange(0));
    }

    @Test
    void aStartInsideTheReplayReadsTheRestOfItThenTheWindow() throws Exception {
        // a resume mid-window 3 (a rollback to a round that closed inside its replay)
        EpochPlan third =
                new EpochPlan(TOPIC, Map.of(0, new long[] {4, 6}, 1, new long[] {4, 6}), Windowing.of(spec()), 3);
        assertEquals(2, third.start(0));
        BatchFeed.Reset reset = startFeed(third);
        // partition 0 has read one of its replayed records; partition 1 its whole replay and its first own record
        Map<Integer, Long> positions = Map.of(0, 3L, 1, 5L);
        feed.start(reset.generation(), 3, positions, third);
        Window read = window();
        OffsetRange replay0 = third.replayRange(0);
        assertEquals(
                List.of(label(0, replay0.from() + 1), label(1, 5), label(0, 4), label(0, 5)),
                read.labels(),
                "the rest of partition 0's replay, then the window's own records (replay at " + replay0 + ")");
        assertEquals(expected(third, positions), read.labels());
        assertEquals(
                List.of(new OffsetRange(TOPIC, 0, 3, 6), new OffsetRange(TOPIC, 1, 5, 6)),
                read.end().ranges());
        // the next window starts with its own replay
        EpochPlan fourth = third.next();
        assertEquals(expected(fourth, starts(fourth)), window().labels());
    }

    @Test
    void aReplayWhoseRecordsRetentionRemovedStopsTheFeedNamingTheHorizon() throws Exception {
        // retention deleted partition 0 below offset 1: window 2, which replays [0, 2), cannot be read
        replayConsumer.updateBeginningOffsets(Map.of(P0, 1L, P1, 0L));
        BatchFeed.Reset reset = startFeed(null);
        feed.start(reset.generation(), 1);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (feed.failure() == null && System.nanoTime() < deadline) {
            feed.heartbeat();
            feed.next(10, TimeUnit.MILLISECONDS);
        }
        Throwable failure = feed.failure();
        assertNotNull(failure, "the feed must not skip records a replay needs");
        assertTrue(
                failure.getMessage().contains("window 2 replays records of " + TOPIC + " that are gone")
                        && failure.getMessage().contains("data.window.replayHorizon (10)"),
                failure.getMessage());
    }

    @Test
    void aNodeWithNoPartitionsReadsNoReplay() throws Exception {
        // more nodes than partitions: the group gives this one none, and the trainer still starts the feed
        EpochPlan third =
                new EpochPlan(TOPIC, Map.of(0, new long[] {4, 6}, 1, new long[] {4, 6}), Windowing.of(spec()), 3);
        BatchFeed.Reset reset = startFeed(third, List.of());
        assertEquals(List.of(), reset.assignment());
        feed.start(reset.generation(), 3, Map.of(0, 2L, 1, 2L), third);
        assertNull(feed.next(500, TimeUnit.MILLISECONDS), "nothing to read");
        assertNull(feed.failure(), "the feed goes on without partitions");
    }
}
