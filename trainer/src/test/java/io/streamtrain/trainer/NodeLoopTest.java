package io.streamtrain.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import ai.djl.engine.Engine;
import io.streamtrain.core.checkpoint.Checkpoint;
import io.streamtrain.core.checkpoint.CheckpointManifest;
import io.streamtrain.core.checkpoint.CheckpointManifest.OffsetRange;
import io.streamtrain.core.codec.BatchCodec;
import io.streamtrain.core.codec.SafeTensors;
import io.streamtrain.core.control.ControlMessage;
import io.streamtrain.core.djl.Engines;
import io.streamtrain.core.metrics.Health;
import io.streamtrain.core.protocol.Messages;
import io.streamtrain.core.protocol.RoundSums;
import io.streamtrain.core.protocol.SyncMessage;
import io.streamtrain.core.spec.RegularizationSpec;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.core.spec.SyncSpec;
import io.streamtrain.core.topics.Topics;
import io.streamtrain.testkit.ReadBack;
import io.streamtrain.trainer.checkpoint.CheckpointPublisher;
import io.streamtrain.trainer.checkpoint.RebalancedException;
import io.streamtrain.trainer.feed.BatchFeed;
import io.streamtrain.trainer.feed.EpochPlan;
import io.streamtrain.trainer.model.ModelState;
import io.streamtrain.trainer.model.StepReport;
import io.streamtrain.trainer.sync.Combiner;
import io.streamtrain.trainer.sync.OuterGradients;
import io.streamtrain.trainer.sync.RoundState;
import io.streamtrain.trainer.sync.SyncChannel;
import io.streamtrain.trainer.sync.SyncLog;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.MockConsumer;
import org.apache.kafka.clients.producer.Callback;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The node's loop over its real feed, sync log and step, with Kafka's mock clients in place
 * of a broker: the train topic is a {@link MockConsumer} that always has its records, the
 * sync topic a {@link MockProducer} whose records come back through a {@link MockConsumer},
 * and the checkpoint topic a fake. Another node is played by the test through a sync channel
 * of its own on the same log.
 */
class NodeLoopTest {
    private static final String TOPIC = TestSpecs.TRAIN_TOPIC;
    private static final TopicPartition P0 = new TopicPartition(TOPIC, 0);
    private static final TopicPartition P1 = new TopicPartition(TOPIC, 1);
    private static final int RECORDS_PER_PARTITION = 6;
    private static final int SAMPLES_PER_RECORD = 4;
    private static final int FEATURES = 4;
    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final String T = "2026-12-06T00:00:00Z";

    private final TrainTopic train = new TrainTopic();
    private final SyncTopic syncTopic = new SyncTopic();
    private final MockProducer<byte[], byte[]> acks =
            new MockProducer<>(true, null, new ByteArraySerializer(), new ByteArraySerializer());
    private final MockProducer<byte[], byte[]> dlq =
            new MockProducer<>(true, null, new ByteArraySerializer(), new ByteArraySerializer());
    private final FakeCheckpoints checkpoints = new FakeCheckpoints();
    private final Queue<ControlMessage> inbox = new ConcurrentLinkedQueue<>();
    private final StopSignal stop = new StopSignal();
    private final List<StepReport> steps = new CopyOnWriteArrayList<>();
    private final List<Long> rollbacks = new CopyOnWriteArrayList<>();
    /** More listeners a test adds before {@link #start}. */
    private final List<TrainingListener> listeners = new ArrayList<>();

    private final AtomicReference<Object> result = new AtomicReference<>();
    private final CountDownLatch ended = new CountDownLatch(1);
    private Engine engine;
    private ModelState state;
    private NodePorts ports;
    private NodeLoop loop;
    private Thread thread;

    private static RunSpec spec(int maxEpochs, int minNodes) {
        return spec(maxEpochs, minNodes, TestSpecs.sgd(0.05));
    }

    private static RunSpec spec(int maxEpochs, int minNodes, io.streamtrain.core.spec.OptimizerSpec optimizer) {
        RunSpec s = TestSpecs.spec(
                TestSpecs.smallMlp(), optimizer, RegularizationSpec.NONE, 7, SAMPLES_PER_RECORD, maxEpochs);
        return TestSpecs.with(
                s,
                s.data(),
                new SyncSpec(2, SyncSpec.AVERAGE, 0.7, 0.9, 1, minNodes, SyncSpec.STREAMING, SyncSpec.BFLOAT16, 1));
    }

    /**
     * {@code spec(epochs, 1, optimizer)} with sync {@code mode} and a 10 s sync timeout: a round
     * a test holds back is no straggler's. Alone on the topic the node has one round an epoch.
     */
    private static RunSpec heldRounds(int epochs, io.streamtrain.core.spec.OptimizerSpec optimizer, String mode) {
        RunSpec s = spec(epochs, 1, optimizer);
        return TestSpecs.with(
                s, s.data(), new SyncSpec(2, SyncSpec.AVERAGE, 0.7, 0.9, 10, 1, mode, SyncSpec.BFLOAT16, 1));
    }

