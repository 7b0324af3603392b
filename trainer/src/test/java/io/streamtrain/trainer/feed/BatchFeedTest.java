package io.streamtrain.trainer.feed;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.streamtrain.core.checkpoint.CheckpointManifest.OffsetRange;
import io.streamtrain.core.codec.Batch;
import io.streamtrain.core.codec.BatchCodec;
import io.streamtrain.core.codec.RejectReason;
import io.streamtrain.core.kafka.StartupException;
import io.streamtrain.core.spec.ModelSpec;
import io.streamtrain.core.spec.RegularizationSpec;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.trainer.TestSpecs;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.MockConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The feed against Kafka's MockConsumer, run in its own thread as in production. Every
 * sample's label encodes where it came from: {@code partition*1000 + offset*10 + index}.
 *
 * <p>Topic layout: partition 0 holds offsets 0..3 (plus offset 4, written after the end
 * snapshot), partition 1 offsets 5..7 with garbage at 6, partition 2 is empty at [3, 3).
 * Every record has 2 samples; batchSize is 5.
 */
class BatchFeedTest {
    private static final String TOPIC = TestSpecs.TRAIN_TOPIC;
    private static final TopicPartition P0 = new TopicPartition(TOPIC, 0);
    private static final TopicPartition P1 = new TopicPartition(TOPIC, 1);
    private static final TopicPartition P2 = new TopicPartition(TOPIC, 2);
    private static final int FEATURES = 2;
    private static final long WAIT_SECONDS = 30;

    /** The labels of one epoch over the whole plan, in the feed's round-robin order (p0, p1, p2 empty). */
    private static final long[] EPOCH_LABELS = {0, 1, 1050, 1051, 10, 11, 20, 21, 1070, 1071, 30, 31};

    private MockConsumer<byte[], byte[]> consumer;
    private BatchFeed feed;
    private Thread thread;

    private static RunSpec spec() {
        ModelSpec model = new ModelSpec("mlp", FEATURES, List.of(4), "relu", 10_000, 1, 0.0);
        return TestSpecs.spec(model, TestSpecs.sgd(0.1), RegularizationSpec.NONE, 1, 5, 2);
    }

    private static long label(int partition, long offset, int index) {
        return partition * 1000L + offset * 10 + index;
    }

    private static ConsumerRecord<byte[], byte[]> good(int partition, long offset) {
        long[] labels = {label(partition, offset, 0), label(partition, offset, 1)};
        float[] x = {labels[0], labels[0] + 0.5f, labels[1], labels[1] + 0.5f};
        return new ConsumerRecord<>(TOPIC, partition, offset, null, BatchCodec.encode(x, new long[] {2, FEATURES}, labels));
    }

    private static ConsumerRecord<byte[], byte[]> garbage(int partition, long offset) {
        return new ConsumerRecord<>(TOPIC, partition, offset, null, "this is not safetensors".getBytes(StandardCharsets.UTF_8));
    }

    /** Every record of the topic (MockConsumer forgets records once polled, so each epoch adds them again). */
    private void addAll() {
        for (long o = 0; o <= 4; o++) {
            consumer.addRecord(good(0, o));
        }
        consumer.addRecord(good(1, 5));
        consumer.addRecord(garbage(1, 6));
        consumer.addRecord(good(1, 7));
    }

    @BeforeEach
    void setUp() {
        consumer = new MockConsumer<>("earliest");
        consumer.updatePartitions(TOPIC, List.of(
                new PartitionInfo(TOPIC, 0, null, null, null),
                new PartitionInfo(TOPIC, 1, null, null, null),
                new PartitionInfo(TOPIC, 2, null, null, null)));
        consumer.updateBeginningOffsets(Map.of(P0, 0L, P1, 5L, P2, 3L));
        consumer.updateEndOffsets(Map.of(P0, 4L, P1, 8L, P2, 3L));
    }

    @AfterEach
    void tearDown() throws InterruptedException {
        if (feed != null) {
            feed.close();
            thread.join(TimeUnit.SECONDS.toMillis(WAIT_SECONDS));
            assertFalse(thread.isAlive(), "the feed thread must stop on close");
            assertTrue(consumer.closed(), "the feed closes its consumer");
        }
    }

