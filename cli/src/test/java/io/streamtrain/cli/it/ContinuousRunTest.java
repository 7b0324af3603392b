package io.streamtrain.cli.it;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.core.checkpoint.Checkpoint;
import io.streamtrain.core.checkpoint.CheckpointManifest;
import io.streamtrain.core.checkpoint.CheckpointManifest.OffsetRange;
import io.streamtrain.core.checkpoint.RecordsChecksum;
import io.streamtrain.core.control.ControlMessage;
import io.streamtrain.core.evaluation.EvaluationRecord;
import io.streamtrain.core.evaluation.PromotedModel;
import io.streamtrain.core.kafka.KafkaSettings;
import io.streamtrain.core.model.Weights;
import io.streamtrain.core.protocol.Messages;
import io.streamtrain.core.spec.RunSpecParser;
import io.streamtrain.core.topics.Topics;
import io.streamtrain.evaluator.EvaluatorService;
import io.streamtrain.testkit.KafkaFixture;
import io.streamtrain.testkit.Scrape;
import io.streamtrain.testkit.ServiceProcess;
import io.streamtrain.testkit.SyntheticClusters;
import io.streamtrain.trainer.TrainerNode;
import io.streamtrain.trainer.TrainerOptions;
import io.streamtrain.trainer.feed.EpochPlan;
import io.streamtrain.trainer.feed.Windowing;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.config.TopicConfig;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code data.mode: continuous} on a live topic: a producer keeps writing while two nodes
 * train, one of them SIGKILLed and restarted on the way. Every window is a checkpoint whose
 * offsets follow from the first window's alone, and whose records are trained exactly once.
 */
@Tag("integration")
class ContinuousRunTest {
    static final String TOPIC = "live.train";
    static final int PARTITIONS = 2;
    static final int WINDOW = 8; // records: 4 per partition
    static final int WINDOWS = 6;
    static final int SAMPLES = 16; // per record: one step of batchSize 16

    @RegisterExtension
    static final KafkaFixture kafka = new KafkaFixture();

    static String spec(String run) {
        return """
                run: %s
                data: { train: %s, mode: continuous, window: { records: %d } }
                model: { type: mlp, inputs: 16, hidden: [32], classes: 4 }
                init: { seed: 9 }
                batchSize: %d
                maxEpochs: %d
                optimizer: { type: adam, learningRate: 0.003 }
                earlyStopping: { enabled: false }
                sync: { everySteps: 2, minNodes: 2 }
                """.formatted(run, TOPIC, WINDOW, SAMPLES, WINDOWS);
    }

    @Test
    void aLiveTopicIsTrainedWindowByWindowEachRecordOnceAcrossAKillAndARejoin(@TempDir Path dir) throws Exception {
        SyntheticClusters task = new SyntheticClusters(16, 4, 2.0, 0.2, 31);
        kafka.createTopic(TOPIC, PARTITIONS);
        List<byte[]> data = task.records(WINDOW * WINDOWS + 2 * WINDOW, SAMPLES, 3);
        kafka.produce(TOPIC, PARTITIONS, data.subList(0, WINDOW / 2)); // half a window there at the start
        try (LiveProducer producer = new LiveProducer(TOPIC, data, WINDOW / 2)) {
            trainTwoNodesKillingOne("live", spec("live"), dir, b -> {
                // half a window is there: both nodes wait for the rest, and say so
                b.awaitLine(l -> l.contains("window 1 waits for data: 2 more record(s) to close it"), 120);
                // and so does the gauge an operator's alert reads
                Scrape.awaitValue(Scrape.port(b), 1, 10, "streamtrain_trainer_awaiting_data");
                producer.start();
                awaitWindows(2, 120);
            });
        }

        List<Checkpoint> cps = kafka.checkpoints("live");
        assertEquals(
                List.of(1, 2, 3, 4, 5, 6),
                cps.stream().map(c -> c.manifest().epoch()).toList(),
                "one checkpoint per window");
        Map<Integer, Map<Long, byte[]>> topic = records(TOPIC);
        for (Checkpoint c : cps) {
            CheckpointManifest m = c.manifest();
            int w = m.epoch();
            List<OffsetRange> expected = new ArrayList<>();
            for (int p = 0; p < PARTITIONS; p++) {
                long share = WINDOW / PARTITIONS;
                expected.add(new OffsetRange(TOPIC, p, (w - 1) * share, w * share));
            }
            assertEquals(
                    expected,
                    m.offsets(),
                    "window " + w + " is the next " + WINDOW / PARTITIONS + " records of each partition");
            assertEquals(
                    checksum(topic, m.offsets()),
                    m.recordsChecksum(),
                    "window " + w + " trained its records, each once");
            assertEquals((double) WINDOW * SAMPLES, m.metrics().get("samples"), "window " + w + ": every sample once");
        }
    }

