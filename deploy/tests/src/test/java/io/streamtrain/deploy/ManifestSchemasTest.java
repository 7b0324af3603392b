package io.streamtrain.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The schema validator that DeployManifestsTest trusts: it passes valid objects and rejects wrong ones, of every API it covers. */
class ManifestSchemasTest {
    private static final YAMLMapper YAML = new YAMLMapper();
    private final ManifestSchemas schemas = new ManifestSchemas();

    static final String JOB = """
            apiVersion: batch/v1
            kind: Job
            metadata: {name: trainer}
            spec:
              completionMode: Indexed
              completions: 2
              parallelism: %s
              template:
                spec:
                  restartPolicy: Never
                  containers: [{name: trainer, image: streamtrain}]
            """;
    static final String TOPIC = """
            apiVersion: kafka.strimzi.io/v1beta2
            kind: KafkaTopic
            metadata: {name: t, labels: {strimzi.io/cluster: my-cluster}}
            spec: {partitions: %s, config: {retention.ms: -1}}
            """;
    static final String USER = """
            apiVersion: kafka.strimzi.io/v1beta2
            kind: KafkaUser
            metadata: {name: u}
            spec:
              authentication: {type: scram-sha-512}
              authorization:
                type: simple
                acls: [{resource: {type: topic, name: t, patternType: literal}, operations: [%s]}]
            """;
    static final String POD_MONITOR = """
            apiVersion: monitoring.coreos.com/v1
            kind: PodMonitor
            metadata: {name: m}
            spec:
              selector: {matchLabels: {app: x}}
              podMetricsEndpoints: [{port: metrics, interval: %s}]
            """;
    static final String RULE = """
            apiVersion: monitoring.coreos.com/v1
            kind: PrometheusRule
            metadata: {name: r}
            spec:
              groups: [{name: g, rules: [{alert: A, expr: up == 0, for: %s}]}]
            """;

    @Test
    void validObjectsOfEveryCoveredApiPass() throws IOException {
        List<JsonNode> objects = List.of(
                object(JOB, "2"),
                object(TOPIC, "1"),
                object(USER, "Read, Describe"),
                object(POD_MONITOR, "15s"),
                object(RULE, "5m"),
                object("""
                        apiVersion: v1
                        kind: ConfigMap
                        metadata: {name: c, labels: {grafana_dashboard: "1"}}
                        data: {streamtrain.json: "{}"}
                        """));
        for (ManifestSchemas.Result r : schemas.validate(objects)) {
            assertEquals(List.of(), r.errors(), r.object());
        }
    }

    @Test
    void wrongFieldTypesAndValuesAreRejected() throws IOException {
        List<JsonNode> objects = List.of(
                object(JOB, "two"), // a string where the API has an integer
                object(TOPIC, "\"1\""), // a quoted number in a CRD's integer field
                object(USER, "Read, Delete, Frobnicate"), // an operation the CRD's enum lacks
                object(POD_MONITOR, "15 seconds"), // not a Prometheus duration
                object(RULE, "300")); // a number where a duration string goes
        List<ManifestSchemas.Result> results = schemas.validate(objects);
        assertRejected(results.get(0), "/spec/parallelism");
        assertRejected(results.get(1), "/spec/partitions");
        assertRejected(results.get(2), "/spec/authorization/acls/0/operations/2");
        assertRejected(results.get(3), "/spec/podMetricsEndpoints/0/interval");
        assertRejected(results.get(4), "/spec/groups/0/rules/0/for");
    }

    @Test
    void requiredFieldsAreRequired() throws IOException {
        JsonNode nameless = object("""
                apiVersion: apps/v1
                kind: Deployment
                metadata: {name: d}
                spec:
                  selector: {matchLabels: {app: x}}
                  template: {spec: {containers: [{image: streamtrain}]}}
                """);
        assertRejected(schemas.validate(List.of(nameless)).get(0), "/spec/template/spec/containers/0");
    }

    /** An object no package has a schema for fails; it is never let through unchecked. */
    @Test
    void anApiWithoutSchemaIsAnError() throws IOException {
        List<ManifestSchemas.Result> results = schemas.validate(List.of(
                object("{apiVersion: example.com/v1, kind: Widget, metadata: {name: w}}"),
                object("{apiVersion: batch/v1, kind: Jobb, metadata: {name: j}}"),
                object("{apiVersion: kafka.strimzi.io/v1beta2, kind: KafkaTopik, metadata: {name: t}}"),
                object("{metadata: {name: nothing}}")));
        for (ManifestSchemas.Result r : results) {
            assertEquals(1, r.errors().size(), r.object() + ": " + r.errors());
        }
        assertTrue(
                results.get(0).errors().get(0).startsWith("no schema for example.com/v1 Widget"),
                results.get(0).errors().toString());
    }

    @Test
    void aMissingValidatorFailsSayingHowToInstallIt(@TempDir Path empty) throws IOException {
        AssertionError noPackages = assertThrows(
                AssertionError.class, () -> new ManifestSchemas("node", empty).validate(List.of(object(JOB, "2"))));
        assertTrue(noPackages.getMessage().contains("npm ci --prefix deploy/validate"), noPackages.getMessage());

        Files.createDirectory(empty.resolve("node_modules"));
        AssertionError noNode = assertThrows(
                AssertionError.class,
                () -> new ManifestSchemas(empty.resolve("no-node").toString(), empty)
                        .validate(List.of(object(JOB, "2"))));
        assertTrue(noNode.getMessage().contains("install Node.js"), noNode.getMessage());
    }

    /** The object {@code template} describes, with {@code values} for its %s. */
    @SuppressWarnings("AnnotateFormatMethod") // Error Prone's annotations are not a dependency of the tests
    static JsonNode object(String template, Object... values) throws IOException {
        return YAML.readTree(template.formatted(values));
    }

    static void assertRejected(ManifestSchemas.Result r, String path) {
        assertTrue(
                r.errors().stream().anyMatch(e -> e.startsWith(path + " ")),
                r.object() + " is rejected at " + path + ": " + r.errors());
    }
}