    private void startFeed(EpochPlan plan) {
        feed = new BatchFeed(consumer, spec(), plan, 1 << 20);
        thread = new Thread(feed, "batch-feed-test");
        thread.setDaemon(true);
        thread.start();
    }

    /** Assigns the partitions on the feed thread (inside its poll) and adds the records. */
    private void rebalance(List<TopicPartition> partitions) {
        consumer.schedulePollTask(() -> {
            consumer.rebalance(partitions);
            addAll();
        });
    }

    private BatchFeed.Reset awaitReset() throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_SECONDS);
        while (System.nanoTime() < deadline) {
            BatchFeed.Reset r = feed.takeReset();
            if (r != null) {
                return r;
            }
            assertNull(feed.failure(), "feed failed");
            Thread.sleep(5);
        }
        return fail("no Reset from the feed");
    }

    private FeedItem next() throws InterruptedException {
        FeedItem item = feed.next(WAIT_SECONDS, TimeUnit.SECONDS);
        if (item == null) {
            fail("the feed produced nothing; failure: " + feed.failure());
        }
        return item;
    }

    /** Items up to and including the epoch's last RoundEnd (the test spec's rounds are longer than its epochs). */
    private List<FeedItem> epoch() throws InterruptedException {
        List<FeedItem> items = new ArrayList<>();
        while (true) {
            FeedItem item = next();
            items.add(item);
            if (item instanceof FeedItem.RoundEnd end) {
                assertTrue(end.last(), "one round per epoch here: " + items);
                return items;
            }
            if (items.size() > 100) {
                fail("no RoundEnd after " + items);
            }
        }
    }

    private static long[] labels(List<FeedItem> items) {
        List<Long> out = new ArrayList<>();
        for (FeedItem i : items) {
            if (i instanceof FeedItem.Samples s) {
                Batch b = s.batch();
                assertEquals(FEATURES, b.features());
                for (int k = 0; k < b.samples(); k++) {
                    long l = b.classLabels()[k];
                    assertEquals(l, b.x()[k * FEATURES], "features travel with their label");
                    assertEquals(l + 0.5f, b.x()[k * FEATURES + 1]);
                    out.add(l);
                }
            }
        }
        return out.stream().mapToLong(Long::longValue).toArray();
    }

    /** The full-plan epoch: batches of 5, 5, 2 with the garbage record rejected in its place in the order. */
    private static void assertFullEpoch(List<FeedItem> items, long generation, int epoch) {
        assertEquals(5, items.size(), items.toString());
        assertInstanceOf(FeedItem.Samples.class, items.get(0));
        assertInstanceOf(FeedItem.Rejected.class, items.get(1));
        assertInstanceOf(FeedItem.Samples.class, items.get(2));
        assertInstanceOf(FeedItem.Samples.class, items.get(3));
        assertInstanceOf(FeedItem.RoundEnd.class, items.get(4));
        for (FeedItem i : items) {
            assertEquals(generation, i.generation());
        }
        assertEquals(List.of(5, 5, 2), items.stream().filter(i -> i instanceof FeedItem.Samples)
                .map(i -> ((FeedItem.Samples) i).batch().samples()).toList());
        assertEquals(List.of(epoch, epoch, epoch), items.stream().filter(i -> i instanceof FeedItem.Samples)
                .map(i -> ((FeedItem.Samples) i).epoch()).toList());
        assertEquals(java.util.Arrays.toString(EPOCH_LABELS), java.util.Arrays.toString(labels(items)));

        FeedItem.Rejected rejected = (FeedItem.Rejected) items.get(1);
        assertEquals(RejectReason.DECODE, rejected.reason());
        assertEquals(1, rejected.record().partition());
        assertEquals(6, rejected.record().offset());
        assertEquals(epoch, rejected.epoch());
        assertNotNull(rejected.detail());

        FeedItem.RoundEnd end = (FeedItem.RoundEnd) items.get(4);
        assertEquals(epoch, end.epoch());
        assertEquals(List.of(new OffsetRange(TOPIC, 0, 0, 4), new OffsetRange(TOPIC, 1, 5, 8), new OffsetRange(TOPIC, 2, 3, 3)),
                end.ranges());
        assertEquals(7, end.records(), "records read in the epoch, the rejected one included");
        assertEquals(1, end.rejected());
        assertNotNull(end.group());
    }

    @Test
    void twoEpochsInRoundRobinOrderWithRejectsAndEpochEnds() throws Exception {
        startFeed(null);
        rebalance(List.of(P2, P1, P0));
        BatchFeed.Reset reset = awaitReset();
        assertEquals(1, reset.generation());
        assertEquals(List.of(P0, P1, P2), reset.assignment(), "assignment in partition order");
        assertNull(feed.next(50, TimeUnit.MILLISECONDS), "nothing is read before the trainer answers the reset");

        feed.start(reset.generation(), 1);
        List<FeedItem> first = epoch();
        assertFullEpoch(first, 1, 1);
        EpochPlan plan = feed.plan();
        assertNotNull(plan);
        assertEquals(7, plan.records(), "the plan is the end-offset snapshot, not what is in the log");
        assertEquals(List.of(0L, 4L), List.of(plan.from(P0), plan.to(P0)));
        assertEquals(List.of(5L, 8L), List.of(plan.from(P1), plan.to(P1)));

        // epoch 2 replays the same ranges in the same order (MockConsumer dropped the polled records: add them again)
        consumer.schedulePollTask(this::addAll);
        List<FeedItem> second = epoch();
        assertFullEpoch(second, 1, 2);

        // maxEpochs is 2: the feed goes idle
        consumer.schedulePollTask(this::addAll);
        assertNull(feed.next(200, TimeUnit.MILLISECONDS), "nothing after the last epoch");
        assertNull(feed.failure());
    }

    @Test
    void aRebalanceMidEpochStartsANewGenerationAndStaleItemsAreSkipped() throws Exception {
        startFeed(null);
        rebalance(List.of(P0, P1, P2));
        BatchFeed.Reset reset = awaitReset();
        feed.start(reset.generation(), 1);
        FeedItem firstItem = next();
        assertEquals(1, firstItem.generation());

        rebalance(List.of(P0, P1, P2));
        BatchFeed.Reset again = awaitReset();
        assertEquals(2, again.generation());
        assertEquals(2, feed.generation());
        feed.start(again.generation(), 1);
        // whatever generation-1 items were still queued are dropped; epoch 1 restarts from the plan's beginning
        assertFullEpoch(epoch(), 2, 1);
    }

    @Test
    void aRewindReplaysTheEpochUnderANewGenerationWithoutARebalance() throws Exception {
        startFeed(null);
        rebalance(List.of(P0, P1, P2));
        BatchFeed.Reset reset = awaitReset();
        feed.start(reset.generation(), 1);
        assertFullEpoch(epoch(), 1, 1);

        // the trainer could not commit epoch 1's checkpoint: it rolls back and asks for the epoch again
        feed.rewind();
        BatchFeed.Reset again = awaitReset();
        assertEquals(2, again.generation());
        assertEquals(List.of(P0, P1, P2), again.assignment(), "same partitions: no rebalance happened");
        consumer.schedulePollTask(this::addAll);
        feed.start(again.generation(), 1);
        assertFullEpoch(epoch(), 2, 1);
    }

    @Test
    void recordsThatNeverComeFailTheFeedAfterTheBrokerWait() throws Exception {
        feed = new BatchFeed(consumer, spec(), null, 1 << 20, java.time.Duration.ofSeconds(1));
        thread = new Thread(feed, "batch-feed-test");
        thread.setDaemon(true);
        thread.start();
        consumer.schedulePollTask(() -> consumer.rebalance(List.of(P0, P1, P2))); // assigned, but no record ever arrives
        BatchFeed.Reset reset = awaitReset();
        long started = System.nanoTime();
        feed.start(reset.generation(), 1);
        thread.join(TimeUnit.SECONDS.toMillis(WAIT_SECONDS));
        assertFalse(thread.isAlive(), "the feed gives up");
        double seconds = (System.nanoTime() - started) / 1e9;
        assertTrue(seconds >= 1.0, "not before the broker wait: " + seconds);
        Throwable failure = feed.failure();
        assertNotNull(failure);
        assertTrue(failure.getMessage().contains("no records from " + TOPIC) && failure.getMessage().contains("0@0/4"),
                failure.getMessage());
        feed = null;
    }

    @Test
    void anEmptyTrainTopicIsAConfigurationError() throws Exception {
        consumer.updateEndOffsets(Map.of(P0, 0L, P1, 5L, P2, 3L));
        consumer.updateBeginningOffsets(Map.of(P0, 0L, P1, 5L, P2, 3L));
        startFeed(null);
        rebalance(List.of(P0, P1, P2));
        BatchFeed.Reset reset = awaitReset();
        feed.start(reset.generation(), 1);
        thread.join(TimeUnit.SECONDS.toMillis(WAIT_SECONDS));
        StartupException e = assertInstanceOf(StartupException.class, feed.failure());
        assertEquals(StartupException.BAD_CONFIGURATION, e.exitCode());
        assertTrue(e.getMessage().contains("has no records"), e.getMessage());
        feed = null;
    }

    @Test
    void aStartForAnOldGenerationIsIgnored() throws Exception {
        startFeed(null);
        rebalance(List.of(P0, P1, P2));
        BatchFeed.Reset reset = awaitReset();
        feed.start(reset.generation() + 7, 1);
        assertNull(feed.next(200, TimeUnit.MILLISECONDS), "a start for another generation must not start reading");
        feed.start(reset.generation(), 1);
        assertFullEpoch(epoch(), 1, 1);
    }

    @Test
    void aResumedPlanReadsExactlyItsRangesFromTheRequestedEpoch() throws Exception {
        // a checkpoint's plan: p0 [1, 3), p1 [5, 6), p2 [3, 3): the garbage record at p1@6 is outside it
        startFeed(new EpochPlan(TOPIC, Map.of(0, new long[] {1, 3}, 1, new long[] {5, 6}, 2, new long[] {3, 3})));
        rebalance(List.of(P0, P1, P2));
        BatchFeed.Reset reset = awaitReset();
        feed.start(reset.generation(), 2);
        List<FeedItem> items = epoch();
        assertEquals(3, items.size(), items.toString());
        FeedItem.Samples full = (FeedItem.Samples) items.get(0);
        FeedItem.Samples rest = (FeedItem.Samples) items.get(1);
        assertEquals(2, full.epoch());
        assertEquals(5, full.batch().samples());
        assertEquals(1, rest.batch().samples());
        assertEquals(java.util.Arrays.toString(new long[] {10, 11, 1050, 1051, 20, 21}), java.util.Arrays.toString(labels(items)));
        FeedItem.RoundEnd end = (FeedItem.RoundEnd) items.get(2);
        assertEquals(2, end.epoch());
        assertEquals(3, end.records());
        assertEquals(0, end.rejected());
        assertEquals(List.of(new OffsetRange(TOPIC, 0, 1, 3), new OffsetRange(TOPIC, 1, 5, 6), new OffsetRange(TOPIC, 2, 3, 3)),
                end.ranges());
        assertNull(feed.next(200, TimeUnit.MILLISECONDS), "epoch 2 was the last");
    }

    @Test
    void aPartitionOutsideThePlanStopsTheFeedWithAClearError() throws Exception {
        startFeed(new EpochPlan(TOPIC, Map.of(0, new long[] {0, 4})));
        rebalance(List.of(P0, P1));
        BatchFeed.Reset reset = awaitReset();
        feed.start(reset.generation(), 1);
        thread.join(TimeUnit.SECONDS.toMillis(WAIT_SECONDS));
        assertFalse(thread.isAlive(), "the feed thread stops");
        Throwable failure = feed.failure();
        StartupException e = assertInstanceOf(StartupException.class, failure);
        assertEquals(StartupException.BAD_CONFIGURATION, e.exitCode(), "a restart cannot fix it: exit 2");
        assertTrue(failure.getMessage().contains("not in the run's epoch plan"), failure.getMessage());
        assertTrue(consumer.closed());
        feed = null;
    }
}