    /** Puts {@code command} in the inbox at epoch {@code epoch}'s first step, on the training thread: applied at the next tick. */
    private void commandAtFirstStepOf(int epoch, ControlMessage command) {
        listeners.add(new TrainingListener() {
            private boolean sent;

            @Override
            public void onStep(int e, StepReport report) {
                if (e == epoch && !sent) {
                    sent = true;
                    inbox.add(command);
                }
            }
        });
    }

    private static EpochPlan plan() {
        return EpochPlan.of(
                TOPIC,
                List.of(
                        new OffsetRange(TOPIC, 0, 0, RECORDS_PER_PARTITION),
                        new OffsetRange(TOPIC, 1, 0, RECORDS_PER_PARTITION)));
    }

    /** Starts node A's loop on its own thread; the train topic assigns it {@code partitions} at its first poll. */
    private void start(RunSpec spec, List<TopicPartition> partitions) throws Exception {
        engine = Engines.pytorch();
        state = ModelState.initialize(spec, engine);
        RoundState begin =
                RoundState.start(0, 0, 0, SafeTensors.read(state.toPayload(Map.of())), null, -1, 0, RoundSums.ZERO);
        SyncLog syncLog = new SyncLog(new Combiner(spec.sync()), begin, null, -1);
        TrainerOptions options = TrainerOptions.defaults("node-a").withBrokerWait(Duration.ofSeconds(2));
        BatchFeed feed = new BatchFeed(train, spec, null, 1 << 20, options.brokerWait());
        Thread feedThread = new Thread(feed, "test-feed");
        feedThread.setDaemon(true);
        feedThread.start();
        SyncChannel sync = new SyncChannel(
                syncTopic.producer,
                syncTopic.forNode(),
                Topics.sync(spec.run()),
                spec.checkpoints().chunkBytes(),
                syncLog,
                -1,
                options.brokerWait());
        ports = new NodePorts(
                feed,
                feedThread,
                sync,
                checkpoints,
                new DeadLetterWriter(dlq, spec.run(), "node-a", options.brokerWait()),
                NodeLoopTest::plan,
                List.of());
        ControlChannel control =
                new ControlChannel(new MockConsumer<>("earliest"), acks, spec.run(), "node-a", m -> {});
        Commands commands = new Commands(spec);
        TrainingListener recorder = new TrainingListener() {
            @Override
            public void onStep(int epoch, StepReport report) {
                steps.add(report);
            }

            @Override
            public void onRollback(int resumeEpoch, long step) {
                rollbacks.add(step);
            }
        };
        listeners.add(recorder);
        loop = new NodeLoop(
                spec,
                options,
                engine,
                state,
                syncLog,
                commands,
                inbox,
                stop,
                ports,
                control,
                List.copyOf(listeners),
                new Health(Duration.ofMinutes(1)));
        train.rebalance(partitions);
        thread = new Thread(
                () -> {
                    try {
                        Engines.pytorch(); // as the node does on its training thread: autograd's mode is per thread
                        result.set(loop.run());
                    } catch (Throwable t) {
                        result.set(t);
                    } finally {
                        ended.countDown();
                    }
                },
                "test-node-a");
        thread.setDaemon(true);
        thread.start();
    }

    @AfterEach
    void tearDown() throws Exception {
        stop.request();
        if (thread != null) {
            thread.join(WAIT.toMillis());
        }
        if (ports != null) {
            ports.close();
        }
        if (state != null) {
            state.close();
        }
    }

    /** Node B, played by the test: its own records on the same sync log. */
    private SyncChannel nodeB() {
        return new SyncChannel(
                syncTopic.producer,
                new MockConsumer<>("earliest"),
                Topics.sync("unit-run"),
                512 * 1024,
                new SyncLog(
                        new Combiner(SyncSpec.defaults()),
                        RoundState.start(0, 0, 0, null, null, -1, 0, RoundSums.ZERO),
                        null,
                        -1),
                -1,
                Duration.ofSeconds(2));
    }

    private static SyncMessage.Join join(String node, int generation, List<Integer> partitions) {
        return new SyncMessage.Join(Messages.newId(), generation, node, partitions, plan().all());
    }

    private Object outcome() throws InterruptedException {
        assertTrue(ended.await(WAIT.toSeconds(), TimeUnit.SECONDS), "the loop did not end; it is " + loop.state());
        return result.get();
    }

