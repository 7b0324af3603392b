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
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.record.TimestampType;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Windows of time ({@code data.window.minutes}): each partition's share of a window ends before
 * its first record stamped at or after the boundary that the share's first record's timestamp
 * gives, the feed says so in the round's {@code ended}, and a resume in the middle of a share
 * reads the share's first record again for its boundary. The consumer is a mock serving a fixed
 * log with the timestamps below; every record holds one sample labelled {@code partition * 1000
 * + offset}.
 *
 * <p>Windows of one second (in milliseconds since the epoch, so boundaries at multiples of
 * 1000). Late records (a timestamp below the record before) stay in the share they arrive in.
 */
class TimedWindowFeedTest {
    private static final String TOPIC = TestSpecs.TRAIN_TOPIC;
    private static final TopicPartition P0 = new TopicPartition(TOPIC, 0);
    private static final TopicPartition P1 = new TopicPartition(TOPIC, 1);
    private static final int FEATURES = 2;
    private static final long WINDOW_MILLIS = 1000;

    /**
     * Partition 0: shares [0, 3) (first at 100: ends at the first stamp ≥ 1000), [3, 5) (1000 →
     * 2000), [5, 7) (2100 → 3000; 1800 at 6 is late and stays), [7, 9) (5000 → 6000), then 9 on
     * (9000 → 10000: open, no later record).
     */
    private static final long[] STAMPS_0 = {100, 400, 900, 1000, 1500, 2100, 1800, 5000, 5100, 9000};
    /**
     * Partition 1: [0, 1) (50 → 1000), [1, 4) (1200 → 2000), [4, 7) (2500 → 3000: 1500 at 5 is
     * late, and a boundary taken from it, 2000, would end the share at 6), [7, 8) (3000 → 4000),
     * then 8 on (7000 → 8000: open).
     */
    private static final long[] STAMPS_1 = {50, 1200, 1300, 1900, 2500, 1500, 2700, 3000, 7000, 7100};

    private FixedLog consumer;
    private BatchFeed feed;
    private Thread thread;

    private static ConsumerRecord<byte[], ByteBuffer> record(int partition, long offset) {
        long label = label(partition, offset);
        byte[] value =
                BatchCodec.encode(new float[] {label, label + 0.5f}, new long[] {1, FEATURES}, new long[] {label});
        long stamp = (partition == 0 ? STAMPS_0 : STAMPS_1)[(int) offset];
        return new ConsumerRecord<>(
                TOPIC,
                partition,
                offset,
                stamp,
                TimestampType.CREATE_TIME,
                0,
                value.length,
                null,
                ByteBuffer.wrap(value),
                new RecordHeaders(),
                Optional.empty());
    }

    private static long label(int partition, long offset) {
        return partition * 1000L + offset;
    }

    private static RunSpec spec() {
        ModelSpec model = new ModelSpec("mlp", FEATURES, List.of(4), "relu", 10_000, 1, 0.0);
        RunSpec s = TestSpecs.spec(model, TestSpecs.sgd(0.1), RegularizationSpec.NONE, 7, 1, 1000);
        return TestSpecs.with(
                s,
                new DataSpec(TOPIC, null, DataSpec.CONTINUOUS, DataSpec.Window.ofMinutes(WINDOW_MILLIS / 60_000.0)),
                // one round a window: the test reads each window up to its RoundEnd
                new SyncSpec(1000, SyncSpec.AVERAGE, 0.7, 0.9, 60, 1, SyncSpec.STRICT, SyncSpec.FLOAT32, 0));
    }

    @BeforeEach
    void setUp() {
        consumer = new FixedLog(STAMPS_0.length, TimedWindowFeedTest::record);
        consumer.updatePartitions(
                TOPIC,
                List.of(new PartitionInfo(TOPIC, 0, null, null, null), new PartitionInfo(TOPIC, 1, null, null, null)));
        consumer.updateBeginningOffsets(Map.of(P0, 0L, P1, 0L));
        consumer.updateEndOffsets(Map.of(P0, (long) STAMPS_0.length, P1, (long) STAMPS_1.length));
    }

    @AfterEach
    void tearDown() throws InterruptedException {
        if (feed != null) {
            feed.close();
            thread.join(TimeUnit.SECONDS.toMillis(30));
            assertFalse(thread.isAlive(), "the feed thread must stop on close");
        }
    }

    private BatchFeed.Reset startFeed(EpochPlan plan) throws InterruptedException {
        feed = new BatchFeed(consumer, null, spec(), plan, 1 << 20, Duration.ofMinutes(5));
        thread = new Thread(feed, "timed-feed-test");
        thread.setDaemon(true);
        thread.start();
        consumer.schedulePollTask(() -> consumer.rebalance(List.of(P0, P1)));
        return BatchFeedTest.awaitReset(feed);
    }

    private record Window(List<Long> labels, FeedItem.RoundEnd end) {}

