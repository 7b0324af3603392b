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
import io.streamtrain.core.spec.SyncSpec;
import io.streamtrain.trainer.TestSpecs;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;
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

    private MockConsumer<byte[], ByteBuffer> consumer;
    private BatchFeed feed;
    private Thread thread;

    private static RunSpec spec() {
        ModelSpec model = new ModelSpec("mlp", FEATURES, List.of(4), "relu", 10_000, 1, 0.0);
        return TestSpecs.spec(model, TestSpecs.sgd(0.1), RegularizationSpec.NONE, 1, 5, 2);
    }

    /** The test spec with another sync section: a round every {@code everySteps} batches, a straggler after {@code timeoutSeconds}. */
    private static RunSpec spec(int everySteps, int timeoutSeconds) {
        return spec(everySteps, timeoutSeconds, SyncSpec.AVERAGE);
    }

    private static RunSpec spec(int everySteps, int timeoutSeconds, String outer) {
        RunSpec s = spec();
        return TestSpecs.with(
                s,
                s.data(),
                new SyncSpec(everySteps, outer, 0.7, 0.9, timeoutSeconds, 1, SyncSpec.STRICT, SyncSpec.FLOAT32, 0));
    }

    private static long label(int partition, long offset, int index) {
        return partition * 1000L + offset * 10 + index;
    }

    private static ConsumerRecord<byte[], ByteBuffer> good(int partition, long offset) {
        long[] labels = {label(partition, offset, 0), label(partition, offset, 1)};
        float[] x = {labels[0], labels[0] + 0.5f, labels[1], labels[1] + 0.5f};
        return new ConsumerRecord<>(
                TOPIC,
                partition,
                offset,
                null,
                ByteBuffer.wrap(BatchCodec.encode(x, new long[] {2, FEATURES}, labels)));
    }

    private static ConsumerRecord<byte[], ByteBuffer> garbage(int partition, long offset) {
        return new ConsumerRecord<>(
                TOPIC,
                partition,
                offset,
                null,
                ByteBuffer.wrap("this is not safetensors".getBytes(StandardCharsets.UTF_8)));
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
        consumer.updatePartitions(
                TOPIC,
                List.of(
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
        startFeed(plan, spec());
    }

    private void startFeed(EpochPlan plan, RunSpec spec) {
        feed = new BatchFeed(consumer, spec, plan, 1 << 20);
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
        return awaitReset(feed);
    }

    /** The feed's next Reset, as a trainer waits for it (beating: a trainer waiting for its reset is alive). */
    static BatchFeed.Reset awaitReset(BatchFeed feed) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_SECONDS);
        while (System.nanoTime() < deadline) {
            feed.heartbeat();
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
        feed.heartbeat();
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
                    assertEquals(l, b.xValues()[k * FEATURES], "features travel with their label");
                    assertEquals(l + 0.5f, b.xValues()[k * FEATURES + 1]);
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
        assertEquals(
                List.of(5, 5, 2),
                items.stream()
                        .filter(i -> i instanceof FeedItem.Samples)
                        .map(i -> ((FeedItem.Samples) i).batch().samples())
                        .toList());
        assertEquals(
                List.of(epoch, epoch, epoch),
                items.stream()
                        .filter(i -> i instanceof FeedItem.Samples)
                        .map(i -> ((FeedItem.Samples) i).epoch())
                        .toList());
        assertEquals(java.util.Arrays.toString(EPOCH_LABELS), java.util.Arrays.toString(labels(items)));

        FeedItem.Rejected rejected = (FeedItem.Rejected) items.get(1);
        assertEquals(RejectReason.DECODE, rejected.reason());
        assertEquals(1, rejected.record().partition());
        assertEquals(6, rejected.record().offset());
        assertEquals(epoch, rejected.epoch());
        assertNotNull(rejected.detail());

        FeedItem.RoundEnd end = (FeedItem.RoundEnd) items.get(4);
        assertEquals(epoch, end.epoch());
        assertEquals(
                List.of(
                        new OffsetRange(TOPIC, 0, 0, 4),
                        new OffsetRange(TOPIC, 1, 5, 8),
                        new OffsetRange(TOPIC, 2, 3, 3)),
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
    void theLastEpochsEndReachesASlowTrainerThoughTheQueueWasFullWhenTheFeedWentIdle() throws Exception {
        // a queue of one item: the feed's last items wait in its outbox while the trainer is busy
        feed = new BatchFeed(consumer, spec(), null, 1);
        thread = new Thread(feed, "batch-feed-test");
        thread.setDaemon(true);
        thread.start();
        rebalance(List.of(P0, P1, P2));
        BatchFeed.Reset reset = awaitReset();
        feed.start(reset.generation(), 1);
        for (int epoch = 1; epoch <= 2; epoch++) {
            if (epoch == 2) {
                consumer.schedulePollTask(this::addAll);
            }
            List<FeedItem> items = new ArrayList<>();
            while (items.isEmpty() || !(items.get(items.size() - 1) instanceof FeedItem.RoundEnd)) {
                Thread.sleep(100); // training a step: the feed's next item cannot go in meanwhile
                FeedItem item = next();
                items.add(item);
                assertTrue(items.size() < 100, "no RoundEnd after " + items);
            }
            assertFullEpoch(items, 1, epoch);
        }
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
    void recordsThatNeverComeFailTheFeedAfterTheBrokerWait() throws Exception {
        feed = new BatchFeed(consumer, spec(), null, 1 << 20, java.time.Duration.ofSeconds(1));
        thread = new Thread(feed, "batch-feed-test");
        thread.setDaemon(true);
        thread.start();
        consumer.schedulePollTask(
                () -> consumer.rebalance(List.of(P0, P1, P2))); // assigned, but no record ever arrives
        BatchFeed.Reset reset = awaitReset();
        long started = System.nanoTime();
        feed.start(reset.generation(), 1);
        thread.join(TimeUnit.SECONDS.toMillis(WAIT_SECONDS));
        assertFalse(thread.isAlive(), "the feed gives up");
        double seconds = (System.nanoTime() - started) / 1e9;
        assertTrue(seconds >= 1.0, "not before the broker wait: " + seconds);
        Throwable failure = feed.failure();
        assertNotNull(failure);
        assertTrue(
                failure.getMessage().contains("no records from " + TOPIC)
                        && failure.getMessage().contains("0@0/4"),
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
        assertEquals(
                java.util.Arrays.toString(new long[] {10, 11, 1050, 1051, 20, 21}),
                java.util.Arrays.toString(labels(items)));
        FeedItem.RoundEnd end = (FeedItem.RoundEnd) items.get(2);
        assertEquals(2, end.epoch());
        assertEquals(3, end.records());
        assertEquals(0, end.rejected());
        assertEquals(
                List.of(
                        new OffsetRange(TOPIC, 0, 1, 3),
                        new OffsetRange(TOPIC, 1, 5, 6),
                        new OffsetRange(TOPIC, 2, 3, 3)),
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

    // ---- sync rounds ----

    /** Items up to and including the RoundEnd that ends the epoch ({@code last}). */
    private List<FeedItem> rounds() throws InterruptedException {
        List<FeedItem> items = new ArrayList<>();
        while (true) {
            FeedItem item = next();
            items.add(item);
            if (item instanceof FeedItem.RoundEnd end && end.last()) {
                return items;
            }
            if (items.size() > 100) {
                fail("no last RoundEnd after " + items);
            }
        }
    }

    /** One line per item, so that a whole sequence can be written down by hand and compared at once. */
    private static List<String> describe(List<FeedItem> items) {
        List<String> out = new ArrayList<>();
        for (FeedItem item : items) {
            if (item instanceof FeedItem.Samples s) {
                out.add("samples e" + s.epoch() + " " + Arrays.toString(labels(List.of(s))));
            } else if (item instanceof FeedItem.Rejected r) {
                out.add("rejected e" + r.epoch() + " " + r.record().partition() + "@"
                        + r.record().offset());
            } else {
                FeedItem.RoundEnd e = (FeedItem.RoundEnd) item;
                String ranges = e.ranges().stream()
                        .map(r -> r.partition() + ":[" + r.from() + "," + r.to() + ")")
                        .collect(Collectors.joining(" "));
                out.add("end e" + e.epoch() + " " + ranges + (e.last() ? " last" : "") + " records=" + e.records()
                        + " rejected=" + e.rejected());
            }
        }
        return out;
    }

    /**
     * The full plan in rounds of one batch: a round closes after the record that completed its
     * batch, flushes the rest of that record, and the next round starts again at p0 (carrying on
     * the round-robin would read p1@6 first; not flushing would put 11 into round 2's batch).
     */
    private static List<String> oneBatchRoundsOfTheFullPlan(int epoch) {
        String e = "e" + epoch;
        return List.of(
                "samples " + e + " [0, 1, 1050, 1051, 10]",
                "samples " + e + " [11]",
                "end " + e + " 0:[0,2) 1:[5,6) 2:[3,3) records=3 rejected=0",
                "rejected " + e + " 1@6",
                "samples " + e + " [20, 21, 30, 31, 1070]",
                "samples " + e + " [1071]",
                "end " + e + " 0:[2,4) 1:[6,8) 2:[3,3) last records=4 rejected=1");
    }

    /**
     * Every item is of {@code generation}; the rounds' ranges list the assigned partitions in
     * partition order and chain, partition by partition, from {@code starts} to the plan's end, so
     * together they hold every offset of the epoch exactly once; only the final round is last.
     */
    private static void assertRoundsCoverOnce(
            List<FeedItem> items,
            long generation,
            EpochPlan plan,
            List<TopicPartition> assigned,
            Map<Integer, Long> starts) {
        items.forEach(i -> assertEquals(generation, i.generation(), i.toString()));
        List<FeedItem.RoundEnd> ends = items.stream()
                .filter(FeedItem.RoundEnd.class::isInstance)
                .map(FeedItem.RoundEnd.class::cast)
                .toList();
        Map<Integer, Long> at = new TreeMap<>(starts);
        long records = 0;
        for (int k = 0; k < ends.size(); k++) {
            FeedItem.RoundEnd end = ends.get(k);
            assertEquals(k == ends.size() - 1, end.last(), "only the epoch's final round is last: " + ends);
            assertNotNull(end.group());
            assertEquals(
                    assigned.stream().map(TopicPartition::partition).toList(),
                    end.ranges().stream().map(OffsetRange::partition).toList(),
                    "one range per assigned partition, in partition order");
            long inRanges = 0;
            for (OffsetRange r : end.ranges()) {
                assertEquals(TOPIC, r.topic());
                assertEquals(at.get(r.partition()), r.from(), "a round starts where the previous one ended: " + ends);
                assertTrue(r.to() >= r.from(), r.toString());
                inRanges += r.to() - r.from();
                at.put(r.partition(), r.to());
            }
            assertEquals(inRanges, end.records(), "a round counts the records of its ranges (rejected ones included)");
            records += end.records();
        }
        for (TopicPartition tp : assigned) {
            assertEquals(plan.to(tp), at.get(tp.partition()), "the epoch's rounds end at the plan's end of " + tp);
        }
        long planned = assigned.stream()
                .mapToLong(tp -> plan.to(tp) - starts.get(tp.partition()))
                .sum();
        assertEquals(planned, records);
    }

    private static Map<Integer, Long> planStarts(EpochPlan plan) {
        Map<Integer, Long> m = new TreeMap<>();
        plan.ranges().forEach((p, r) -> m.put(p, r[0]));
        return m;
    }

    @Test
    void oneBatchRoundsFlushTheirRestAndRestartTheRoundRobinAtTheFirstPartition() throws Exception {
        // nesterov: a node alone on the topic keeps its rounds (its outer step changes the weights)
        startFeed(null, spec(1, 120, SyncSpec.NESTEROV));
        rebalance(List.of(P2, P1, P0));
        BatchFeed.Reset reset = awaitReset();
        feed.start(reset.generation(), 1);

        List<FeedItem> first = rounds();
        assertEquals(oneBatchRoundsOfTheFullPlan(1), describe(first));
        EpochPlan plan = feed.plan();
        assertRoundsCoverOnce(first, reset.generation(), plan, List.of(P0, P1, P2), planStarts(plan));

        consumer.schedulePollTask(this::addAll);
        List<FeedItem> second = rounds();
        assertEquals(oneBatchRoundsOfTheFullPlan(2), describe(second), "every epoch is cut into the same rounds");
        assertRoundsCoverOnce(second, reset.generation(), plan, List.of(P0, P1, P2), planStarts(plan));

        consumer.schedulePollTask(this::addAll);
        assertNull(feed.next(200, TimeUnit.MILLISECONDS), "maxEpochs is 2");
        assertNull(feed.failure());
    }

    @Test
    void anAveragingNodeAloneOnTheTopicHasARoundEveryTwentyTimesEverySteps() throws Exception {
        // 7 records of 2 samples, batches of 5: 3 steps an epoch,
        // fewer than 20 x 1, so the only round is the epoch's end
        startFeed(null, spec(1, 120));
        rebalance(List.of(P2, P1, P0));
        BatchFeed.Reset reset = awaitReset();
        feed.start(reset.generation(), 1);

        List<FeedItem> first = rounds();
        assertEquals(
                List.of(
                        "samples e1 [0, 1, 1050, 1051, 10]",
                        "rejected e1 1@6",
                        "samples e1 [11, 20, 21, 1070, 1071]",
                        "samples e1 [30, 31]",
                        "end e1 0:[0,4) 1:[5,8) 2:[3,3) last records=7 rejected=1"),
                describe(first));
        EpochPlan plan = feed.plan();
        assertRoundsCoverOnce(first, reset.generation(), plan, List.of(P0, P1, P2), planStarts(plan));
    }

    @Test
    void roundsListOnlyTheAssignedPartitionsAndTheLastRoundIsTheOneThatReadsThemToTheEnd() throws Exception {
        startFeed(null, spec(1, 120));
        // another node has p1 and p2: this one's rounds are last once p0 is read
        consumer.schedulePollTask(() -> {
            consumer.rebalance(List.of(P0));
            for (long o = 0; o <= 4; o++) {
                consumer.addRecord(good(0, o));
            }
        });
        BatchFeed.Reset reset = awaitReset();
        assertEquals(List.of(P0), reset.assignment());
        feed.start(reset.generation(), 1);

        List<FeedItem> items = rounds();
        assertEquals(
                List.of(
                        "samples e1 [0, 1, 10, 11, 20]",
                        "samples e1 [21]",
                        "end e1 0:[0,3) records=3 rejected=0",
                        "samples e1 [30, 31]",
                        "end e1 0:[3,4) last records=1 rejected=0"),
                describe(items));
        assertRoundsCoverOnce(items, reset.generation(), feed.plan(), List.of(P0), planStarts(feed.plan()));
    }

    @Test
    void aStartAtPositionsReadsFromThereAndTheNextEpochFromThePlanStart() throws Exception {
        // the log's end moved past the run's plan: only the plan handed to start may count
        consumer.updateEndOffsets(Map.of(P0, 5L, P1, 8L, P2, 3L));
        EpochPlan runPlan =
                new EpochPlan(TOPIC, Map.of(0, new long[] {0, 4}, 1, new long[] {5, 8}, 2, new long[] {3, 3}));
        startFeed(null);
        rebalance(List.of(P0, P1, P2));
        BatchFeed.Reset reset = awaitReset();

        // the last closed round of epoch 1 ended at p0@2, p1@6: p0@0, p0@1 and p1@5 were trained in it already
        Map<Integer, Long> positions = Map.of(0, 2L, 1, 6L, 2, 3L);
        feed.start(reset.generation(), 1, positions, runPlan);
        List<FeedItem> rest = rounds();
        assertEquals(
                List.of(
                        "rejected e1 1@6",
                        "samples e1 [20, 21, 30, 31, 1070]",
                        "samples e1 [1071]",
                        "end e1 0:[2,4) 1:[6,8) 2:[3,3) last records=4 rejected=1"),
                describe(rest));
        assertRoundsCoverOnce(rest, reset.generation(), runPlan, List.of(P0, P1, P2), positions);
        assertEquals(runPlan.ranges().keySet(), feed.plan().ranges().keySet());
        assertEquals(
                List.of(0L, 4L),
                List.of(feed.plan().from(P0), feed.plan().to(P0)),
                "the feed reads the plan it was given");

        // epoch 2 reads the whole plan, from its start
        consumer.schedulePollTask(this::addAll);
        assertFullEpoch(epoch(), reset.generation(), 2);
    }

    @Test
    void oneBatchRoundsFromMidEpochPositionsChainFromThoseOffsets() throws Exception {
        startFeed(null, spec(1, 120, SyncSpec.NESTEROV));
        rebalance(List.of(P0, P1, P2));
        BatchFeed.Reset reset = awaitReset();
        EpochPlan runPlan =
                new EpochPlan(TOPIC, Map.of(0, new long[] {0, 4}, 1, new long[] {5, 8}, 2, new long[] {3, 3}));
        Map<Integer, Long> positions = Map.of(0, 1L, 1, 5L, 2, 3L);
        feed.start(reset.generation(), 1, positions, runPlan);

        List<FeedItem> rest = rounds();
        // round 2 takes p0@3, p1@6 (rejected), then p1@7 as p0 is done: its only batch is the flushed rest
        assertEquals(
                List.of(
                        "samples e1 [10, 11, 1050, 1051, 20]",
                        "samples e1 [21]",
                        "end e1 0:[1,3) 1:[5,6) 2:[3,3) records=3 rejected=0",
                        "rejected e1 1@6",
                        "samples e1 [30, 31, 1070, 1071]",
                        "end e1 0:[3,4) 1:[6,8) 2:[3,3) last records=3 rejected=1"),
                describe(rest));
        assertRoundsCoverOnce(rest, reset.generation(), runPlan, List.of(P0, P1, P2), positions);

        consumer.schedulePollTask(this::addAll);
        List<FeedItem> second = rounds();
        assertEquals(oneBatchRoundsOfTheFullPlan(2), describe(second), "the next epoch starts at the plan's start");
        assertRoundsCoverOnce(second, reset.generation(), runPlan, List.of(P0, P1, P2), planStarts(runPlan));
    }

    // ---- stragglers ----

    /** Polls {@code condition} until it holds, beating for the trainer meanwhile if {@code beat}. */
    private void awaitCondition(String what, BooleanSupplier condition, boolean beat) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_SECONDS);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                fail(what + " did not happen within " + WAIT_SECONDS + " s; failure: " + feed.failure());
            }
            assertNull(feed.failure(), "feed failed");
            if (beat) {
                feed.heartbeat();
            }
            Thread.sleep(10);
        }
    }

    @Test
    void aSilentTrainerLeavesTheGroupAndRejoinsWhenItBeatsAgain() throws Exception {
        startFeed(null, spec(50, 1));
        rebalance(List.of(P0, P1, P2));
        BatchFeed.Reset reset = awaitReset();
        feed.start(reset.generation(), 1);
        awaitCondition("items queued", () -> feed.prefetchedBytes() > 0, true);
        assertEquals(Set.of(TOPIC), consumer.subscription());

        long lastBeat = System.nanoTime();
        feed.heartbeat();
        // from here the trainer is silent (a hung step)
        awaitCondition(
                "leaving the group",
                () -> consumer.subscription().isEmpty() && feed.generation() > reset.generation(),
                false);
        double silent = (System.nanoTime() - lastBeat) / 1e9;
        assertTrue(silent >= 1.0, "not before sync.timeoutSeconds: left after " + silent + " s");
        assertEquals(Set.of(), consumer.assignment());
        long leftGeneration = feed.generation();

        assertNull(feed.next(200, TimeUnit.MILLISECONDS), "what was queued before leaving is stale");
        assertEquals(0, feed.prefetchedBytes(), "the stale items were dropped, not kept");
        assertTrue(consumer.subscription().isEmpty(), "a silent trainer's feed stays out");
        assertFalse(feed.resetPending());
        assertTrue(thread.isAlive());

        awaitCondition("rejoining the group", () -> consumer.subscription().equals(Set.of(TOPIC)), true);
        // the group hands partitions back (a KafkaConsumer's next poll would; MockConsumer needs to be told)
        rebalance(List.of(P0, P1, P2));
        BatchFeed.Reset back = awaitReset();
        assertTrue(back.generation() > leftGeneration, back + " after " + leftGeneration);
        feed.start(back.generation(), 1);
        assertFullEpoch(epoch(), back.generation(), 1);
    }

    @Test
    void aTrainerThatBeatsStaysInTheGroupPastTheTimeout() throws Exception {
        startFeed(null, spec(50, 1));
        rebalance(List.of(P0, P1, P2));
        BatchFeed.Reset reset = awaitReset();
        feed.start(reset.generation(), 1);
        assertFullEpoch(epoch(), reset.generation(), 1);

        // well past the 1 s timeout, beating as a trainer does between steps
        long until = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(2500);
        while (System.nanoTime() < until) {
            feed.heartbeat();
            assertEquals(Set.of(TOPIC), consumer.subscription(), "a beating trainer's feed stays in the group");
            Thread.sleep(50);
        }
        assertEquals(Set.of(P0, P1, P2), consumer.assignment());
        assertEquals(reset.generation(), feed.generation(), "no leave, no new generation");
        assertFalse(feed.resetPending());

        consumer.schedulePollTask(this::addAll);
        assertFullEpoch(epoch(), reset.generation(), 2);
    }
}