    private void await(String what, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!condition.getAsBoolean()) {
            if (ended.getCount() == 0) {
                fail("the loop ended (" + result.get() + ") before " + what);
            }
            if (System.nanoTime() > deadline) {
                fail("not within " + WAIT + ": " + what + "; the loop is " + loop.state());
            }
            Thread.sleep(5);
        }
    }

    private void awaitState(NodeState s) throws InterruptedException {
        await("state " + s, () -> loop.state() == s);
    }

    private Optional<ControlMessage.Ack> ackOf(String command) {
        for (ProducerRecord<byte[], byte[]> r : acks.history()) {
            try {
                if (Messages.decodeControl(r.value()).orElseThrow() instanceof ControlMessage.Ack a
                        && a.command().equals(command)) {
                    return Optional.of(a);
                }
            } catch (io.streamtrain.core.control.MalformedMessageException e) {
                throw new AssertionError("the node wrote a malformed acknowledgement", e);
            }
        }
        return Optional.empty();
    }

    @Test
    void aPauseWhileWaitingForMembersIsAcknowledgedAtOnceAndHoldsTheFirstStepUntilResume() throws Exception {
        // epochs enough that the run is still training when it is asked to leave (one epoch could end between the
        // first step after the RESUME and the request, on a busy machine)
        start(spec(100, 2), List.of(P0, P1));
        awaitState(NodeState.AWAITING_MEMBERS);
        inbox.add(new ControlMessage.Pause("unit-run", "pause-1", T, "op"));
        await(
                "the PAUSE acknowledged while the node waits for members",
                () -> ackOf("pause-1").isPresent());
        assertTrue(ackOf("pause-1").get().applied());
        assertEquals(NodeState.AWAITING_MEMBERS, loop.state());

        nodeB().join(join("node-b", train.generation.get(), List.of()));
        awaitState(NodeState.PAUSED);
        Thread.sleep(300);
        assertEquals(List.of(), steps, "nothing trained while paused");

        inbox.add(new ControlMessage.Resume("unit-run", "resume-1", T, "op"));
        await("steps after the RESUME", () -> !steps.isEmpty());
        stop.request();
        assertEquals(
                TrainerNode.Outcome.INTERRUPTED,
                outcome(),
                "asked to leave, not stopped by a STOP: the run is not done");
    }

    @Test
    void aStopWhileWaitingForMembersEndsTheLoopAndIsAcknowledged() throws Exception {
        start(spec(1, 2), List.of(P0, P1));
        awaitState(NodeState.AWAITING_MEMBERS);
        ControlMessage.Stop command =
                new ControlMessage.Stop("unit-run", "stop-1", T, "operator", "enough", null, "op");
        stop.request(command);
        assertEquals(TrainerNode.Outcome.STOPPED, outcome());
        assertEquals(NodeState.STOPPING, loop.state());
        assertTrue(ackOf("stop-1").orElseThrow().applied());
        assertEquals(List.of(), steps);
    }

    @Test
    void timeThatTheRunIsPausedWhileWaitingForARoundDoesNotCountTowardsGivingUp() throws Exception {
        SyncChannel b = nodeB();
        b.join(join("node-b", 1, List.of(1))); // node B holds partition 1 and never contributes
        start(spec(1, 1), List.of(P0));
        awaitState(NodeState.AWAITING_ROUND);
        inbox.add(new ControlMessage.Pause("unit-run", "pause-2", T, "op"));
        await(
                "the PAUSE acknowledged while the node waits for its round",
                () -> ackOf("pause-2").isPresent());
        Thread.sleep(3_000); // longer than the give-up time (2 × sync.timeoutSeconds, and the broker wait: 2 s)
        assertEquals(1, ended.getCount(), "paused time is not a straggler's, but the loop ended: " + result.get());
        assertEquals(NodeState.AWAITING_ROUND, loop.state());

        long resumed = System.nanoTime();
        inbox.add(new ControlMessage.Resume("unit-run", "resume-2", T, "op"));
        Throwable gaveUp = assertInstanceOf(IllegalStateException.class, outcome());
        long afterResume = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - resumed);
        assertTrue(
                gaveUp.getMessage().contains("did not close")
                        && gaveUp.getMessage().contains("1=node-b"),
                gaveUp.getMessage());
        assertTrue(
                afterResume >= 1_000,
                "gave up " + afterResume + " ms after the RESUME: the waited time before the PAUSE counts, the"
                        + " paused time does not");
    }

    @Test
    void aRebalanceMidRoundRollsBackToTheLastClosedRoundAndTheEpochIsTrainedOnceUnderTheNewGeneration()
            throws Exception {
        train.written = 2; // the rest of the epoch comes after the rebalance: the round cannot close before it
        start(spec(1, 1), List.of(P0, P1));
        await("the steps of what was written", () -> steps.size() == 4);
        train.rebalance(List.of(P0, P1));
        train.written = RECORDS_PER_PARTITION;
        assertEquals(TrainerNode.Outcome.FINISHED, outcome());

        assertEquals(List.of(0L, 0L), rollbacks, "the start, then the rebalance back to round 0");
        List<Integer> joinedGenerations =
                syncTopic.joins().stream().map(SyncMessage.Join::generation).toList();
        assertEquals(List.of(1, 2), joinedGenerations);
        CheckpointManifest epoch1 = checkpoints.published.get(0);
        assertEquals(1, checkpoints.published.size());
        assertEquals(1, epoch1.epoch());
        assertEquals(
                2 * RECORDS_PER_PARTITION,
                epoch1.step(),
                "one step per record: the steps before the rebalance were discarded");
        assertEquals(
                2.0 * RECORDS_PER_PARTITION * SAMPLES_PER_RECORD,
                epoch1.metrics().get("samples"));
        assertEquals(2.0 * RECORDS_PER_PARTITION, epoch1.metrics().get("records"), "every record once");
    }

    @Test
    void aFencedCheckpointerStopsPublishingRefusesSnapshotsAndTheRunGoesOn() throws Exception {
        checkpoints.fenceFirstPublish = true;
        start(spec(2, 1), List.of(P0, P1));
        assertTrue(
                checkpoints.firstPublish.await(WAIT.toSeconds(), TimeUnit.SECONDS),
                "epoch 1's checkpoint was attempted");
        inbox.add(new ControlMessage.Checkpoint("unit-run", "snap-1", T, "op"));
        checkpoints.release.countDown();
        assertEquals(TrainerNode.Outcome.FINISHED, outcome());

        assertEquals(1, checkpoints.attempts.get(), "epoch 2's is the new owner's to publish");
        assertFalse(checkpoints.canPublish());
        ControlMessage.Ack snapshot = ackOf("snap-1").orElseThrow();
        assertTrue(snapshot.outcome().startsWith("refused: this node cannot publish checkpoints"), snapshot.outcome());
        assertEquals(2 * 2 * RECORDS_PER_PARTITION, steps.size(), "both epochs trained");
    }

    /**
     * Epoch 1's commit fails on a rebalance, and epoch 2 closes in the old generation before the
     * node sees the rebalance (its commit fails too): the new generation's owner of partition 0
     * publishes both, in order, not only the last.
     */
    @Test
    void anEpochWhoseCommitFailedOnARebalanceIsPublishedThoughTheNextClosedInTheOldGeneration() throws Exception {
        checkpoints.holdFirstPublish = true;
        checkpoints.rebalancedOnce.addAll(Set.of(1, 2));
        RunSpec spec = spec(3, 1);
        // the training thread waits for epoch 1's commit below: not a straggler within 10 s
        start(
                TestSpecs.with(
                        spec,
                        spec.data(),
                        new SyncSpec(2, SyncSpec.AVERAGE, 0.7, 0.9, 10, 1, SyncSpec.STREAMING, SyncSpec.BFLOAT16, 1)),
                List.of(P0, P1));
        assertTrue(
                checkpoints.firstPublish.await(WAIT.toSeconds(), TimeUnit.SECONDS), "epoch 1's checkpoint was begun");
        int epochSteps = 2 * RECORDS_PER_PARTITION;
        await("epoch 2 trained while epoch 1's checkpoint is being committed", () -> steps.size() >= 2 * epochSteps);
        Thread.sleep(1_000); // epoch 2 closes: its publication waits for epoch 1's
        train.rebalance(List.of(P0, P1));
        checkpoints.release.countDown();
        assertEquals(TrainerNode.Outcome.FINISHED, outcome());
        assertEquals(
                List.of(1, 2, 3),
                checkpoints.published.stream().map(CheckpointManifest::epoch).toList(),
                "every epoch's checkpoint, in order");
    }

    @Test
    void theNextEpochTrainsWhileAnEpochsCheckpointCommitsAndTheLastCheckpointIsCommittedBeforeTheRunFinishes()
            throws Exception {
        checkpoints.holdFirstPublish = true;
        List<CheckpointManifest> seen = new CopyOnWriteArrayList<>();
        listeners.add(new TrainingListener() {
            @Override
            public void onCheckpoint(CheckpointManifest m) {
                seen.add(m);
            }
        });
        start(spec(3, 1), List.of(P0, P1));
        assertTrue(
                checkpoints.firstPublish.await(WAIT.toSeconds(), TimeUnit.SECONDS), "epoch 1's checkpoint was begun");
        int epochSteps = 2 * RECORDS_PER_PARTITION;
        await("epoch 2 trained while epoch 1's checkpoint is being committed", () -> steps.size() == 2 * epochSteps);
        assertEquals(List.of(), seen, "not reported before it is committed");
        assertEquals(1, ended.getCount(), "the run cannot finish before its checkpoints are committed");

        checkpoints.release.countDown();
        assertEquals(TrainerNode.Outcome.FINISHED, outcome());
        assertEquals(
                List.of(1, 2, 3),
                checkpoints.published.stream().map(CheckpointManifest::epoch).toList());
        assertEquals(
                List.of(1, 2, 3),
                seen.stream().map(CheckpointManifest::epoch).toList(),
                "each reported once, in order");
        assertEquals(3 * epochSteps, steps.size());
    }

    @Test
    void aStreamingNodeHandsInItsOuterGradientTrainsOnForTheOverlapAndOnlyThenWaitsForTheRound() throws Exception {
        SyncChannel b = nodeB();
        b.join(join("node-b", 1, List.of(1)));
        start(spec(1, 1), List.of(P0)); // rounds of 2 steps, an overlap of 1
        await("round 1 handed in", () -> syncTopic.contributions("node-a").size() == 1);
        awaitState(NodeState.AWAITING_ROUND);
        Thread.sleep(300);
        assertEquals(3, steps.size(), "2 steps of round 1, then 1 of round 2 before waiting for round 1");

        SafeTensors.Document first = syncTopic.contributions("node-a").get(0);
        assertTrue(
                first.tensors().keySet().stream().allMatch(n -> n.startsWith(OuterGradients.DELTA_PREFIX)),
                "mid-epoch: outer gradients only, no parameters and no optimizer state: "
                        + first.tensors().keySet());
        assertEquals(state.parameterArrays().size(), first.tensors().size());
        first.tensors().values().forEach(t -> assertEquals(io.streamtrain.core.codec.DType.BF16, t.dtype()));

        // node B's share of round 1: it trained nothing, so the round is node A's
        b.contribute(
                new SyncMessage.Contribution(
                        Messages.newId(),
                        1,
                        "node-b",
                        1,
                        1,
                        0,
                        List.of(new OffsetRange(TOPIC, 1, 0, 2)),
                        RoundSums.ZERO,
                        null,
                        List.of()),
                null);
        await("round 2 handed in", () -> syncTopic.contributions("node-a").size() == 2);
        awaitState(NodeState.AWAITING_ROUND);
        Thread.sleep(300);
        assertEquals(5, steps.size(), "the overlap again after round 2's hand-in");
        assertEquals(NodeState.AWAITING_ROUND, loop.state());
    }

    @Test
    void aStreamingNodeWhosePartitionsEndTheEpochHandsInItsOptimizerStateWithItsLastRounds() throws Exception {
        SyncChannel b = nodeB();
        b.join(join("node-b", 1, List.of(1)));
        start(spec(1, 1, TestSpecs.adam("adamw", 0.01)), List.of(P0)); // Adam: optimizer slots to hand in
        for (int round = 1; round <= RECORDS_PER_PARTITION / 2; round++) {
            int r = round;
            await(
                    "round " + r + " handed in",
                    () -> syncTopic.contributions("node-a").size() == r);
            b.contribute(
                    new SyncMessage.Contribution(
                            Messages.newId(),
                            1,
                            "node-b",
                            round,
                            1,
                            0,
                            List.of(new OffsetRange(TOPIC, 1, 2L * (round - 1), 2L * round)),
                            RoundSums.ZERO,
                            null,
                            List.of()),
                    null);
        }
        await(
                "the last round handed in",
                () -> syncTopic.contributions("node-a").size() == RECORDS_PER_PARTITION / 2);
        SafeTensors.Document last = syncTopic.contributions("node-a").get(RECORDS_PER_PARTITION / 2 - 1);
        assertEquals(
                Combiner.SLOTS_INCLUDED,
                last.metadata().get(Combiner.SLOTS_KEY),
                "the epoch's end: its optimizer state too");
        assertTrue(
                last.tensors().keySet().stream().anyMatch(n -> n.startsWith(OuterGradients.DELTA_PREFIX)),
                last.tensors().keySet().toString());
        List<io.streamtrain.core.codec.Tensor> slots = last.tensors().values().stream()
                .filter(t -> t.name().startsWith(io.streamtrain.core.model.Weights.OPTIMIZER_PREFIX))
                .toList();
        assertFalse(slots.isEmpty(), last.tensors().keySet().toString());
        slots.forEach(t -> assertEquals(
                io.streamtrain.core.codec.DType.BF16, t.dtype(), "slots travel as bfloat16 too: " + t.name()));
        for (SafeTensors.Document mid : syncTopic.contributions("node-a").subList(0, RECORDS_PER_PARTITION / 2 - 1)) {
            assertEquals(null, mid.metadata().get(Combiner.SLOTS_KEY));
        }
    }

    /**
     * A node alone on the topic does not wait for its round to come back through the broker: it
     * trains on, and its checkpoints are the same bits as when the round comes back at once.
     * Here its first round (the end of epoch 1) is held back while the node trains all of epoch
     * 2; then it waits, its next share trained, until that round is back. Strict and streaming mode hand in different
     * whole states (streaming marks its optimizer slots); Adam gives it slots to hand in.
     */
    @Test
    void aLoneNodeTrainsOnWhileItsRoundComesBackAndItsCheckpointsAreTheSameBitsAsWithoutWaiting() throws Exception {
        for (String mode : List.of(SyncSpec.STREAMING, SyncSpec.STRICT)) {
            RunSpec spec = heldRounds(3, TestSpecs.adam("adamw", 0.01), mode);

            NodeLoopTest atOnce = new NodeLoopTest();
            List<byte[]> expected;
            try {
                atOnce.start(spec, List.of(P0, P1));
                assertEquals(TrainerNode.Outcome.FINISHED, atOnce.outcome());
                expected = List.copyOf(atOnce.checkpoints.payloads);
            } finally {
                atOnce.tearDown();
            }
            assertEquals(3, expected.size());

            NodeLoopTest heldBack = new NodeLoopTest();
            try {
                heldBack.syncTopic.holdContributions = true;
                heldBack.start(spec, List.of(P0, P1));
                int epochSteps = 2 * RECORDS_PER_PARTITION;
                heldBack.await(
                        "epoch 2 trained while epoch 1's round is held back",
                        () -> heldBack.steps.size() == 2 * epochSteps);
                heldBack.awaitState(NodeState.AWAITING_ROUND);
                assertEquals(List.of(), heldBack.checkpoints.published, mode + ": epoch 1's round has not closed");
                assertEquals(
                        1,
                        heldBack.syncTopic.contributions("node-a").size(),
                        mode + ": epoch 2's share is handed in after epoch 1's round is taken back");

                heldBack.syncTopic.release();
                assertEquals(TrainerNode.Outcome.FINISHED, heldBack.outcome());
                assertEquals(3 * epochSteps, heldBack.steps.size(), mode + ": every step once");
                assertEquals(
                        List.of(1, 2, 3),
                        heldBack.checkpoints.published.stream()
                                .map(CheckpointManifest::epoch)
                                .toList());
                for (int e = 0; e < 3; e++) {
                    assertTrue(
                            java.util.Arrays.equals(expected.get(e), heldBack.checkpoints.payloads.get(e)),
                            mode + ": epoch " + (e + 1) + "'s checkpoint differs from the run whose rounds came back at"
                                    + " once");
                }
            } finally {
                heldBack.tearDown();
            }
        }
    }

    /**
     * A SET that takes effect while a lone node trains on past its round belongs to the next
     * epoch: the checkpoint of the epoch that round ended records the settings it was trained
     * with, however late the round comes back.
     */
    @Test
    void aSetAppliedWhileALoneNodeTrainsOnPastItsRoundIsInTheNextEpochsCheckpointOnly() throws Exception {
        syncTopic.holdContributions = true;
        commandAtFirstStepOf(
                2,
                new ControlMessage.Set(
                        "unit-run", "set-l2", T, Map.of("l2", 0.5), "op")); // while epoch 1's round is held back
        start(heldRounds(2, TestSpecs.sgd(0.05), SyncSpec.STREAMING), List.of(P0, P1));
        await("the SET acknowledged", () -> ackOf("set-l2").isPresent());
        assertTrue(ackOf("set-l2").get().applied(), ackOf("set-l2").get().outcome());
        assertEquals(List.of(), checkpoints.published, "epoch 1's round is still held back");

        syncTopic.release();
        assertEquals(TrainerNode.Outcome.FINISHED, outcome());
        List<Double> l2 = checkpoints.published.stream()
                .map(m -> io.streamtrain.core.spec.RunSpecParser.parse(m.spec())
                        .regularization()
                        .l2())
                .toList();
        assertEquals(List.of(0.0, 0.5), l2, "epoch 1 was trained without the SET, epoch 2 with it");
    }

    /**
     * A PAUSE that holds a lone node while its round is still out does not hold that epoch's
     * checkpoint: the node reads the round back while paused, and publishes.
     */
    @Test
    void aLoneNodePausedWhileItsRoundIsOutPublishesTheEpochWhenTheRoundComesBack() throws Exception {
        syncTopic.holdContributions = true;
        commandAtFirstStepOf(
                2, new ControlMessage.Pause("unit-run", "pause-3", T, "op")); // while epoch 1's round is held back
        start(heldRounds(2, TestSpecs.sgd(0.05), SyncSpec.STREAMING), List.of(P0, P1));
        awaitState(NodeState.PAUSED);
        int epochSteps = 2 * RECORDS_PER_PARTITION;
        assertEquals(epochSteps + 1, steps.size(), "paused one step into epoch 2");
        assertEquals(List.of(), checkpoints.published, "epoch 1's round is still held back");

        syncTopic.release();
        await("epoch 1's checkpoint published while paused", () -> checkpoints.published.size() == 1);
        assertEquals(NodeState.PAUSED, loop.state());
        assertEquals(1, checkpoints.published.get(0).epoch());
        assertEquals(epochSteps + 1, steps.size(), "nothing trained while paused");

        inbox.add(new ControlMessage.Resume("unit-run", "resume-3", T, "op"));
        assertEquals(TrainerNode.Outcome.FINISHED, outcome());
        assertEquals(
                List.of(1, 2),
                checkpoints.published.stream().map(CheckpointManifest::epoch).toList());
    }

    /**
     * A CHECKPOINT taken while a lone node trains on past epoch 1's round is a snapshot of epoch
     * 2 in round 2, as one taken after the node waited for the round would be.
     */
    @Test
    void aSnapshotTakenWhileALoneNodeTrainsOnPastItsRoundNamesTheEpochAndRoundItTrains() throws Exception {
        syncTopic.holdContributions = true;
        commandAtFirstStepOf(2, new ControlMessage.Checkpoint("unit-run", "snap-2", T, "op"));
        start(heldRounds(2, TestSpecs.sgd(0.05), SyncSpec.STREAMING), List.of(P0, P1));
        await("the CHECKPOINT acknowledged", () -> ackOf("snap-2").isPresent());
        String outcome = ackOf("snap-2").get().outcome();
        assertTrue(outcome.startsWith(ControlMessage.Ack.APPLIED + ": checkpoint "), outcome);
        syncTopic.release();
        assertEquals(TrainerNode.Outcome.FINISHED, outcome());

        CheckpointManifest snapshot = checkpoints.published.stream()
                .filter(CheckpointManifest::snapshot)
                .findFirst()
                .orElseThrow();
        assertEquals(2, snapshot.epoch());
        assertEquals(2, snapshot.round());
        assertEquals(2 * RECORDS_PER_PARTITION + 1, snapshot.step(), "one step into epoch 2");
    }

    /** The train topic: every poll finds the records from each assigned partition's position on. */
    private static final class TrainTopic extends MockConsumer<byte[], ByteBuffer> {
        final AtomicInteger generation = new AtomicInteger();
        /** Each partition's records below this offset have been written so far. */
        volatile long written = RECORDS_PER_PARTITION;

        TrainTopic() {
            super("earliest");
            updatePartitions(
                    TOPIC,
                    List.of(
                            new PartitionInfo(TOPIC, 0, null, null, null),
                            new PartitionInfo(TOPIC, 1, null, null, null)));
            updateBeginningOffsets(Map.of(P0, 0L, P1, 0L));
            updateEndOffsets(Map.of(P0, (long) RECORDS_PER_PARTITION, P1, (long) RECORDS_PER_PARTITION));
        }

        /** A new group generation with these partitions, at the feed's next poll (on its thread, as Kafka does it). */
        void rebalance(List<TopicPartition> partitions) {
            schedulePollTask(() -> {
                generation.incrementAndGet();
                super.rebalance(partitions);
            });
        }

        @Override
        public synchronized ConsumerRecords<byte[], ByteBuffer> poll(Duration timeout) {
            for (TopicPartition tp : assignment()) {
                if (paused().contains(tp)) {
                    continue; // Kafka's mock keeps a paused partition's records: adding them at every poll would pile
                    // them up
                }
                long from;
                try {
                    from = position(tp);
                } catch (RuntimeException e) {
                    continue; // no position yet
                }
                for (long o = from; o < Math.min(written, RECORDS_PER_PARTITION); o++) {
                    addRecord(record(tp.partition(), o));
                }
            }
            return super.poll(timeout);
        }

        @Override
        public synchronized ConsumerGroupMetadata groupMetadata() {
            return new ConsumerGroupMetadata(
                    Topics.trainerGroup("unit-run"), generation.get(), "member-a", Optional.empty());
        }

        private static ConsumerRecord<byte[], ByteBuffer> record(int partition, long offset) {
            float[] x = new float[SAMPLES_PER_RECORD * FEATURES];
            long[] labels = new long[SAMPLES_PER_RECORD];
            for (int i = 0; i < SAMPLES_PER_RECORD; i++) {
                labels[i] = (partition + offset + i) % 3;
                for (int f = 0; f < FEATURES; f++) {
                    x[i * FEATURES + f] = (float) Math.sin(offset * 7 + i * 3L + f + partition);
                }
            }
            return new ConsumerRecord<>(
                    TOPIC,
                    partition,
                    offset,
                    null,
                    ByteBuffer.wrap(BatchCodec.encode(x, new long[] {SAMPLES_PER_RECORD, FEATURES}, labels)));
        }
    }

    /** The sync topic: what any node's producer sends comes back, in order and with offsets, through node A's consumer. */
    private static final class SyncTopic {
        private final MockConsumer<byte[], byte[]> reader = new MockConsumer<>("earliest") {
            @Override
            public synchronized ConsumerRecords<byte[], byte[]> poll(Duration timeout) {
                return super.poll(timeout);
            }

            @Override
            public synchronized void addRecord(ConsumerRecord<byte[], byte[]> record) {
                super.addRecord(record);
            }
        };
        private final List<ConsumerRecord<byte[], byte[]>> log = new CopyOnWriteArrayList<>();
        /** While set, node A's reader gets no record from the first contribution on, until {@link #release}. */
        volatile boolean holdContributions;

        private final List<ConsumerRecord<byte[], byte[]>> heldBack = new ArrayList<>();
        final MockProducer<byte[], byte[]> producer =
                new MockProducer<>(true, null, new ByteArraySerializer(), new ByteArraySerializer()) {
                    @Override
                    public synchronized java.util.concurrent.Future<RecordMetadata> send(
                            ProducerRecord<byte[], byte[]> r, Callback callback) {
                        java.util.concurrent.Future<RecordMetadata> sent = super.send(r, callback);
                        ConsumerRecord<byte[], byte[]> c = ReadBack.of(r, log.size(), System.currentTimeMillis());
                        log.add(c);
                        boolean held = holdContributions
                                && (!heldBack.isEmpty()
                                        || !"join".equals(io.streamtrain.core.protocol.CheckpointCodec.typeOf(c)));
                        if (held) {
                            heldBack.add(c);
                        } else if (!reader.assignment().isEmpty()) {
                            reader.addRecord(c);
                        }
                        return sent;
                    }
                };

        /** Node A's reader gets what was held back, and from now on every record as it is sent. */
        void release() {
            synchronized (producer) {
                holdContributions = false;
                heldBack.forEach(reader::addRecord);
                heldBack.clear();
            }
        }

        /** Node A's reader: it gets the log so far, then every record as it is sent. */
        MockConsumer<byte[], byte[]> forNode() {
            return new MockConsumer<>("earliest") {
                private boolean caughtUp;

                @Override
                public synchronized ConsumerRecords<byte[], byte[]> poll(Duration timeout) {
                    catchUp();
                    return reader.poll(timeout);
                }

                private void catchUp() {
                    if (!caughtUp) {
                        caughtUp = true;
                        reader.assign(List.of(new TopicPartition(Topics.sync("unit-run"), 0)));
                        reader.seek(new TopicPartition(Topics.sync("unit-run"), 0), 0);
                        log.forEach(reader::addRecord);
                    }
                }

                @Override
                public void assign(Collection<TopicPartition> partitions) {}

                /** The channel's first seek (to where it starts reading) is the catch-up's; later ones move the reader. */
                @Override
                public synchronized void seek(TopicPartition partition, long offset) {
                    if (caughtUp) {
                        reader.seek(partition, offset);
                    }
                }

                @Override
                public synchronized long position(TopicPartition partition) {
                    catchUp();
                    return reader.position(partition);
                }

                @Override
                public void close(CloseOptions options) {}
            };
        }

        /** The payloads of {@code node}'s contributions that carry one, in log order (their chunks joined). */
        List<SafeTensors.Document> contributions(String node) {
            com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper()
                    .configure(com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);
            Map<String, java.io.ByteArrayOutputStream> chunks = new java.util.HashMap<>();
            List<SafeTensors.Document> out = new ArrayList<>();
            for (ConsumerRecord<byte[], byte[]> r : log) {
                String type = io.streamtrain.core.protocol.CheckpointCodec.typeOf(r);
                String key = new String(r.key(), java.nio.charset.StandardCharsets.UTF_8);
                try {
                    if (io.streamtrain.core.protocol.CheckpointCodec.CHUNK.equals(type)) {
                        chunks.computeIfAbsent(key, k -> new java.io.ByteArrayOutputStream())
                                .write(r.value());
                    } else if ("contribution".equals(type)) {
                        SyncMessage.Contribution c = json.readValue(r.value(), SyncMessage.Contribution.class);
                        if (c.node().equals(node) && c.payload() != null) {
                            out.add(SafeTensors.read(chunks.get(key).toByteArray()));
                        }
                    }
                } catch (Exception e) {
                    throw new AssertionError(e);
                }
            }
            return out;
        }

        List<SyncMessage.Join> joins() {
            List<SyncMessage.Join> out = new ArrayList<>();
            for (ConsumerRecord<byte[], byte[]> r : log) {
                String type = io.streamtrain.core.protocol.CheckpointCodec.typeOf(r);
                if ("join".equals(type)) {
                    try {
                        out.add(new com.fasterxml.jackson.databind.ObjectMapper()
                                .configure(
                                        com.fasterxml.jackson.databind.DeserializationFeature
                                                .FAIL_ON_UNKNOWN_PROPERTIES,
                                        false)
                                .readValue(r.value(), SyncMessage.Join.class));
                    } catch (java.io.IOException e) {
                        throw new AssertionError(e);
                    }
                }
            }
            return out;
        }
    }

    /** The checkpoint topic: records what is published; can be fenced at the first publish, holding it until released. */
    private static final class FakeCheckpoints implements Checkpoints {
        final List<CheckpointManifest> published = new CopyOnWriteArrayList<>();
        /** The payload of each checkpoint in {@link #published}. */
        final List<byte[]> payloads = new CopyOnWriteArrayList<>();

        final AtomicInteger attempts = new AtomicInteger();
        final CountDownLatch firstPublish = new CountDownLatch(1);
        final CountDownLatch release = new CountDownLatch(1);
        volatile boolean fenceFirstPublish;
        /** The first publish waits for {@link #release}, then commits. */
        volatile boolean holdFirstPublish;
        /** The first attempt at each of these epochs fails as a rebalance during the commit does. */
        final Set<Integer> rebalancedOnce = ConcurrentHashMap.newKeySet();

        private volatile boolean open;

        @Override
        public Optional<Checkpoint> latest() {
            return published.stream()
                    .filter(m -> !m.snapshot())
                    .max(java.util.Comparator.comparingInt(CheckpointManifest::epoch))
                    .map(m -> new Checkpoint(m, null));
        }

        @Override
        public Checkpoint find(String checkpointId) throws io.streamtrain.core.checkpoint.CheckpointRejectedException {
            throw new io.streamtrain.core.checkpoint.CheckpointRejectedException(
                    checkpointId, "no checkpoints in this fake");
        }

        @Override
        public void openPublisher() {
            open = true;
        }

        @Override
        public void closePublisher() {
            open = false;
        }

        @Override
        public boolean canPublish() {
            return open;
        }

        @Override
        public CheckpointManifest publish(CheckpointPublisher.EpochResult r, byte[] payload)
                throws RebalancedException {
            assertTrue(open, "published without a publisher");
            attempts.incrementAndGet();
            if ((fenceFirstPublish || holdFirstPublish) && attempts.get() == 1) {
                firstPublish.countDown();
                try {
                    release.await(WAIT.toSeconds(), TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                if (fenceFirstPublish) {
                    throw new ProducerFencedException("a newer owner of partition 0");
                }
            }
            if (!r.snapshot() && rebalancedOnce.remove(r.epoch())) {
                throw new RebalancedException("the group rebalanced while epoch " + r.epoch() + " was committed", null);
            }
            CheckpointManifest m = new CheckpointManifest(
                    CheckpointManifest.VERSION,
                    CheckpointManifest.TYPE,
                    "unit-run",
                    "c" + attempts.get(),
                    r.epoch(),
                    r.round(),
                    r.step(),
                    io.streamtrain.core.spec.RunSpecParser.toJson(r.settings()),
                    r.parameters(),
                    null,
                    r.offsets(),
                    r.metrics(),
                    "node-a",
                    T,
                    r.snapshot() ? CheckpointManifest.SNAPSHOT : CheckpointManifest.EPOCH,
                    r.sync(),
                    r.recordsChecksum(),
                    null);
            published.add(m);
            payloads.add(payload);
            return m;
        }

        @Override
        public void close() {
            open = false;
        }
    }
}
