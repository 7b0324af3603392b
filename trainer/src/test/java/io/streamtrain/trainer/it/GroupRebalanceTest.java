package io.streamtrain.trainer.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.core.topics.Topics;
import io.streamtrain.testkit.KafkaFixture;
import io.streamtrain.testkit.ServiceProcess;
import io.streamtrain.testkit.SyntheticClusters;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.GroupState;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A rebalance of the run's group mid-epoch is a rollback, never a crash — also when the
 * rebalance takes longer than one poll of the feed, so that the consumer's poll returns
 * with the partitions revoked and the new ones not assigned yet. (That is what a broker
 * restart or a slow new member does; {@link BrokerOutageTest} meets it by chance, this
 * test every time.)
 *
 * <p>How the slow rebalance is made: another member of the group, subscribed to a topic of
 * its own so the trainer keeps every train partition, joins first and so leads the group.
 * It then asks for a rebalance and stops polling: the trainer rejoins and waits for the
 * leader's assignment, which comes only when the leader leaves.
 */
@Tag("integration")
class GroupRebalanceTest {
    static final String TOPIC = "rebalance.train";
    static final String OTHER = "rebalance.other";

    @RegisterExtension
    static final KafkaFixture kafka = new KafkaFixture();

    @BeforeAll
    static void broker() throws Exception {
        kafka.createTopic(TOPIC, 2);
        kafka.createTopic(OTHER, 1);
        // 40,000 samples of 64 features (10 MB) at batchSize 4: an epoch much longer than the
        // test, and much more than the feed prefetches, so it is still reading when the group rebalances
        kafka.produce(TOPIC, 2, new SyntheticClusters(64, 3, 0.5, 0.0, 51).records(400, 100, 10));
    }

    @Test
    void aRebalanceThatOutlastsOnePollIsARollbackNotACrash(@TempDir Path dir) throws Exception {
        String run = "rebalance";
        String group = Topics.trainerGroup(run);
        Path spec = Files.writeString(dir.resolve("run.yaml"), """
                run: %s
                data: { train: %s }
                model: { type: mlp, inputs: 64, hidden: [16], classes: 3 }
                batchSize: 4
                maxEpochs: 1
                """.formatted(run, TOPIC));
        Map<String, Object> config = kafka.settings.consumer(group);
        // a member that stops polling must stay in the group while the test needs it
        config.put(ConsumerConfig.MAX_POLL_INTERVAL_MS_CONFIG, 120_000);
        try (KafkaConsumer<byte[], byte[]> leader = new KafkaConsumer<>(config);
                Admin admin = Admin.create(kafka.settings.admin())) {
            leader.subscribe(List.of(OTHER));
            // alone in the group: it joins at once and becomes the leader
            while (leader.assignment().isEmpty()) {
                leader.poll(Duration.ofMillis(100));
            }
            try (ServiceProcess trainer = new ServiceProcess(
                    spec,
                    kafka.broker.bootstrapServers(),
                    "node-r",
                    "--log-every",
                    "50",
                    "--prefetch-bytes",
                    Long.toString(1 << 20))) {
                // the trainer's join needs the leader to rejoin and assign: keep polling until it trains
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
                while (!trainer.output().contains("epoch 1 step")) {
                    assertTrue(
                            trainer.alive() && System.nanoTime() < deadline,
                            "the trainer never started training:\n" + trainer.output());
                    leader.poll(Duration.ofMillis(100));
                }
                assertEquals(
                        List.of(TOPIC + "-0", TOPIC + "-1"),
                        trainerPartitions(admin, group),
                        "the trainer holds every train partition");

                // a rebalance the leader starts and then does not finish: the trainer revokes, rejoins, and waits
                leader.enforceRebalance();
                leader.poll(Duration.ofMillis(50));
                awaitGroupState(admin, group, GroupState.COMPLETING_REBALANCE, trainer);
                // the trainer's feed polls every 10-200 ms; give it many polls without an assignment
                long holdUntil = System.nanoTime() + TimeUnit.SECONDS.toNanos(3);
                while (System.nanoTime() < holdUntil) {
                    assertTrue(
                            trainer.alive() && !trainer.output().contains(" ERROR "),
                            "the trainer failed while its partitions were revoked and not yet reassigned:\n"
                                    + trainer.output());
                    Thread.sleep(100);
                }
                int before = trainer.lineCount();

                // the leader leaves: the trainer gets the partitions back, rolls back, and trains on
                leader.close(CloseOptions.timeout(Duration.ofSeconds(10)));
                trainer.awaitLineAfter(before, l -> l.contains("assigned partitions [0, 1]"), 60);
                int reassigned = trainer.lineCount();
                trainer.awaitLineAfter(reassigned, l -> l.contains("epoch 1 step"), 60);
                trainer.sigterm();
                assertEquals(143, trainer.awaitExit(30), "stopped before its run was done:\n" + trainer.output());
            }
        }
    }

    private static List<String> trainerPartitions(Admin admin, String group) throws Exception {
        return admin
                .describeConsumerGroups(List.of(group))
                .all()
                .get(30, TimeUnit.SECONDS)
                .get(group)
                .members()
                .stream()
                .flatMap(m -> m.assignment().topicPartitions().stream())
                .filter(tp -> tp.topic().equals(TOPIC))
                .map(Object::toString)
                .sorted()
                .toList();
    }

    private static void awaitGroupState(Admin admin, String group, GroupState state, ServiceProcess trainer)
            throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        GroupState now = null;
        while (System.nanoTime() < deadline) {
            now = admin.describeConsumerGroups(List.of(group))
                    .all()
                    .get(30, TimeUnit.SECONDS)
                    .get(group)
                    .groupState();
            if (now == state || !trainer.alive()) {
                break;
            }
            Thread.sleep(50);
        }
        assertTrue(trainer.alive(), "the trainer died during the rebalance (group " + now + "):\n" + trainer.output());
        assertEquals(state, now, "group state");
    }
}
