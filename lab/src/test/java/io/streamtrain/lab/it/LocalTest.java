package io.streamtrain.lab.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.testkit.KafkaFixture;
import io.streamtrain.testkit.ServiceProcess;
import io.streamtrain.testkit.SyntheticClusters;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code streamtrain local}: a user's spec, on an embedded broker loaded from a file or on a cluster's topics. */
@Tag("integration")
class LocalTest {
    static String spec(String run, String train, String validation) {
        return spec(run, train, validation, 2);
    }

    static String spec(String run, String train, String validation, int minNodes) {
        return """
                run: %s
                data: { train: %s, validation: %s }
                model: { type: mlp, inputs: 4, hidden: [16], classes: 3 }
                batchSize: 16
                maxEpochs: 3
                optimizer: { type: adam, learningRate: 0.01 }
                sync: { minNodes: %d }
                """.formatted(run, train, validation, minNodes);
    }

    @Test
    void trainsAUsersSpecOnAnEmbeddedBrokerLoadedFromACsvFile(@TempDir Path dir) throws Exception {
        StringBuilder csv = new StringBuilder("a,b,c,d,y\n");
        Random random = new Random(5);
        for (int i = 0; i < 600; i++) {
            int y = i % 3;
            csv.append(String.format(
                    java.util.Locale.ROOT,
                    "%.3f,%.3f,%.3f,%.3f,%d%n",
                    y + random.nextGaussian() * 0.5,
                    -y + random.nextGaussian() * 0.5,
                    random.nextGaussian(),
                    random.nextGaussian(),
                    y));
        }
        Path data = Files.writeString(dir.resolve("data.csv"), csv);
        Path spec = Files.writeString(dir.resolve("run.yaml"), spec("local-csv", "local.train", "local.validation"));
        String[] local = LabCommandLine.streamtrain(
                "local",
                "--spec",
                spec.toString(),
                "--ingest",
                "csv " + data + " --label y --validation-fraction 0.2 --partitions 2",
                "--report-dir",
                dir.resolve("runs").toString());
        assertEquals("0", local[0], local[1]);
        assertTrue(
                local[1].contains("run local-csv, 2 trainer nodes and the evaluator on local.train (2 partitions)"),
                local[1]);
        assertTrue(local[1].contains("run local-csv finished after 3 epochs"), local[1]);
        for (String f : new String[] {"report.html", "evaluations.csv", "spec.yaml", "best.safetensors"}) {
            assertTrue(Files.size(dir.resolve("runs").resolve("local-csv").resolve(f)) > 0, f + ":\n" + local[1]);
        }
    }

    @Test
    void trainsOnAClustersTopics(@TempDir Path dir) throws Exception {
        try (KafkaFixture kafka = KafkaFixture.started()) {
            SyntheticClusters task = new SyntheticClusters(4, 3, 0.8, 0.0, 9);
            kafka.createTopic("cluster.train", 2);
            kafka.produce("cluster.train", 2, task.records(40, 16, 1));
            kafka.createTopic("cluster.validation", 1);
            kafka.produce("cluster.validation", 1, task.records(5, 16, 2));
            Path spec = Files.writeString(
                    dir.resolve("run.yaml"), spec("local-cluster", "cluster.train", "cluster.validation", 1));
            String[] local = LabCommandLine.streamtrain(
                    "local",
                    "--spec",
                    spec.toString(),
                    "--bootstrap-servers",
                    kafka.broker.bootstrapServers(),
                    "--nodes",
                    "1",
                    "--report-dir",
                    dir.resolve("runs").toString());
            assertEquals("0", local[0], local[1]);
            assertTrue(local[1].contains("run local-cluster finished after 3 epochs"), local[1]);
        }
    }

    /**
     * With an operator's signing variables exported (as someone who steers a signed cluster
     * has them), local still trains on its private embedded broker, saying it ignores them;
     * on a cluster it refuses at once, since one environment would sign for every role.
     */
    @Test
    void signingVariablesAreIgnoredOnTheEmbeddedBrokerAndRefusedOnACluster(@TempDir Path dir) throws Exception {
        assertEquals(
                "0",
                LabCommandLine.streamtrain(
                        "keys",
                        "new",
                        "alice",
                        "--may",
                        "operator",
                        "--dir",
                        dir.resolve("keys").toString())[0]);
        java.util.Map<String, String> env = java.util.Map.of(
                "STREAMTRAIN_SIGNING_KEY",
                dir.resolve("keys").resolve("alice.key").toString(),
                "STREAMTRAIN_TRUSTED_KEYS",
                dir.resolve("keys").resolve("trusted-keys").toString());
        StringBuilder csv = new StringBuilder("a,b,c,d,y\n");
        for (int i = 0; i < 120; i++) {
            csv.append(String.format(java.util.Locale.ROOT, "%d,%d,0,0,%d%n", i % 3, -(i % 3), i % 3));
        }
        Path data = Files.writeString(dir.resolve("data.csv"), csv);
        Path spec = Files.writeString(
                dir.resolve("run.yaml"), spec("local-signed", "signed.train", "signed.validation", 1));
        try (ServiceProcess local = new ServiceProcess(
                "io.streamtrain.lab.StreamtrainLab",
                java.util.List.of(
                        "local",
                        "--spec",
                        spec.toString(),
                        "--nodes",
                        "1",
                        "--ingest",
                        "csv " + data + " --label y --validation-fraction 0.2",
                        "--report-dir",
                        dir.resolve("runs").toString()),
                env)) {
            assertEquals(0, local.awaitExit(240), local.output());
            assertTrue(local.output().contains("neither sign nor check signatures"), local.output());
            assertTrue(local.output().contains("run local-signed finished after 3 epochs"), local.output());
        }
        try (ServiceProcess cluster = new ServiceProcess(
                "io.streamtrain.lab.StreamtrainLab",
                java.util.List.of(
                        "local", "--spec", spec.toString(), "--nodes", "1", "--bootstrap-servers", "127.0.0.1:9"),
                env)) {
            assertEquals(2, cluster.awaitExit(60), cluster.output());
            assertTrue(cluster.output().contains("one key would sign for every role"), cluster.output());
        }
    }

    @Test
    void optionsThatCannotWorkAreRefusedBeforeAnythingStarts(@TempDir Path dir) throws Exception {
        Path spec = Files.writeString(dir.resolve("run.yaml"), spec("local-empty", "e.train", "e.validation"));
        assertEquals(
                "2",
                LabCommandLine.streamtrain("local", "--spec", spec.toString())[0],
                "an embedded broker with no data");
        assertEquals(
                "2",
                LabCommandLine.streamtrain(
                        "local", "--spec", spec.toString(), "--bootstrap-servers", "127.0.0.1:9", "--nodes", "1")[0],
                "fewer nodes than sync.minNodes would wait forever");
    }
}