    private Window window() throws InterruptedException {
        List<Long> labels = new ArrayList<>();
        while (true) {
            feed.heartbeat();
            FeedItem item = feed.next(30, TimeUnit.SECONDS);
            assertNotNull(item, "the feed produced nothing; failure: " + feed.failure());
            if (item instanceof FeedItem.Samples s) {
                Batch b = s.batch();
                for (int k = 0; k < b.samples(); k++) {
                    labels.add(b.classLabels()[k]);
                }
            } else if (item instanceof FeedItem.RoundEnd end) {
                assertTrue(end.last(), "one round a window");
                return new Window(labels, end);
            }
        }
    }

    /** The labels of a window's shares, round-robin over the two partitions. */
    private static List<Long> labels(long from0, long to0, long from1, long to1) {
        List<Long> out = new ArrayList<>();
        for (int i = 0; i < Math.max(to0 - from0, to1 - from1); i++) {
            if (from0 + i < to0) {
                out.add(label(0, from0 + i));
            }
            if (from1 + i < to1) {
                out.add(label(1, from1 + i));
            }
        }
        return out;
    }

    private static List<OffsetRange> ranges(long from0, long to0, long from1, long to1) {
        return List.of(new OffsetRange(TOPIC, 0, from0, to0), new OffsetRange(TOPIC, 1, from1, to1));
    }

    @Test
    void eachShareEndsAtItsFirstRecordStampedAtOrAfterItsBoundary() throws Exception {
        BatchFeed.Reset reset = startFeed(null);
        feed.start(reset.generation(), 1);
        // the window lag counts every record not trained: fetched or not, buffered or queued for the trainer
        awaitBacklog(20);
        long[][] shares = {{0, 3, 0, 1}, {3, 5, 1, 4}, {5, 7, 4, 7}, {7, 9, 7, 8}};
        for (int w = 0; w < shares.length; w++) {
            long[] s = shares[w];
            Window read = window();
            awaitBacklog(20 - s[1] - s[3]);
            assertEquals(labels(s[0], s[1], s[2], s[3]), read.labels(), "window " + (w + 1));
            assertEquals(ranges(s[0], s[1], s[2], s[3]), read.end().ranges(), "window " + (w + 1));
            assertEquals(List.of(0, 1), read.end().ended(), "both shares of window " + (w + 1) + " ended");
        }
        // window 5: both partitions' last records are before its boundaries, so it waits for data, trained so far
        List<Long> fifth = new ArrayList<>();
        FeedItem item;
        while ((item = feed.next(1, TimeUnit.SECONDS)) != null) {
            feed.heartbeat();
            assertTrue(item instanceof FeedItem.Samples, "window 5 has not ended: " + item);
            fifth.add(((FeedItem.Samples) item).batch().classLabels()[0]);
        }
        // round-robin: partition 1's offset 9 waits for partition 0's next record, which has not arrived
        assertEquals(List.of(label(0, 9), label(1, 8)), fifth);
        awaitBacklog(3); // window 5's: two trained in a round that has not ended, one buffered
        assertNull(feed.failure(), "an open window is no failure");
    }

    private void awaitBacklog(long records) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (feed.backlog() != records && System.nanoTime() < deadline) {
            feed.heartbeat();
            Thread.sleep(20);
        }
        assertEquals(records, feed.backlog(), "the window lag");
    }

    @Test
    void aPauseBeforeTheFirstWindowBeganKeepsMeasuringTheLag() throws Exception {
        // a node held back (a PAUSE, or evaluation.maxLag) as it
        // is assigned its partitions, before the trainer starts it
        BatchFeed.Reset reset = startFeed(null);
        feed.pauseConsumption(true);
        awaitBacklog(20);
        assertNull(feed.failure(), "a paused feed with no window begun is no failure");
        feed.pauseConsumption(false);
        feed.start(reset.generation(), 1);
        assertEquals(ranges(0, 3, 0, 1), window().end().ranges());
    }

    @Test
    void aResumeInsideAShareTakesTheBoundaryFromTheSharesFirstRecord() throws Exception {
        // window 3 as the sync log knows it: its shares start at 5 and 4, neither end known yet
        EpochPlan third = new EpochPlan(
                TOPIC,
                Map.of(0, new long[] {5, EpochPlan.OPEN}, 1, new long[] {4, EpochPlan.OPEN}),
                Windowing.of(spec()),
                3);
        BatchFeed.Reset reset = startFeed(third);
        // partition 1 trained its share's first record (stamped 2500: boundary 3000) before the rollback
        feed.start(reset.generation(), 3, Map.of(0, 5L, 1, 5L), third);
        Window read = window();
        // offset 5 of partition 1 is stamped 1500: taken for the boundary (2000), offset 6 (2700) would end the share
        assertEquals(labels(5, 7, 5, 7), read.labels());
        assertEquals(ranges(5, 7, 5, 7), read.end().ranges());
        assertEquals(List.of(0, 1), read.end().ended());
        // and the next window starts where this one ended, on both partitions
        Window fourth = window();
        assertEquals(ranges(7, 9, 7, 8), fourth.end().ranges());
    }
}