    /**
     * {@code data.window.replay}: each window also trains a share of earlier records, drawn
     * from the last {@code replayHorizon} windows. With a producer writing, two nodes, one of
     * them SIGKILLed mid-run and restarted: every window's checkpoint names its own records
     * (the same offsets as without replay) and the ranges it replayed, which are the seeded
     * draw of its plan, within its horizon; its records checksum is the sum over both, each
     * record of either once.
     */
    @Test
    void aReplayingWindowTrainsItsShareOfEarlierRecordsAcrossAKillAndARejoin(@TempDir Path dir) throws Exception {
        String topicName = "replay.train";
        SyntheticClusters task = new SyntheticClusters(16, 4, 2.0, 0.2, 37);
        kafka.createTopic(topicName, PARTITIONS);
        List<byte[]> data = task.records(WINDOW * WINDOWS + 2 * WINDOW, SAMPLES, 7);
        kafka.produce(topicName, PARTITIONS, data.subList(0, WINDOW));
        // replay 0.5: a window trains as many earlier records as its own (4 a partition), from its last 2 windows
        String spec = spec("replay")
                .replace("train: " + TOPIC, "train: " + topicName)
                .replace(
                        "window: { records: " + WINDOW + " }",
                        "window: { records: " + WINDOW + ", replay: 0.5, replayHorizon: 2 }");
        try (LiveProducer producer = new LiveProducer(topicName, data, WINDOW)) {
            producer.start();
            trainTwoNodesKillingOne("replay", spec, dir, b -> awaitCheckpoints("replay", 3, 180));
        }

        List<Checkpoint> cps = kafka.checkpoints("replay");
        assertEquals(
                List.of(1, 2, 3, 4, 5, 6),
                cps.stream().map(c -> c.manifest().epoch()).toList());
        Map<Integer, Map<Long, byte[]>> topic = records(topicName);
        long share = WINDOW / PARTITIONS;
        Windowing windowing = Windowing.of(RunSpecParser.parse(spec));
        for (Checkpoint c : cps) {
            CheckpointManifest m = c.manifest();
            int w = m.epoch();
            Map<Integer, long[]> own = new java.util.TreeMap<>();
            for (int p = 0; p < PARTITIONS; p++) {
                own.put(p, new long[] {(w - 1) * share, w * share});
            }
            EpochPlan plan = new EpochPlan(topicName, own, windowing, w);
            assertEquals(plan.all(), m.offsets(), "window " + w + "'s own records: the next " + share + " of each");
            assertEquals(plan.replays(), m.replayed(), "window " + w + " replays its plan's seeded draw");
            long replayed = 0;
            for (OffsetRange r : m.replayed()) {
                long reach = Math.min(w - 1, 2) * share;
                assertEquals(share, r.count(), "window " + w + ": as many earlier records as its own");
                assertTrue(
                        r.from() >= (w - 1) * share - reach && r.to() <= (w - 1) * share,
                        "window " + w + " replays " + r + ", within its last 2 windows");
                replayed += r.count();
            }
            assertEquals(w == 1 ? 0 : WINDOW, replayed, "window " + w);
            List<OffsetRange> trained = new ArrayList<>(m.offsets());
            trained.addAll(m.replayed());
            assertEquals(
                    checksum(topic, trained),
                    m.recordsChecksum(),
                    "window " + w + " trained its own and its replayed records, each once");
            assertEquals(
                    (double) (WINDOW + replayed) * SAMPLES, m.metrics().get("samples"), "window " + w + "'s samples");
        }
    }

    /**
     * {@code data.window.minutes}: a partition's share of a window ends before its first record
     * stamped at or after the next whole minute after the share's first record. The records
     * carry producer timestamps chosen by the test (three a minute on each partition, a late one,
     * and a five-minute pause in the middle, which must not make empty windows), so the windows
     * do not depend on when the test runs. Two nodes, one partition each, each learning the ends
     * of its own partition; one SIGKILLed mid-run and restarted: every window's checkpoint names
     * the ranges an independent reader of the timestamps computes, and trained each record once.
     */
    @Test
    void aWindowOfMinutesEndsWhereTheRecordTimestampsSayAcrossAKillAndARejoin(@TempDir Path dir) throws Exception {
        String topicName = "minutes.train";
        int perPartition = 20;
        SyntheticClusters task = new SyntheticClusters(16, 4, 2.0, 0.2, 41);
        kafka.createTopic(topicName, PARTITIONS);
        List<byte[]> data = task.records(PARTITIONS * perPartition, SAMPLES, 5);
        long minute = 60_000;
        long t0 = 28_333_334L * minute; // 2023-11-14T22:34Z, a whole minute
        long[][] stamps = new long[PARTITIONS][perPartition];
        for (int p = 0; p < PARTITIONS; p++) {
            for (int i = 0; i < perPartition; i++) {
                // 20 s apart, partition 1 7 s later; five quiet minutes after the 10th record
                stamps[p][i] = t0 + i * 20_000L + p * 7_000L + (i >= 10 ? 5 * minute : 0);
            }
        }
        stamps[1][4] = stamps[1][3] - 30_000; // late: stays in the share it arrives in
        List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
        for (int i = 0; i < perPartition; i++) {
            for (int p = 0; p < PARTITIONS; p++) {
                records.add(new ProducerRecord<>(topicName, p, stamps[p][i], null, data.get(i * PARTITIONS + p)));
            }
        }
        String spec = spec("minutes")
                .replace("train: " + TOPIC, "train: " + topicName)
                .replace("window: { records: " + WINDOW + " }", "window: { minutes: 1 }")
                .replace("maxEpochs: " + WINDOWS, "maxEpochs: 5");
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(kafka.settings.producer())) {
            for (ProducerRecord<byte[], byte[]> r : records.subList(0, 8)) {
                producer.send(r).get();
            }
            Thread writer = new Thread(
                    () -> {
                        try {
                            for (ProducerRecord<byte[], byte[]> r : records.subList(8, records.size())) {
                                sleep(150);
                                producer.send(r).get();
                            }
                        } catch (Exception e) {
                            throw new IllegalStateException("producing to " + topicName + " failed", e);
                        }
                    },
                    "minutes-producer");
            writer.start();
            trainTwoNodesKillingOne("minutes", spec, dir, b -> awaitCheckpoints("minutes", 2, 180));
            writer.join(30_000);
        }

        // what an independent reader of the timestamps expects: share after share, from each partition's first record
        List<List<OffsetRange>> expected = new ArrayList<>();
        long[] from = new long[PARTITIONS];
        for (int w = 1; w <= 5; w++) {
            List<OffsetRange> window = new ArrayList<>();
            for (int p = 0; p < PARTITIONS; p++) {
                long boundary = (stamps[p][(int) from[p]] / minute + 1) * minute;
                int to = (int) from[p] + 1;
                while (stamps[p][to] < boundary) {
                    to++;
                }
                window.add(new OffsetRange(topicName, p, from[p], to));
                from[p] = to;
            }
            expected.add(window);
        }
        assertEquals(
                List.of(0L, 3L, 6L, 9L, 10L, 12L),
                java.util.stream.LongStream.rangeClosed(0, 5)
                        .map(w -> w == 0 ? 0 : expected.get((int) w - 1).get(0).to())
                        .boxed()
                        .toList(),
                "the fixture: partition 0's windows take three records a minute, and the pause makes none empty");
        List<Checkpoint> cps = kafka.checkpoints("minutes");
        assertEquals(
                List.of(1, 2, 3, 4, 5),
                cps.stream().map(c -> c.manifest().epoch()).toList());
        Map<Integer, Map<Long, byte[]>> topic = records(topicName);
        for (Checkpoint c : cps) {
            CheckpointManifest m = c.manifest();
            List<OffsetRange> window = expected.get(m.epoch() - 1);
            assertEquals(window, m.offsets(), "window " + m.epoch() + " ends where the timestamps say");
            assertEquals(checksum(topic, window), m.recordsChecksum(), "window " + m.epoch() + ": each record once");
            long count = window.stream().mapToLong(OffsetRange::count).sum();
            assertEquals((double) count * SAMPLES, m.metrics().get("samples"), "window " + m.epoch() + "'s samples");
        }
    }

    /** Where a test waits before node B is killed. */
    interface KillPoint {
        void reached(ServiceProcess b) throws Exception;
    }

    /**
     * Node A in this JVM, node B in its own (as in production); B is SIGKILLed once {@code
     * killAt} returns, then restarted, and both must finish the run.
     */
    private static void trainTwoNodesKillingOne(String run, String spec, Path dir, KillPoint killAt) throws Exception {
        Path specFile = Files.writeString(dir.resolve(run + ".yaml"), spec);
        TrainerNode a = new TrainerNode(
                RunSpecParser.parse(spec),
                kafka.settings,
                TrainerOptions.defaults(run + "-a").withLogEverySteps(0));
        NodeThread nodeA = NodeThread.start(a, run + "-a");
        try {
            try (ServiceProcess b =
                    new ServiceProcess(specFile, kafka.broker.bootstrapServers(), run + "-b", "--log-every", "0")) {
                killAt.reached(b);
                b.sigkill();
                b.awaitExit(30);
            }
            try (ServiceProcess b =
                    new ServiceProcess(specFile, kafka.broker.bootstrapServers(), run + "-b", "--log-every", "0")) {
                assertEquals(0, b.awaitExit(300), b.output());
            }
            assertEquals(TrainerNode.Outcome.FINISHED, nodeA.await(Duration.ofSeconds(120)));
            assertNull(nodeA.outcome() instanceof Throwable t ? t : null);
        } finally {
            a.close();
        }
    }

    /** Writes the rest of {@code data} once started, one record on each partition every 300 ms, until closed. */
    private static final class LiveProducer implements AutoCloseable {
        private final AtomicBoolean stop = new AtomicBoolean();
        private final Thread thread;

        LiveProducer(String topic, List<byte[]> data, int alreadyWritten) {
            AtomicInteger produced = new AtomicInteger(alreadyWritten);
            this.thread = new Thread(
                    () -> {
                        while (!stop.get() && produced.get() < data.size()) {
                            int from = produced.getAndAdd(PARTITIONS);
                            kafka.produce(topic, PARTITIONS, data.subList(from, from + PARTITIONS));
                            sleep(300);
                        }
                    },
                    topic + "-producer");
        }

        void start() {
            thread.start();
        }

        @Override
        public void close() throws InterruptedException {
            stop.set(true);
            thread.join(10_000);
        }
    }

    /** Every record of {@code topic}: partition -> offset -> value. */
    private static Map<Integer, Map<Long, byte[]>> records(String topic) throws Exception {
        Map<Integer, Map<Long, byte[]>> out = new HashMap<>();
        for (ConsumerRecord<byte[], byte[]> r : kafka.readAll(topic)) {
            out.computeIfAbsent(r.partition(), p -> new HashMap<>()).put(r.offset(), r.value());
        }
        return out;
    }

    /** The records checksum of {@code ranges} as an independent reader computes it from the topic. */
    private static String checksum(Map<Integer, Map<Long, byte[]>> topic, List<OffsetRange> ranges) {
        long sum = 0;
        for (OffsetRange r : ranges) {
            for (long o = r.from(); o < r.to(); o++) {
                sum += RecordsChecksum.of(topic.get(r.partition()).get(o));
            }
        }
        return RecordsChecksum.format(sum);
    }

    private static void awaitCheckpoints(String run, int n, int seconds) throws Exception {
        long deadline = System.nanoTime() + seconds * 1_000_000_000L;
        while (kafka.checkpoints(run).size() < n) {
            assertTrue(
                    System.nanoTime() < deadline, "not " + n + " checkpoints of " + run + " within " + seconds + " s");
            Thread.sleep(200);
        }
    }

    /**
     * With two nodes, a partition nobody writes to holds the round of the node whose own share
     * is done: in a continuous run that round waits as long as it takes, past the give-up a
     * bounded run's round has (--broker-wait, 2 s here), and the run goes on once the records
     * come, each window trained once.
     */
    @Test
    void aRoundWaitsForAnIdlePartitionAsLongAsItTakes(@TempDir Path dir) throws Exception {
        SyntheticClusters task = new SyntheticClusters(16, 4, 2.0, 0.2, 51);
        kafka.createTopic("idle.train", PARTITIONS);
        List<byte[]> data = task.records(2 * WINDOW, SAMPLES, 5);
        // window 1: partition 0 gets its whole share, partition 1 half of it
        send("idle.train", 0, data.subList(0, 4));
        send("idle.train", 1, data.subList(4, 6));
        String spec = """
                run: idle
                data: { train: idle.train, mode: continuous, window: { records: %d } }
                model: { type: mlp, inputs: 16, hidden: [32], classes: 4 }
                batchSize: %d
                maxEpochs: 2
                earlyStopping: { enabled: false }
                sync: { everySteps: 2, minNodes: 2, timeoutSeconds: 1 }
                """.formatted(WINDOW, SAMPLES);
        // one node in this JVM, one in its own (as in production: PyTorch's gradient collector is one per process)
        TrainerNode a = new TrainerNode(
                RunSpecParser.parse(spec),
                kafka.settings,
                TrainerOptions.defaults("idle-a").withLogEverySteps(0).withBrokerWait(Duration.ofSeconds(2)));
        NodeThread nodeA = NodeThread.start(a, "idle-a");
        Path specFile = Files.writeString(dir.resolve("idle.yaml"), spec);
        try (ServiceProcess b = new ServiceProcess(
                specFile, kafka.broker.bootstrapServers(), "idle-b", "--log-every", "0", "--broker-wait", "2")) {
            b.awaitLine(l -> l.contains("continuing from round"), 120);
            Thread.sleep(12_000); // round 1 closes, then the round of partition 1's last records waits: far past 2 s
            assertTrue(
                    nodeA.alive() && b.alive(),
                    "a node gave up its round while partition 1 had no records: " + nodeA.outcome() + "\n"
                            + b.output());
            assertEquals(List.of(), kafka.checkpoints("idle"), "window 1 is not complete");
            send("idle.train", 1, data.subList(6, 8));
            send("idle.train", 0, data.subList(8, 12));
            send("idle.train", 1, data.subList(12, 16));
            assertEquals(TrainerNode.Outcome.FINISHED, nodeA.await(Duration.ofSeconds(120)));
            assertEquals(0, b.awaitExit(120), b.output());
        } finally {
            a.close();
        }
        assertEquals(
                List.of(1, 2),
                kafka.checkpoints("idle").stream()
                        .map(c -> c.manifest().epoch())
                        .toList());
        for (Checkpoint c : kafka.checkpoints("idle")) {
            assertEquals(
                    (double) WINDOW * SAMPLES,
                    c.manifest().metrics().get("samples"),
                    "window " + c.manifest().epoch());
        }
    }

    private static void send(String topic, int partition, List<byte[]> values) throws Exception {
        try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(kafka.settings.producer())) {
            for (byte[] v : values) {
                p.send(new ProducerRecord<>(topic, partition, null, v)).get();
            }
        }
    }

    /**
     * The evaluator scores every window of a live run on a fixed holdout and promotes the
     * windows that beat the promoted model, instead of stopping the run. A stretch of
     * poisoned labels (random) makes the model worse on the holdout: none of its windows is
     * promoted, the run is marked degrading, the evaluator pauses the trainers once
     * ({@code evaluation.onDegrade: pause}) until an operator resumes them, and the promoted
     * model stays the last clean one. {@code export --promoted} writes that model.
     */
    @Test
    void theEvaluatorPromotesBetterWindowsAndNotAPoisonedStretch(@TempDir Path dir) throws Exception {
        int windows = 10;
        DegradingRun run = DegradingRun.start("promote", windows, "pause");
        NodeThread trainer = run.trainer();
        try {
            // the first degrading window (the second poisoned one: patience 2) pauses the trainer, at most maxLag 2
            // windows later
            ControlMessage.Pause pause = awaitPauseAcknowledged("promote", 180);
            Thread.sleep(5_000);
            int trained = kafka.checkpoints("promote").size();
            assertTrue(
                    trainer.alive() && trained < windows,
                    "paused, not finished: " + trained + " windows, " + trainer.outcome());
            Thread.sleep(3_000);
            assertEquals(trained, kafka.checkpoints("promote").size(), "no window is trained while paused");
            String[] resume = CtlTest.streamtrain(
                    "ctl", "resume", "--run", "promote", "--bootstrap-servers", kafka.broker.bootstrapServers());
            assertEquals("0", resume[0], resume[1]);
            assertEquals(
                    TrainerNode.Outcome.FINISHED,
                    trainer.await(Duration.ofSeconds(180)),
                    "a live run is not stopped: it ends at" + " maxEpochs");
            awaitEvaluations("promote", windows, 120);
            assertEquals("evaluator", pause.source());
        } finally {
            run.close();
        }

        List<EvaluationRecord> evaluations = evaluations("promote");
        assertEquals(
                List.of(1, 2, 3, 4, 5, 6, 7, 8, 9, 10),
                evaluations.stream().map(EvaluationRecord::epoch).toList(),
                "every window scored once");
        List<String> decisions =
                evaluations.stream().map(EvaluationRecord::decision).toList();
        assertTrue(decisions.stream().noneMatch(EvaluationRecord.STOP::equals), decisions.toString());
        assertEquals(EvaluationRecord.PROMOTE, decisions.get(0), "the first window is the first model: " + decisions);
        for (EvaluationRecord e : evaluations.subList(4, 10)) {
            assertTrue(
                    !EvaluationRecord.PROMOTE.equals(e.decision()),
                    "poisoned window " + e.epoch() + " promoted: " + evaluations);
        }
        assertEquals(
                List.of(EvaluationRecord.DEGRADING),
                decisions.subList(6, 10).stream().distinct().toList(),
                "poisoned windows exhaust patience 2 and stay degrading: " + evaluations);
        assertEquals(
                1,
                controlMessages("promote").stream()
                        .filter(m -> m instanceof ControlMessage.Pause)
                        .count(),
                "one PAUSE: not repeated while the run stays degrading");
        double cleanBest = evaluations.subList(0, 4).stream()
                .mapToDouble(e -> e.metrics().get("val_loss"))
                .min()
                .orElseThrow();
        double poisonedBest = evaluations.subList(4, 10).stream()
                .mapToDouble(e -> e.metrics().get("val_loss"))
                .min()
                .orElseThrow();
        assertTrue(poisonedBest > cleanBest, "the poisoned windows are worse on the holdout: " + evaluations);

        List<PromotedModel> models = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> r : kafka.readAll(Topics.models("promote"))) {
            models.add(Messages.decodePromoted(r.value()).orElseThrow());
        }
        List<EvaluationRecord> promotions = evaluations.stream()
                .filter(e -> EvaluationRecord.PROMOTE.equals(e.decision()))
                .toList();
        assertEquals(
                promotions.stream().map(EvaluationRecord::checkpointId).toList(),
                models.stream().map(PromotedModel::checkpointId).toList(),
                "one model record per promotion, in order");
        PromotedModel current = models.get(models.size() - 1);
        // a promoted model record names its checkpoint by id only: it is served from the checkpoint topic, which must
        // keep every window's checkpoint, while the models topic keeps the latest record of the run
        try (Admin admin = Admin.create(kafka.settings.admin())) {
            ConfigResource modelsTopic = new ConfigResource(ConfigResource.Type.TOPIC, Topics.models("promote"));
            ConfigResource checkpointTopic =
                    new ConfigResource(ConfigResource.Type.TOPIC, Topics.checkpoints("promote"));
            Map<ConfigResource, Config> configs = admin.describeConfigs(List.of(modelsTopic, checkpointTopic))
                    .all()
                    .get(30, TimeUnit.SECONDS);
            assertEquals(
                    TopicConfig.CLEANUP_POLICY_COMPACT,
                    configs.get(modelsTopic)
                            .get(TopicConfig.CLEANUP_POLICY_CONFIG)
                            .value(),
                    Topics.models("promote") + " is compacted");
            assertEquals(
                    "-1",
                    configs.get(checkpointTopic)
                            .get(TopicConfig.RETENTION_MS_CONFIG)
                            .value(),
                    Topics.checkpoints("promote") + " keeps every checkpoint");
        }
        assertTrue(current.epoch() <= 4, "the promoted model is a clean window's: " + current);
        assertEquals(
                current.checkpointId(),
                evaluations.get(9).best().checkpointId(),
                "the run's best is its promoted model");

        String[] status = CtlTest.streamtrain(
                "ctl", "status", "--run", "promote", "--bootstrap-servers", kafka.broker.bootstrapServers());
        assertEquals("0", status[0], status[1]);
        assertTrue(
                status[1].contains("promoted model: window " + current.epoch() + ", checkpoint "
                                + current.checkpointId() + " (val_loss ")
                        && status[1].contains(models.size() + " promotion(s) kept on streamtrain.promote.models"),
                status[1]);
        assertTrue(
                java.util.regex.Pattern.compile(
                                "degrading since window [56] \\(patience-exhausted\\): the promoted model stays")
                        .matcher(status[1])
                        .find(),
                status[1]);

        Path out = dir.resolve("promoted.safetensors");
        String[] export = CtlTest.streamtrain(
                "export",
                "--run",
                "promote",
                "--promoted",
                "-o",
                out.toString(),
                "--bootstrap-servers",
                kafka.broker.bootstrapServers());
        assertEquals("0", export[0], export[1]);
        assertTrue(
                export[1].contains("exported checkpoint " + current.checkpointId()
                        + " of run promote (promoted: window " + current.epoch()),
                export[1]);
        assertTrue(Files.size(out) > 0);

        // init.from: run:promote@promoted starts a run from the promoted window's weights. The new run keeps the
        // weights it started from as its L2-SP anchors, so its checkpoint shows which ones it resolved; the promoted
        // window is a clean one and the latest a poisoned one, so run:promote (the latest) would not pass
        List<Checkpoint> cps = kafka.checkpoints("promote");
        Checkpoint promoted = cps.stream()
                .filter(c -> c.manifest().checkpointId().equals(current.checkpointId()))
                .findFirst()
                .orElseThrow();
        String first = promoted.manifest().parameters().get(0).name();
        assertFalse(
                java.util.Arrays.equals(
                        promoted.payload().tensor(first).toFloats(),
                        cps.get(cps.size() - 1).payload().tensor(first).toFloats()),
                "the promoted window's weights are not the latest window's");
        TrainerNode fromPromoted = new TrainerNode(
                RunSpecParser.parse("""
                run: from-promoted
                data: { train: promote.validation }
                model: { type: mlp, inputs: 16, hidden: [32], classes: 4 }
                init: { from: "run:promote@promoted" }
                batchSize: 32
                maxEpochs: 1
                regularization: { l2sp: 0.01 }
                earlyStopping: { enabled: false }
                """),
                kafka.settings,
                TrainerOptions.defaults("from-promoted-node").withLogEverySteps(0));
        try {
            assertEquals(TrainerNode.Outcome.FINISHED, fromPromoted.run());
        } finally {
            fromPromoted.close();
        }
        Checkpoint started = kafka.checkpoints("from-promoted").get(0);
        for (CheckpointManifest.ParameterInfo p : promoted.manifest().parameters()) {
            assertArrayEquals(
                    promoted.payload().tensor(p.name()).toFloats(),
                    started.payload().tensor(Weights.ANCHOR_PREFIX + p.name()).toFloats(),
                    "run:promote@promoted is window " + current.epoch() + "'s " + p.name());
        }
    }

    /**
     * {@code evaluation.onDegrade: rollback}: at the first degrading window the evaluator writes
     * a ROLLBACK to the promoted model, the trainer hands that checkpoint's state in at its next
     * round and acknowledges it, and the window that round ends holds exactly the promoted
     * weights — level with the promoted model, so the decline ends there — then training goes
     * on from them. Poisoned windows after it may degrade the run again: a ROLLBACK goes out at
     * the first degrading window of each stretch, never twice in one.
     */
    @Test
    void onDegradeRollbackReturnsTheTrainersToThePromotedWeights() throws Exception {
        int windows = 12;
        try (DegradingRun run = DegradingRun.start("rollback", windows, "rollback")) {
            assertEquals(TrainerNode.Outcome.FINISHED, run.trainer().await(Duration.ofSeconds(240)));
            awaitEvaluations("rollback", windows, 120);
        }
        List<ControlMessage> control = controlMessages("rollback");
        List<ControlMessage.Rollback> rollbacks = control.stream()
                .filter(m -> m instanceof ControlMessage.Rollback)
                .map(m -> (ControlMessage.Rollback) m)
                .toList();
        List<EvaluationRecord> evaluations = evaluations("rollback");
        long stretches = java.util.stream.IntStream.range(0, evaluations.size())
                .filter(i ->
                        EvaluationRecord.DEGRADING.equals(evaluations.get(i).decision())
                                && (i == 0
                                        || !EvaluationRecord.DEGRADING.equals(
                                                evaluations.get(i - 1).decision())))
                .count();
        assertTrue(
                stretches >= 1 && rollbacks.size() == stretches,
                "one ROLLBACK per degrading stretch, at its first window: " + control + "; " + evaluations);
        assertEquals(
                1,
                rollbacks.stream()
                        .map(ControlMessage.Rollback::checkpointId)
                        .distinct()
                        .count(),
                "every ROLLBACK returns to the same promoted model: " + rollbacks);
        ControlMessage.Rollback rollback = rollbacks.get(0);
        assertEquals("evaluator", rollback.source());
        ControlMessage.Ack ack = control.stream()
                .filter(m -> m instanceof ControlMessage.Ack a && a.command().equals(rollback.id()))
                .map(m -> (ControlMessage.Ack) m)
                .findFirst()
                .orElseThrow(() -> new AssertionError("not acknowledged: " + control));
        assertEquals(ControlMessage.Ack.APPLIED, ack.outcome());

        Map<Integer, Checkpoint> byWindow = new HashMap<>();
        for (Checkpoint c : kafka.checkpoints("rollback")) {
            byWindow.put(c.manifest().epoch(), c);
        }
        Checkpoint target = byWindow.values().stream()
                .filter(c -> c.manifest().checkpointId().equals(rollback.checkpointId()))
                .findFirst()
                .orElseThrow();
        assertTrue(
                target.manifest().epoch() <= 4,
                "the promoted model is a clean window's: " + target.manifest().checkpointId());
        Checkpoint returned = byWindow.values().stream()
                .filter(c -> c.manifest().step() == ack.step())
                .findFirst()
                .orElseThrow(() -> new AssertionError(
                        "no window ends at step " + ack.step() + ", where the ROLLBACK was carried out"));
        assertTrue(returned.manifest().epoch() > target.manifest().epoch());
        EvaluationRecord level = evaluations.stream()
                .filter(e -> e.epoch() == returned.manifest().epoch())
                .findFirst()
                .orElseThrow();
        assertEquals(
                EvaluationRecord.CONTINUE,
                level.decision(),
                "the window holding the promoted weights is level with them: no decline there: " + level);
        for (CheckpointManifest.ParameterInfo p : target.manifest().parameters()) {
            assertTrue(
                    java.util.Arrays.equals(
                            target.payload().tensor(p.name()).toFloats(),
                            returned.payload().tensor(p.name()).toFloats()),
                    "window " + returned.manifest().epoch() + " holds window "
                            + target.manifest().epoch() + "'s " + p.name());
        }
        Checkpoint after = byWindow.get(returned.manifest().epoch() + 1);
        assertTrue(
                after != null
                        && !java.util.Arrays.equals(
                                after.payload()
                                        .tensor(target.manifest()
                                                .parameters()
                                                .get(0)
                                                .name())
                                        .toFloats(),
                                target.payload()
                                        .tensor(target.manifest()
                                                .parameters()
                                                .get(0)
                                                .name())
                                        .toFloats()),
                "training goes on from there");
    }

    /**
     * Drift: the data's rule changes after window 4 (new class centres), in the train topic and,
     * once window 4 is evaluated, in the live validation topic. With
     * {@code evaluation.slidingValidation} each window is scored on the validation topic's latest
     * records and the promoted model again on the same records: the promoted model follows the
     * new rule — a window trained on it is promoted because it beats the old model on today's
     * data, which the old model's value from before the drift would not show.
     */
    @Test
    void onASlidingValidationSetThePromotedModelFollowsADrift() throws Exception {
        SyntheticClusters before = new SyntheticClusters(16, 4, 1.0, 0.0, 41);
        SyntheticClusters after =
                new SyntheticClusters(16, 4, 1.0, 0.0, 77); // the same classes, elsewhere: a new labelling rule
        int windows = 12;
        kafka.createTopic("drift.train", PARTITIONS);
        kafka.createTopic("drift.validation", 1);
        kafka.produce("drift.validation", 1, before.records(4, 32, 100));
        List<byte[]> data = new ArrayList<>(before.records(4 * WINDOW, SAMPLES, 1)); // windows 1-4
        data.addAll(after.records((windows - 4) * WINDOW, SAMPLES, 2)); // windows 5-12
        kafka.produce("drift.train", PARTITIONS, data);
        TrainerNode node = new TrainerNode(
                RunSpecParser.parse("""
                run: drift
                data: { train: drift.train, validation: drift.validation, mode: continuous, window: { records: %d } }
                model: { type: mlp, inputs: 16, hidden: [32], classes: 4 }
                init: { seed: 3 }
                batchSize: %d
                maxEpochs: %d
                optimizer: { type: adam, learningRate: 0.01 }
                earlyStopping: { patience: 3, minDelta: 0.001 }
                evaluation: { slidingValidation: 4 }
                """.formatted(WINDOW, SAMPLES, windows)),
                kafka.settings,
                TrainerOptions.defaults("drift-node").withLogEverySteps(0));
        NodeThread trainer = NodeThread.start(node, "drift-trainer");
        EvaluatorService evaluator =
                new EvaluatorService(KafkaSettings.of(kafka.broker.bootstrapServers()), List.of("drift"), "drift-ev");
        Thread ev = new Thread(evaluator::run, "drift-evaluator");
        ev.start();
        java.time.Instant drifting;
        java.time.Instant drifted;
        try {
            awaitEvaluations("drift", 4, 120);
            drifting = java.time.Instant.now();
            kafka.produce(
                    "drift.validation",
                    1,
                    after.records(4, 32, 101)); // the validation data drifts too: its latest 4 records
            drifted = java.time.Instant.now();
            assertEquals(TrainerNode.Outcome.FINISHED, trainer.await(Duration.ofSeconds(240)));
            awaitEvaluations("drift", windows, 120);
        } finally {
            evaluator.close();
            ev.join(30_000);
        }
        List<EvaluationRecord> evaluations = evaluations("drift");
        assertEquals(EvaluationRecord.PROMOTE, evaluations.get(0).decision());
        List<EvaluationRecord> followed = evaluations.stream()
                .filter(e -> e.epoch() > 4 && EvaluationRecord.PROMOTE.equals(e.decision()))
                .toList();
        assertTrue(!followed.isEmpty(), "a window trained on the new rule is promoted: " + evaluations);
        EvaluationRecord first = followed.get(0);
        assertTrue(first.epoch() <= 9, "within five windows of the drift: " + evaluations);
        Double oldModelNow = first.metrics().get("promoted_val_loss");
        assertTrue(
                oldModelNow != null && first.metrics().get("val_loss") < oldModelNow,
                "it beats the old model on the same records: " + first.metrics());
        assertTrue(
                first.validation().startOffsets().equals(Map.of(0, 4L))
                        && first.validation().endOffsets().equals(Map.of(0, 8L)),
                "scored on the latest 4 validation records, the new rule's: " + first.validation());
        // each window is scored on the validation records as of its end (its checkpoint's time), however late it is
        // evaluated: a window published before the drifted records were written never sees them
        Map<String, java.time.Instant> published = new HashMap<>();
        for (Checkpoint c : kafka.checkpoints("drift")) {
            published.put(
                    c.manifest().checkpointId(),
                    java.time.Instant.parse(c.manifest().time()));
        }
        for (EvaluationRecord e : evaluations) {
            java.time.Instant end = published.get(e.checkpointId());
            if (end.isBefore(drifting)) {
                assertEquals(Map.of(0, 4L), e.validation().endOffsets(), "window " + e.epoch() + ": " + evaluations);
            } else if (end.isAfter(drifted)) {
                assertEquals(Map.of(0, 8L), e.validation().endOffsets(), "window " + e.epoch() + ": " + evaluations);
            }
        }
    }

    /**
     * A restarted evaluator of a run with a sliding validation set reads the promoted model back
     * from the checkpoint topic (it is not in memory any more) and goes on comparing windows
     * with it on the same records.
     */
    @Test
    void aRestartedEvaluatorScoresThePromotedModelAgainOnASlidingSet() throws Exception {
        SyntheticClusters task = new SyntheticClusters(16, 4, 1.0, 0.0, 43);
        int windows =
                12; // the first evaluator stops after 2 (and what it is scoring then): the second has windows left
        kafka.createTopic("slide.train", PARTITIONS);
        kafka.createTopic("slide.validation", 1);
        kafka.produce("slide.validation", 1, task.records(8, 32, 100));
        kafka.produce("slide.train", PARTITIONS, task.records(windows * WINDOW, SAMPLES, 1));
        TrainerNode node = new TrainerNode(
                RunSpecParser.parse("""
                run: slide
                data: { train: slide.train, validation: slide.validation, mode: continuous, window: { records: %d } }
                model: { type: mlp, inputs: 16, hidden: [32], classes: 4 }
                init: { seed: 3 }
                batchSize: %d
                maxEpochs: %d
                optimizer: { type: adam, learningRate: 0.01 }
                evaluation: { slidingValidation: 4 }
                """.formatted(WINDOW, SAMPLES, windows)),
                kafka.settings,
                TrainerOptions.defaults("slide-node").withLogEverySteps(0));
        NodeThread trainer = NodeThread.start(node, "slide-trainer");
        int beforeRestart = 0;
        for (String instance : List.of("slide-ev-1", "slide-ev-2")) {
            if (instance.endsWith("2")) {
                beforeRestart = evaluations("slide").size();
            }
            EvaluatorService evaluator =
                    new EvaluatorService(KafkaSettings.of(kafka.broker.bootstrapServers()), List.of("slide"), instance);
            Thread ev = new Thread(evaluator::run, instance);
            ev.start();
            try {
                awaitEvaluations(
                        "slide",
                        instance.endsWith("1") ? 2 : windows,
                        180); // the first stops after window 2: a restart
            } finally {
                evaluator.close();
                ev.join(30_000);
            }
        }
        assertEquals(TrainerNode.Outcome.FINISHED, trainer.await(Duration.ofSeconds(120)));
        List<EvaluationRecord> evaluations = evaluations("slide");
        assertEquals(
                windows,
                evaluations.stream().map(EvaluationRecord::epoch).distinct().count(),
                evaluations.toString());
        assertTrue(beforeRestart >= 2 && beforeRestart < windows, "the restart came mid-run: " + beforeRestart);
        EvaluationRecord afterRestart = evaluations.get(beforeRestart);
        assertTrue(
                afterRestart.metrics().containsKey("promoted_val_loss"),
                "window " + afterRestart.epoch() + ", the restarted"
                        + " evaluator's first, is compared with the promoted model it read back: "
                        + afterRestart.metrics());
    }

    /**
     * A continuous run of one node with the evaluator: clean windows 1-4, then windows whose
     * every label is random up to {@code windows}; patience 2, so the second poisoned window is
     * the first degrading one.
     */
    private record DegradingRun(NodeThread trainer, EvaluatorService evaluator, Thread thread)
            implements AutoCloseable {
        static DegradingRun start(String run, int windows, String onDegrade) throws Exception {
            SyntheticClusters clean = new SyntheticClusters(16, 4, 1.0, 0.0, 41);
            SyntheticClusters poisoned =
                    new SyntheticClusters(16, 4, 1.0, 1.0, 41); // the same clusters, every label random
            kafka.createTopic(run + ".train", PARTITIONS);
            kafka.createTopic(run + ".validation", 1);
            kafka.produce(run + ".validation", 1, clean.records(8, 32, 100));
            List<byte[]> data = new ArrayList<>(clean.records(4 * WINDOW, SAMPLES, 1)); // windows 1-4
            data.addAll(poisoned.records((windows - 4) * WINDOW, SAMPLES, 2));
            kafka.produce(run + ".train", PARTITIONS, data);
            TrainerNode node = new TrainerNode(
                    RunSpecParser.parse("""
                    run: %s
                    data: { train: %s.train, validation: %s.validation, mode: continuous, window: { records: %d } }
                    model: { type: mlp, inputs: 16, hidden: [32], classes: 4 }
                    init: { seed: 3 }
                    batchSize: %d
                    maxEpochs: %d
                    optimizer: { type: adam, learningRate: 0.01 }
                    earlyStopping: { patience: 2, minDelta: 0.001 }
                    evaluation: { onDegrade: %s }
                    """.formatted(run, run, run, WINDOW, SAMPLES, windows, onDegrade)),
                    kafka.settings,
                    TrainerOptions.defaults(run + "-node").withLogEverySteps(0));
            NodeThread trainer = NodeThread.start(node, run + "-trainer");
            EvaluatorService evaluator =
                    new EvaluatorService(KafkaSettings.of(kafka.broker.bootstrapServers()), List.of(run), run + "-ev");
            Thread thread = new Thread(evaluator::run, run + "-evaluator");
            thread.start();
            return new DegradingRun(trainer, evaluator, thread);
        }

        @Override
        public void close() throws InterruptedException {
            evaluator.close();
            thread.join(30_000);
        }
    }

    static List<EvaluationRecord> evaluations(String run) throws Exception {
        List<EvaluationRecord> out = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> r : kafka.readAll(Topics.evaluations(run))) {
            Messages.decodeEvaluation(r.value()).ifPresent(out::add);
        }
        return out;
    }

    static List<ControlMessage> controlMessages(String run) throws Exception {
        List<ControlMessage> out = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> r : kafka.readAll(Topics.control(run))) {
            Messages.decodeControl(r.value()).ifPresent(out::add);
        }
        return out;
    }

    /** The evaluator's PAUSE, once a trainer acknowledged it as applied. */
    private static ControlMessage.Pause awaitPauseAcknowledged(String run, int seconds) throws Exception {
        long deadline = System.nanoTime() + seconds * 1_000_000_000L;
        while (true) {
            List<ControlMessage> messages = controlMessages(run);
            for (ControlMessage m : messages) {
                if (m instanceof ControlMessage.Pause p
                        && messages.stream()
                                .anyMatch(a -> a instanceof ControlMessage.Ack ack
                                        && ack.command().equals(p.id())
                                        && ack.outcome().equals(ControlMessage.Ack.APPLIED))) {
                    return p;
                }
            }
            assertTrue(
                    System.nanoTime() < deadline,
                    "no acknowledged PAUSE within " + seconds + " s: " + messages + "; evaluations "
                            + evaluations(run));
            Thread.sleep(200);
        }
    }

    private static void awaitEvaluations(String run, int n, int seconds) throws Exception {
        long deadline = System.nanoTime() + seconds * 1_000_000_000L;
        while (evaluations(run).size() < n) {
            assertTrue(
                    System.nanoTime() < deadline,
                    "not " + n + " evaluations within " + seconds + " s: " + evaluations(run));
            Thread.sleep(200);
        }
    }

    private static void awaitWindows(int n, int seconds) throws Exception {
        awaitCheckpoints("live", n, seconds);
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
