package io.streamtrain.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import io.micrometer.core.instrument.Tags;
import io.streamtrain.core.djl.Engines;
import io.streamtrain.core.kafka.KafkaSettings;
import io.streamtrain.core.kafka.RunTopics;
import io.streamtrain.core.kafka.StartupException;
import io.streamtrain.core.metrics.Health;
import io.streamtrain.core.metrics.MetricsServer;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.core.spec.RunSpecParser;
import io.streamtrain.core.topics.Topics;
import io.streamtrain.evaluator.EvaluatorCommand;
import io.streamtrain.testkit.MonitoringQueries;
import io.streamtrain.trainer.TrainerCommand;
import java.io.IOException;
import java.lang.reflect.Field;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;

/**
 * deploy/k8s as a reviewer reads it: every overlay rendered by {@code kubectl kustomize}, and
 * the rendered objects checked against what the code does — the ports and paths it serves,
 * the environment it reads, its exit codes and grace periods, its topic names and settings,
 * its transactional ids and consumer groups — and against the schemas of the Kubernetes API
 * and the Strimzi and Prometheus Operator CRDs ({@link ManifestSchemas}; no API server here).
 */
class DeployManifestsTest {
    static final List<String> OVERLAYS = List.of("plain", "strimzi", "continuous");
    static final String TRAINER_MAIN = io.streamtrain.trainer.TrainerMain.class.getName();
    static final String EVALUATOR_MAIN = io.streamtrain.evaluator.EvaluatorMain.class.getName();
    /** The commands behind the image's entry points, whose options the manifests pass. */
    static final Map<String, Supplier<Callable<Integer>>> COMMANDS =
            Map.of(TRAINER_MAIN, TrainerCommand::new, EVALUATOR_MAIN, EvaluatorCommand::new);
    /** What the image runs as (deploy/Dockerfile's USER; imageIsANonRootJre17WithTheManifestsSettings ties the two). */
    static final long IMAGE_UID = 10001;

    static final Map<String, Kustomize> rendered = new LinkedHashMap<>();
    private static final YAMLMapper YAML = new YAMLMapper();

    @BeforeAll
    static void render() {
        for (String overlay : OVERLAYS) {
            rendered.put(
                    overlay, Kustomize.render(Kustomize.K8S.resolve("overlays").resolve(overlay)));
        }
    }

    @Test
    void everyOverlayIsRenderedHere() throws IOException {
        try (Stream<Path> dirs = Files.list(Kustomize.K8S.resolve("overlays"))) {
            Set<String> present = dirs.filter(d -> Files.exists(d.resolve("kustomization.yaml")))
                    .map(d -> d.getFileName().toString())
                    .collect(Collectors.toCollection(TreeSet::new));
            assertEquals(new TreeSet<>(OVERLAYS), present, "every overlay is rendered and checked by this test");
        }
        for (Kustomize k : rendered.values()) {
            Set<String> ids = new HashSet<>();
            for (JsonNode o : k.objects) {
                assertFalse(o.path("apiVersion").asText().isEmpty(), k.name + ": an object without apiVersion: " + o);
                assertFalse(o.at("/metadata/name").asText().isEmpty(), k.name + ": an object without a name: " + o);
                assertTrue(ids.add(Kustomize.id(o)), k.name + " renders " + Kustomize.id(o) + " twice");
            }
            k.workload("evaluator");
            k.workload("trainer");
        }
    }

    // ---- trainers as a Job --------------------------------------------------------------------

    @Test
    void trainerJobIsIndexedAndFailsAtOnceOnBadConfiguration() {
        for (Kustomize k : rendered.values()) {
            for (JsonNode job : k.ofKind("Job")) {
                String where = k.name + " " + Kustomize.id(job);
                JsonNode spec = job.path("spec");
                assertEquals("Indexed", spec.path("completionMode").asText(), where);
                assertTrue(spec.path("parallelism").asInt() >= 1, where + ": parallelism");
                assertEquals(
                        spec.path("parallelism").asInt(),
                        spec.path("completions").asInt(),
                        where + ": every trainer is one index, so completions = parallelism");
                assertTrue(spec.path("backoffLimit").asInt() >= 1, where + ": retryable failures (exit 1) are retried");
                assertEquals(
                        "Never",
                        spec.at("/template/spec/restartPolicy").asText(),
                        where + ": podFailurePolicy needs restartPolicy Never");
                assertEquals(
                        "Failed",
                        spec.path("podReplacementPolicy").asText(),
                        where + ": a retry starts after the pod it replaces ended");

                String container =
                        containerRunning(job, TRAINER_MAIN).path("name").asText();
                boolean failsOnBadConfig = false;
                boolean ignoresDisruption = false;
                for (JsonNode rule : spec.at("/podFailurePolicy/rules")) {
                    for (JsonNode condition : rule.path("onPodConditions")) {
                        // an evicted, preempted or drained trainer (exit 143 after SIGTERM) did not fail: it is not
                        // counted
                        ignoresDisruption |= "Ignore".equals(rule.path("action").asText())
                                && "DisruptionTarget"
                                        .equals(condition.path("type").asText());
                    }
                    JsonNode codes = rule.path("onExitCodes");
                    if ("FailJob".equals(rule.path("action").asText())
                            && "In".equals(codes.path("operator").asText())
                            && container.equals(codes.path("containerName").asText())) {
                        for (JsonNode v : codes.path("values")) {
                            failsOnBadConfig |= v.asInt() == StartupException.BAD_CONFIGURATION;
                        }
                    }
                    if (!codes.isMissingNode()
                            && !"FailJob".equals(rule.path("action").asText())) {
                        for (JsonNode v : codes.path("values")) {
                            assertNotEquals(0, v.asInt(), where + ": exit 0 is a done trainer");
                        }
                    }
                }
                assertTrue(
                        failsOnBadConfig,
                        where + ": a podFailurePolicy rule fails the Job on exit code "
                                + StartupException.BAD_CONFIGURATION + " of container " + container);
                assertTrue(
                        ignoresDisruption,
                        where + ": a podFailurePolicy rule ignores pods ended by a disruption (DisruptionTarget),"
                                + " so an evicted trainer does not count against backoffLimit");

                JsonNode pdb =
                        k.get("PodDisruptionBudget", job.at("/metadata/name").asText());
                assertEquals(
                        spec.path("parallelism").asInt(),
                        pdb.at("/spec/minAvailable").asInt(),
                        where + ": the trainers' disruption budget keeps every running trainer");
                assertSelects(pdb.at("/spec/selector/matchLabels"), job, where + ": the budget");
                RunSpec run = runSpec(k, job);
                assertTrue(
                        run.sync().minNodes() <= spec.path("parallelism").asInt(),
                        where + ": sync.minNodes " + run.sync().minNodes()
                                + " would wait for trainers the Job never starts");
            }
        }
    }

    @Test
    void trainersAreNamedByPodAndSpreadOverMachines() {
        for (Kustomize k : rendered.values()) {
            JsonNode trainer = k.workload("trainer");
            JsonNode c = containerRunning(trainer, TRAINER_MAIN);
            assertEquals(
                    "metadata.name",
                    env(c, "STREAMTRAIN_NODE_ID")
                            .at("/valueFrom/fieldRef/fieldPath")
                            .asText(),
                    k.name + ": a trainer's node id is its pod's name, unique among live trainers");
            Set<String> keys = new HashSet<>();
            for (JsonNode t : podSpec(trainer).path("topologySpreadConstraints")) {
                keys.add(t.path("topologyKey").asText());
                assertSelects(t.at("/labelSelector/matchLabels"), trainer, k.name + ": topology spread");
            }
            assertTrue(keys.contains("kubernetes.io/hostname"), k.name + ": trainers spread over machines");
        }
    }

    /** Static membership would suppress the rebalance the sync protocol relies on; transactional ids are the code's. */
    @Test
    void noKafkaIdentityIsPassedThrough() {
        for (Kustomize k : rendered.values()) {
            for (JsonNode w : k.workloads()) {
                for (JsonNode c : podSpec(w).path("containers")) {
                    for (String name : envNames(k, c).keySet()) {
                        assertFalse(
                                name.equals(KafkaSettings.PASSTHROUGH_ENV_PREFIX + "GROUP_INSTANCE_ID")
                                        || name.equals(KafkaSettings.PASSTHROUGH_ENV_PREFIX + "TRANSACTIONAL_ID"),
                                k.name + " " + Kustomize.id(w) + " sets " + name
                                        + " (docs/deploy.md, \"Kafka identity\")");
                    }
                }
            }
        }
    }

    /**
     * Signed messages are on in every overlay: each service reads its role's signing key from a
     * Secret of its own and the trusted keys from a ConfigMap (public), both mounted read-only,
     * and neither optional, so a pod without them does not start rather than run unchecked.
     */
    @Test
    void everyServiceSignsAndChecksMessagesWithItsRolesKey() {
        for (Kustomize k : rendered.values()) {
            for (String role : List.of("trainer", "evaluator")) {
                JsonNode w = k.workload(role);
                JsonNode c = containerRunning(w, mainOf(role));
                String where = k.name + " " + Kustomize.id(w);
                JsonNode key = volumeAt(
                        podSpec(w),
                        c,
                        env(c, io.streamtrain.core.signing.Signing.KEY_ENV)
                                .path("value")
                                .asText());
                assertEquals(
                        "streamtrain-" + role + "-signing-key",
                        key.at("/secret/secretName").asText(),
                        where + ": the signing key is its role's own Secret");
                assertFalse(key.at("/secret/optional").asBoolean(false), where + ": no key, no start");
                JsonNode trusted = volumeAt(
                        podSpec(w),
                        c,
                        env(c, io.streamtrain.core.signing.Signing.TRUSTED_ENV)
                                .path("value")
                                .asText());
                assertEquals(
                        "streamtrain-trusted-keys",
                        trusted.at("/configMap/name").asText(),
                        where + ": the trusted keys");
                assertFalse(trusted.at("/configMap/optional").asBoolean(false), where + ": no trusted keys, no start");
                for (JsonNode m : c.path("volumeMounts")) {
                    if (List.of(key.path("name").asText(), trusted.path("name").asText())
                            .contains(m.path("name").asText())) {
                        assertTrue(
                                m.path("readOnly").asBoolean(),
                                where + ": " + m.path("name").asText() + " is mounted read-only");
                    }
                }
            }
        }
    }

    // ---- the evaluator -------------------------------------------------------------------------

    @Test
    void evaluatorHasOneStableIdentityAndADisruptionBudget() {
        for (Kustomize k : rendered.values()) {
            JsonNode d = k.workload("evaluator");
            String where = k.name + " " + Kustomize.id(d);
            assertEquals("Deployment", d.path("kind").asText(), where);
            assertEquals(1, d.at("/spec/replicas").asInt(), where + ": one instance per id");
            assertEquals(
                    "Recreate",
                    d.at("/spec/strategy/type").asText(),
                    where + ": the old pod ends before the new one starts");
            JsonNode id = env(containerRunning(d, EVALUATOR_MAIN), "STREAMTRAIN_NODE_ID");
            assertTrue(
                    id.path("valueFrom").isMissingNode()
                            && !id.path("value").asText().isBlank(),
                    where + ": the instance id is fixed, not the pod's (changing) name: " + id);
            JsonNode pdb = k.get("PodDisruptionBudget", d.at("/metadata/name").asText());
            assertSelects(pdb.at("/spec/selector/matchLabels"), d, where + ": the budget");
            assertEquals(1, pdb.at("/spec/maxUnavailable").asInt(), where + ": evictable, never blocking a drain");
        }
    }

    /** The evaluator's manifests probe and scrape a port exactly when EvaluatorCommand serves one. */
    @Test
    void evaluatorProbesOnlyWhatItServes() {
        boolean serves = CommandSpec.forAnnotatedObject(new EvaluatorCommand()).findOption("--metrics-port") != null;
        for (Kustomize k : rendered.values()) {
            JsonNode c = containerRunning(k.workload("evaluator"), EVALUATOR_MAIN);
            boolean probed =
                    c.has("livenessProbe") || c.has("readinessProbe") || c.has("startupProbe") || c.has("ports");
            assertEquals(
                    serves,
                    probed,
                    k.name + ": "
                            + (serves
                                    ? "EvaluatorCommand serves a metrics port now: give the evaluator container the trainer's port, probes and"
                                            + " scrape settings (and a PodMonitor)"
                                    : "the evaluator serves no port, so nothing may probe or scrape it"));
        }
    }

    // ---- probes, ports, monitoring ---------------------------------------------------------------

    @Test
    void probesAskThePortAndPathsTheServicesServe() throws Exception {
        Set<String> paths = new TreeSet<>();
        for (Kustomize k : rendered.values()) {
            for (JsonNode w : k.workloads()) {
                for (JsonNode c : podSpec(w).path("containers")) {
                    String where = k.name + " " + Kustomize.id(w) + " "
                            + c.path("name").asText();
                    if (!c.has("livenessProbe") && !c.has("readinessProbe") && !c.has("startupProbe")) {
                        continue;
                    }
                    int port = metricsPort(c, where);
                    assertEquals(
                            "/healthz",
                            probe(c, "livenessProbe", port, where),
                            where + ": liveness = the work loop goes round");
                    assertEquals(
                            "/readyz",
                            probe(c, "readinessProbe", port, where),
                            where + ": readiness = connected and initialized");
                    assertEquals(
                            "/readyz",
                            probe(c, "startupProbe", port, where),
                            where + ": started = engine loaded, Kafka answered");
                    JsonNode startup = c.path("startupProbe");
                    assertTrue(
                            startup.path("periodSeconds").asInt(10)
                                            * startup.path("failureThreshold").asInt(3)
                                    >= 120,
                            where + ": a JVM unpacking and loading PyTorch gets at least 2 minutes to start");
                    paths.addAll(List.of("/healthz", "/readyz"));
                }
            }
        }
        assertFalse(paths.isEmpty(), "some container is probed");
        // the paths are real: a metrics server as the services start it answers them (not 404)
        try (MetricsServer server = MetricsServer.start(0, new Health(Duration.ofMinutes(2)), Tags.empty())) {
            HttpClient http = HttpClient.newHttpClient();
            for (String path : paths) {
                HttpResponse<String> r = http.send(
                        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path))
                                .build(),
                        HttpResponse.BodyHandlers.ofString());
                assertTrue(r.statusCode() == 200 || r.statusCode() == 503, path + " answered " + r.statusCode());
                assertTrue(r.body().startsWith("ok") || r.body().startsWith("not ok"), path + " answered " + r.body());
            }
        }
    }

    @Test
    void metricsAreScrapedWhereTheyAreServed() {
        for (Kustomize k : rendered.values()) {
            List<JsonNode> monitors = k.ofKind("PodMonitor");
            for (String role : List.of("trainer", "evaluator")) {
                JsonNode w = k.workload(role);
                int port = metricsPort(containerRunning(w, mainOf(role)), k.name);
                JsonNode annotations = w.at("/spec/template/metadata/annotations");
                List<JsonNode> mine = monitors.stream()
                        .filter(m -> m.at("/metadata/name").asText().equals("streamtrain-" + role))
                        .toList();
                assertTrue(
                        annotations.has("prometheus.io/scrape") ^ !mine.isEmpty(),
                        k.name + ": the " + role + " is scraped one way, by annotations or by a PodMonitor");
                if (annotations.has("prometheus.io/scrape")) {
                    assertEquals(
                            "true", annotations.path("prometheus.io/scrape").asText(), k.name);
                    assertEquals(
                            Integer.toString(port),
                            annotations.path("prometheus.io/port").asText(),
                            k.name);
                    assertEquals(
                            "/metrics", annotations.path("prometheus.io/path").asText(), k.name);
                }
                for (JsonNode m : mine) {
                    // the alert rules know the scrape job as <namespace>/streamtrain-<role>
                    assertSelects(m.at("/spec/selector/matchLabels"), w, k.name + " PodMonitor " + role);
                    for (JsonNode e : m.at("/spec/podMetricsEndpoints")) {
                        assertEquals(
                                "metrics",
                                e.path("port").asText(),
                                k.name + ": the PodMonitor scrapes the port named metrics");
                        assertEquals("/metrics", e.path("path").asText("/metrics"), k.name);
                    }
                }
            }
            assertEquals(monitors.isEmpty() ? 0 : 2, monitors.size(), k.name + ": one PodMonitor per role, or none");
        }
    }

    /**
     * One NetworkPolicy per overlay holds both roles to what they do: serve their metrics port,
     * and reach DNS and the Kafka brokers their environment names (and nothing else).
     */
    @Test
    void podsReachOnlyDnsAndTheirKafkaAndServeOnlyTheirMetricsPort() {
        for (Kustomize k : rendered.values()) {
            List<JsonNode> policies = k.ofKind("NetworkPolicy");
            for (String role : List.of("trainer", "evaluator")) {
                JsonNode w = k.workload(role);
                JsonNode c = containerRunning(w, mainOf(role));
                String where = k.name + " " + role;
                List<JsonNode> mine = policies.stream()
                        .filter(p -> selects(p.at("/spec/podSelector/matchLabels"), w))
                        .toList();
                assertEquals(1, mine.size(), where + ": one NetworkPolicy selects its pods");
                JsonNode policy = mine.get(0).path("spec");
                assertEquals(
                        List.of("Ingress", "Egress"),
                        texts(policy.path("policyTypes")),
                        where + ": both directions are restricted");
                // in: the metrics port alone, by name or number (Prometheus, and the probes, which ask it)
                int metrics = metricsPort(c, where);
                assertFalse(
                        policy.path("ingress").isEmpty(),
                        where + ": Prometheus and the probes may reach the metrics port");
                for (JsonNode rule : policy.path("ingress")) {
                    assertFalse(
                            rule.path("ports").isEmpty(), where + ": an ingress rule without ports opens every port");
                    for (JsonNode port : rule.path("ports")) {
                        assertTrue(
                                port.path("port").asText().equals("metrics")
                                        || port.path("port").asInt() == metrics,
                                where + ": ingress to " + port + " is not the metrics port");
                    }
                }
                // out: DNS, and each bootstrap server's port; no rule without ports
                Set<String> allowed = new TreeSet<>();
                for (JsonNode rule : policy.path("egress")) {
                    assertFalse(
                            rule.path("ports").isEmpty(), where + ": an egress rule without ports opens every port");
                    rule.path("ports")
                            .forEach(p -> allowed.add(p.path("protocol").asText("TCP") + "/"
                                    + p.path("port").asText()));
                }
                Set<String> needed = new TreeSet<>(Set.of("UDP/53", "TCP/53"));
                String bootstrap = envNames(k, c).get("STREAMTRAIN_BOOTSTRAP_SERVERS");
                assertTrue(bootstrap != null && !bootstrap.isBlank(), where + ": names its bootstrap servers");
                for (String server : bootstrap.split(",")) {
                    needed.add("TCP/"
                            + server.substring(server.lastIndexOf(':') + 1).strip());
                }
                assertTrue(
                        allowed.containsAll(needed),
                        where + ": egress " + allowed + " lets through DNS and Kafka " + needed);
                Set<String> extra = new TreeSet<>(allowed);
                extra.removeAll(needed);
                extra.removeIf(p ->
                        p.equals("TCP/9092") || p.equals("TCP/9093")); // the base's Kafka ports, for overlays on either
                assertEquals(Set.of(), extra, where + ": egress to nothing but DNS and Kafka");
            }
        }
    }

    /** Whether a selector by labels (not empty) matches every label of the workload's pods it names. */
    private static boolean selects(JsonNode matchLabels, JsonNode workload) {
        JsonNode labels = workload.at("/spec/template/metadata/labels");
        List<Boolean> matches = new ArrayList<>();
        matchLabels
                .properties()
                .forEach(e -> matches.add(
                        e.getValue().asText().equals(labels.path(e.getKey()).asText())));
        return !matches.isEmpty() && !matches.contains(false);
    }

    /** kustomize deploys the committed wrapper of rules.yaml (no build needed on a fresh clone): it must be what the build writes. */
    @Test
    void theCommittedPrometheusRuleIsWhatTheBuildWritesFromRulesYaml() throws IOException {
        Path committed = COMMITTED_RULE;
        Path built = Kustomize.REPO.resolve("deploy/prometheus/target/prometheusrule.yaml");
        assertTrue(
                Files.exists(built),
                built + " is missing: the cli's build (-pl cli -am) builds deploy/prometheus first");
        assertEquals(
                Files.readString(built),
                Files.readString(committed),
                "deploy/prometheus/prometheusrule.yaml is stale: run"
                        + " mvn -B package -pl deploy/prometheus && cp deploy/prometheus/target/prometheusrule.yaml deploy/prometheus/");
    }

    /** The prometheus-operator component deploys deploy/prometheus/rules.yaml and deploy/grafana/streamtrain.json themselves. */
    @Test
    void rulesAndDashboardAreDeployedFromTheirOneSource() throws IOException {
        JsonNode groups = YAML.readTree(MonitoringQueries.RULES.toFile()).path("groups");
        String dashboard = Files.readString(MonitoringQueries.DASHBOARD);
        for (Kustomize k : rendered.values()) {
            List<JsonNode> rules = k.ofKind("PrometheusRule");
            List<JsonNode> dashboards = k.ofKind("ConfigMap").stream()
                    .filter(c -> c.at("/metadata/labels").has("grafana_dashboard"))
                    .toList();
            // with the Prometheus Operator's PodMonitors come its rules and Grafana's dashboard; by annotations,
            // neither
            int expected = k.ofKind("PodMonitor").isEmpty() ? 0 : 1;
            assertEquals(expected, rules.size(), k.name + ": PrometheusRules");
            assertEquals(expected, dashboards.size(), k.name + ": dashboard ConfigMaps");
            for (JsonNode rule : rules) {
                assertEquals(
                        List.of("groups"), fieldNames(rule.path("spec")), k.name + " " + Kustomize.id(rule) + ": spec");
                assertEquals(
                        groups,
                        rule.at("/spec/groups"),
                        k.name + " " + Kustomize.id(rule) + ": the groups of rules.yaml");
            }
            for (JsonNode cm : dashboards) {
                String where = k.name + " " + Kustomize.id(cm);
                assertEquals(
                        "1",
                        cm.at("/metadata/labels/grafana_dashboard").asText(),
                        where + ": Grafana's sidecar loads it by this label");
                assertEquals(List.of("streamtrain.json"), fieldNames(cm.path("data")), where + ": data");
                assertEquals(
                        dashboard, cm.at("/data/streamtrain.json").asText(), where + ": streamtrain.json as it is");
            }
        }
        // and no copy of either lies anywhere else in deploy/ (the build's wrapper is in a target/ directory, and its
        // committed
        // copy is checked to be exactly that by theCommittedPrometheusRuleIsWhatTheBuildWritesFromRulesYaml)
        Set<String> alerts = new TreeSet<>();
        groups.findValues("alert").forEach(a -> alerts.add(a.asText()));
        assertFalse(alerts.isEmpty(), "rules.yaml has alerts");
        Set<Path> sources = Set.of(
                        MonitoringQueries.RULES,
                        MonitoringQueries.RULE_TESTS,
                        MonitoringQueries.DASHBOARD,
                        COMMITTED_RULE)
                .stream()
                .map(f -> f.toAbsolutePath().normalize())
                .collect(Collectors.toSet());
        try (Stream<Path> files = Files.walk(Kustomize.REPO.resolve("deploy"))) {
            for (Path f : files.filter(Files::isRegularFile).toList()) {
                String rel = Kustomize.REPO.relativize(f).toString();
                // deploy/tests/ is these tests: they name what they check
                if (sources.contains(f)
                        || rel.contains("/target/")
                        || rel.contains("/node_modules/")
                        || rel.startsWith("deploy/tests/")) {
                    continue;
                }
                String text = Files.readString(f, java.nio.charset.StandardCharsets.ISO_8859_1);
                assertFalse(
                        text.contains("\"panels\""),
                        rel + " holds a copy of a dashboard: generate it from streamtrain.json");
                for (String alert : alerts) {
                    assertFalse(
                            text.contains(alert),
                            rel + " holds a copy of rules.yaml (alert " + alert + "): generate it from there");
                }
            }
        }
    }

    // ---- schemas ---------------------------------------------------------------------------------

    /**
     * Every rendered object is one the API server would accept as far as its schema says: the
     * Kubernetes API, and Strimzi's and the Prometheus Operator's CRDs, at the versions of
     * deploy/validate/package.json, which docs/deploy.md states.
     */
    @Test
    void everyObjectMatchesItsApiSchema() throws IOException {
        ManifestSchemas schemas = new ManifestSchemas();
        for (Kustomize k : rendered.values()) {
            List<String> invalid = schemas.validate(k.objects).stream()
                    .filter(r -> !r.errors().isEmpty())
                    .map(r -> r.object() + ": " + r.errors())
                    .toList();
            assertEquals(List.of(), invalid, k.name + ": objects their API's schema rejects");
        }
        String docs = Files.readString(Kustomize.REPO.resolve("docs/deploy.md"));
        schemas.pinned()
                .forEach((name, version) -> assertTrue(
                        docs.contains("`" + name + "` " + version),
                        "docs/deploy.md names the schema package " + name + " " + version
                                + " the objects are validated with"));
    }

    /**
     * The topics and users are kafka.strimzi.io/v1, which every Strimzi from 0.49 on serves and
     * 1.0 serves alone (v1beta2 ends with 0.51; docs/deploy.md, "Strimzi: topics and users");
     * everyObjectMatchesItsApiSchema validates them against v1's schema.
     */
    @Test
    void strimziObjectsAreKafkaStrimziV1() {
        List<JsonNode> strimzi = rendered.get("strimzi").objects.stream()
                .filter(o -> o.path("apiVersion").asText().startsWith("kafka.strimzi.io/"))
                .toList();
        assertEquals(
                Set.of("KafkaTopic", "KafkaUser"),
                strimzi.stream().map(o -> o.path("kind").asText()).collect(Collectors.toSet()));
        for (JsonNode o : strimzi) {
            assertEquals("kafka.strimzi.io/v1", o.path("apiVersion").asText(), Kustomize.id(o));
        }
    }

    // ---- pod policy ------------------------------------------------------------------------------

    @Test
    void podsRunLockedDown() throws Exception {
        for (Kustomize k : rendered.values()) {
            for (JsonNode w : k.workloads()) {
                JsonNode pod = podSpec(w);
                String where = k.name + " " + Kustomize.id(w);
                assertFalse(pod.path("automountServiceAccountToken").asBoolean(true), where + ": no API token");
                assertFalse(
                        pod.path("hostNetwork").asBoolean(false)
                                || pod.path("hostPID").asBoolean(false),
                        where);
                JsonNode podSecurity = pod.path("securityContext");
                assertEquals(
                        "RuntimeDefault", podSecurity.at("/seccompProfile/type").asText(), where);
                for (JsonNode c : pod.path("containers")) {
                    String at = where + " " + c.path("name").asText();
                    JsonNode s = c.path("securityContext");
                    assertTrue(
                            s.path("runAsNonRoot")
                                    .asBoolean(podSecurity.path("runAsNonRoot").asBoolean(false)),
                            at + ": runAsNonRoot");
                    long uid = s.path("runAsUser")
                            .asLong(podSecurity.path("runAsUser").asLong(0));
                    assertEquals(IMAGE_UID, uid, at + ": runs as the image's user");
                    assertFalse(
                            s.path("allowPrivilegeEscalation").asBoolean(true),
                            at + ": allowPrivilegeEscalation false");
                    assertTrue(s.path("readOnlyRootFilesystem").asBoolean(false), at + ": read-only root filesystem");
                    assertFalse(s.path("privileged").asBoolean(false), at + ": not privileged");
                    assertEquals(List.of("ALL"), texts(s.at("/capabilities/drop")), at + ": drops every capability");
                    assertTrue(texts(s.at("/capabilities/add")).isEmpty(), at + ": adds none");
                    for (String r : List.of("cpu", "memory")) {
                        assertFalse(c.at("/resources/requests/" + r).asText().isEmpty(), at + ": requests " + r);
                        assertFalse(c.at("/resources/limits/" + r).asText().isEmpty(), at + ": limits " + r);
                    }
                    // writable where the process writes: DJL's native-library cache and /tmp
                    String djlCache = env(c, "DJL_CACHE_DIR").path("value").asText();
                    assertEquals(
                            "emptyDir",
                            volumeTypeAt(pod, c, djlCache),
                            at + ": DJL_CACHE_DIR " + djlCache + " is a writable volume");
                    assertEquals("emptyDir", volumeTypeAt(pod, c, "/tmp"), at + ": /tmp is a writable volume");
                    Duration grace = grace(mainClass(c));
                    assertTrue(
                            pod.path("terminationGracePeriodSeconds").asLong(30) > grace.toSeconds() + 10,
                            at + ": the grace period outlasts the service's own stop budget of " + grace.toSeconds()
                                    + " s with room to exit");
                }
            }
        }
    }

    // ---- configuration: arguments, environment, the run spec -------------------------------------

    @Test
    void argumentsAreOptionsTheCommandsAccept() {
        for (Kustomize k : rendered.values()) {
            for (JsonNode w : k.workloads()) {
                for (JsonNode c : podSpec(w).path("containers")) {
                    List<String> args = texts(c.path("args"));
                    assertTrue(COMMANDS.containsKey(mainClass(c)), k.name + " " + Kustomize.id(w) + " runs " + args);
                    // throws (failing the test) on an option the command does not have
                    new CommandLine(COMMANDS.get(args.get(0)).get())
                            .parseArgs(args.subList(1, args.size()).toArray(String[]::new));
                }
            }
        }
    }

    @Test
    void everyVariableIsOneTheCodeReads() throws IOException {
        Set<String> kafkaProperties = new HashSet<>(ConsumerConfig.configNames());
        kafkaProperties.addAll(ProducerConfig.configNames());
        kafkaProperties.addAll(AdminClientConfig.configNames());
        for (Kustomize k : rendered.values()) {
            for (JsonNode w : k.workloads()) {
                for (JsonNode c : podSpec(w).path("containers")) {
                    String where = k.name + " " + Kustomize.id(w) + " "
                            + c.path("name").asText();
                    Set<String> known = new HashSet<>(variablesReadBy(mainClass(c)));
                    Map<String, String> vars = envNames(k, c);
                    for (String name : vars.keySet()) {
                        if (name.startsWith(KafkaSettings.PASSTHROUGH_ENV_PREFIX)) {
                            String property = name.substring(KafkaSettings.PASSTHROUGH_ENV_PREFIX.length())
                                    .toLowerCase(java.util.Locale.ROOT)
                                    .replace('_', '.');
                            assertTrue(
                                    kafkaProperties.contains(property),
                                    where + ": " + name + " passes " + property
                                            + ", which is no Kafka client property");
                        } else if (!known.contains(name)) {
                            // a helper that only composes another variable's value, like POD_NAMESPACE
                            boolean composes = vars.values().stream().anyMatch(v -> v.contains("$(" + name + ")"));
                            assertTrue(
                                    composes,
                                    where + ": " + name + " is read by nothing (known: " + new TreeSet<>(known) + ")");
                        }
                    }
                    assertTrue(
                            vars.containsKey(KafkaSettings.BOOTSTRAP_ENV),
                            where + ": the overlay names the brokers in " + KafkaSettings.BOOTSTRAP_ENV);
                }
            }
        }
    }

    @Test
    void theRunSpecIsOneTheParserAccepts() {
        for (Kustomize k : rendered.values()) {
            RunSpec spec = runSpec(k, k.workload("trainer"));
            assertFalse(spec.run().isBlank(), k.name);
        }
    }

    // ---- Strimzi -------------------------------------------------------------------------------

    @Test
    void kafkaTopicsAreTheOnesTheServicesWouldCreate() {
        Kustomize k = rendered.get("strimzi");
        RunSpec spec = runSpec(k, k.workload("trainer"));
        String run = spec.run();
        Map<String, JsonNode> topics = new TreeMap<>();
        for (JsonNode t : k.ofKind("KafkaTopic")) {
            topics.put(t.at("/spec/topicName").asText(t.at("/metadata/name").asText()), t);
        }
        int trainMax = topics.containsKey(spec.data().train())
                ? topics.get(spec.data().train())
                        .at("/spec/config/max.message.bytes")
                        .asInt(1048588)
                : 1048588;
        // exactly what TrainerNode and EvaluatorService pass to RunTopics.ensure
        List<NewTopic> expected = List.of(
                RunTopics.checkpoints(
                        Topics.checkpoints(run), spec.checkpoints().chunkBytes()),
                RunTopics.sync(Topics.sync(run), spec.checkpoints().chunkBytes()),
                RunTopics.control(Topics.control(run)),
                RunTopics.evaluations(Topics.evaluations(run)),
                RunTopics.deadLetters(Topics.deadLetters(run), trainMax));
        for (NewTopic t : expected) {
            JsonNode topic = topics.get(t.name());
            assertTrue(topic != null, "strimzi: no KafkaTopic " + t.name() + " (have " + topics.keySet() + ")");
            assertEquals(t.numPartitions(), topic.at("/spec/partitions").asInt(), t.name() + " partitions");
            Map<String, String> config = new TreeMap<>();
            topic.at("/spec/config")
                    .properties()
                    .forEach(e -> config.put(e.getKey(), e.getValue().asText()));
            assertEquals(new TreeMap<>(t.configs()), config, t.name() + " config (RunTopics)");
        }
        // the dead-letter topic takes a train record of Kafka's default size at least (the evaluator, making it first
        // without
        // DescribeConfigs on the train topic, gives it that room)
        int dlqMax = topics.get(Topics.deadLetters(run))
                .at("/spec/config/max.message.bytes")
                .asInt();
        assertTrue(
                dlqMax >= (1 << 20) + RunTopics.RECORD_OVERHEAD_BYTES,
                "the evaluator's dead letters fit " + Topics.deadLetters(run));
        assertEquals(
                "compact",
                topics.get(Topics.RUNS).at("/spec/config/cleanup.policy").asText(),
                Topics.RUNS + " is compacted");
        if (topics.containsKey(spec.data().train())) {
            int partitions =
                    topics.get(spec.data().train()).at("/spec/partitions").asInt();
            assertTrue(
                    k.workload("trainer").at("/spec/parallelism").asInt() <= partitions,
                    "no more trainers than partitions of " + spec.data().train());
        }
        String cluster = clusterOf(k);
        for (JsonNode t : topics.values()) {
            assertEquals(
                    cluster,
                    t.at("/metadata/labels/strimzi.io~1cluster").asText(),
                    Kustomize.id(t) + " belongs to " + cluster);
        }
    }

    @Test
    void kafkaUsersMayDoWhatTheirRoleDoesAndNoMore() {
        Kustomize k = rendered.get("strimzi");
        RunSpec spec = runSpec(k, k.workload("trainer"));
        String run = spec.run();
        String train = spec.data().train();
        String validation = spec.data().validation();
        Map<String, Set<String>> expected = Map.of(
                "streamtrain-trainer",
                        Set.of(
                                acl("topic", train, "literal", "Read", "Describe", "DescribeConfigs"),
                                acl("group", Topics.trainerGroup(run), "literal", "Read"),
                                acl(
                                        "topic",
                                        Topics.checkpoints(run),
                                        "literal",
                                        "Read",
                                        "Write",
                                        "Describe",
                                        "DescribeConfigs"),
                                acl("transactionalId", Topics.checkpointer(run), "literal", "Write", "Describe"),
                                acl(
                                        "topic",
                                        Topics.sync(run),
                                        "literal",
                                        "Read",
                                        "Write",
                                        "Delete",
                                        "Describe",
                                        "DescribeConfigs"),
                                acl("topic", Topics.control(run), "literal", "Read", "Write", "Describe"),
                                acl(
                                        "topic",
                                        Topics.deadLetters(run),
                                        "literal",
                                        "Write",
                                        "Describe",
                                        "DescribeConfigs")),
                "streamtrain-evaluator",
                        Set.of(
                                acl("topic", Topics.checkpoints(run), "literal", "Read", "Describe"),
                                acl("group", Topics.EVALUATOR_GROUP, "literal", "Read"),
                                acl("topic", validation, "literal", "Read", "Describe"),
                                acl("topic", Topics.evaluations(run), "literal", "Read", "Write", "Describe"),
                                acl("topic", Topics.control(run), "literal", "Read", "Write", "Describe"),
                                acl("topic", Topics.deadLetters(run), "literal", "Write", "Describe"),
                                acl(
                                        "transactionalId",
                                        Topics.EVALUATOR_TRANSACTIONAL_ID_PREFIX,
                                        "prefix",
                                        "Write",
                                        "Describe")),
                "streamtrain-operator",
                        Set.of(
                                acl("topic", Topics.control(run), "literal", "Read", "Write", "Describe"),
                                acl("topic", Topics.checkpoints(run), "literal", "Read", "Describe"),
                                acl("topic", Topics.evaluations(run), "literal", "Read", "Describe"),
                                acl("topic", Topics.deadLetters(run), "literal", "Read", "Describe")));
        Map<String, Set<String>> actual = new TreeMap<>();
        for (JsonNode user : k.ofKind("KafkaUser")) {
            Set<String> acls = new TreeSet<>();
            for (JsonNode a : user.at("/spec/authorization/acls")) {
                JsonNode r = a.path("resource");
                acls.add(acl(
                        r.path("type").asText(),
                        r.path("name").asText(),
                        r.path("patternType").asText("literal"),
                        texts(a.path("operations")).toArray(String[]::new)));
            }
            assertEquals("simple", user.at("/spec/authorization/type").asText(), Kustomize.id(user));
            actual.put(user.at("/metadata/name").asText(), acls);
        }
        assertEquals(new TreeSet<>(expected.keySet()), actual.keySet(), "strimzi: one KafkaUser per role");
        expected.forEach(
                (user, acls) -> assertEquals(new TreeSet<>(acls), actual.get(user), "the ACLs of KafkaUser " + user));

        // each role logs in as its own user, over the listener its settings name
        String cluster = clusterOf(k);
        for (String component : List.of("trainer", "evaluator")) {
            JsonNode w = k.workload(component);
            JsonNode c = podSpec(w).path("containers").get(0);
            String user = "streamtrain-" + component;
            JsonNode jaas = env(c, KafkaSettings.PASSTHROUGH_ENV_PREFIX + "SASL_JAAS_CONFIG")
                    .at("/valueFrom/secretKeyRef");
            assertEquals(
                    user, jaas.path("name").asText(), component + " logs in as KafkaUser " + user + " (its Secret)");
            assertEquals("sasl.jaas.config", jaas.path("key").asText(), component);
            JsonNode kafkaUser = k.get("KafkaUser", user);
            assertEquals(
                    "scram-sha-512", kafkaUser.at("/spec/authentication/type").asText(), user);
            Map<String, String> kafkaEnv = envNames(k, c);
            assertEquals(
                    "SCRAM-SHA-512", kafkaEnv.get(KafkaSettings.PASSTHROUGH_ENV_PREFIX + "SASL_MECHANISM"), component);
            assertEquals(
                    "SASL_SSL", kafkaEnv.get(KafkaSettings.PASSTHROUGH_ENV_PREFIX + "SECURITY_PROTOCOL"), component);
            String truststore = kafkaEnv.get(KafkaSettings.PASSTHROUGH_ENV_PREFIX + "SSL_TRUSTSTORE_LOCATION");
            JsonNode ca = volumeAt(podSpec(w), c, truststore);
            assertEquals(
                    cluster + "-cluster-ca-cert",
                    ca.at("/secret/secretName").asText(),
                    component + ": the truststore is the cluster CA");
            assertTrue(kafkaEnv.get(KafkaSettings.BOOTSTRAP_ENV).startsWith(cluster + "-kafka-bootstrap:"), component);
            assertEquals(
                    cluster,
                    kafkaUser.at("/metadata/labels/strimzi.io~1cluster").asText(),
                    user);
        }
        // the evaluator's ACLs cover the runs it serves and no others
        List<String> evaluatorArgs =
                texts(containerRunning(k.workload("evaluator"), EVALUATOR_MAIN).path("args"));
        assertEquals(
                List.of("--run", run),
                evaluatorArgs.subList(1, evaluatorArgs.size()),
                "strimzi: the evaluator serves run " + run);
    }

    // ---- the continuous overlay --------------------------------------------------------------

    @Test
    void continuousTrainersAreTheJobsPodsRestartedAlways() {
        Kustomize k = rendered.get("continuous");
        assertTrue(k.ofKind("Job").isEmpty(), "continuous: no Job");
        JsonNode sts = k.workload("trainer");
        assertEquals("StatefulSet", sts.path("kind").asText());
        assertEquals("Parallel", sts.at("/spec/podManagementPolicy").asText(), "all nodes start together");
        JsonNode service = k.get("Service", sts.at("/spec/serviceName").asText());
        assertEquals("None", service.at("/spec/clusterIP").asText(), "the governing Service is headless");
        assertEquals("Always", sts.at("/spec/template/spec/restartPolicy").asText());
        JsonNode pdb = k.get("PodDisruptionBudget", sts.at("/metadata/name").asText());
        assertEquals(1, pdb.at("/spec/maxUnavailable").asInt(), "one trainer evicted at a time");
        assertTrue(pdb.at("/spec/minAvailable").isMissingNode(), "continuous: " + pdb);
        RunSpec spec = runSpec(k, sts);
        assertTrue(spec.sync().minNodes() <= sts.at("/spec/replicas").asInt(), "sync.minNodes <= replicas");
        assertTrue(spec.data().continuous(), "continuous: the example run is a continuous one (data.mode)");

        // a trainer whose run is done idles instead of exiting into CrashLoopBackOff; a Job's exits (its index
        // completes)
        assertEquals("idle", whenDone(containerRunning(sts, TRAINER_MAIN)), "continuous: --when-done");
        assertEquals(
                "exit",
                whenDone(containerRunning(rendered.get("plain").workload("trainer"), TRAINER_MAIN)),
                "plain: the Job's trainers exit when the run is done");

        // the same pod as the plain overlay's Job, but for the restart policy, --when-done and the run spec's ConfigMap
        ObjectNode job = rendered.get("plain")
                .workload("trainer")
                .path("spec")
                .path("template")
                .deepCopy();
        ObjectNode set = sts.path("spec").path("template").deepCopy();
        for (ObjectNode template : List.of(job, set)) {
            ((ObjectNode) template.path("spec")).remove("restartPolicy");
            for (JsonNode c : template.at("/spec/containers")) {
                List<String> args = texts(c.path("args"));
                int at = args.indexOf("--when-done");
                if (at >= 0) {
                    args.subList(at, at + 2).clear();
                }
                ((ObjectNode) c).set("args", YAML.valueToTree(args));
            }
            for (JsonNode v : template.at("/spec/volumes")) {
                if (v.path("configMap").path("name").asText().startsWith("streamtrain-run-")) {
                    ((ObjectNode) v.path("configMap")).put("name", "streamtrain-run");
                }
            }
        }
        assertEquals(job, set, "continuous: the StatefulSet's pod template is the Job's");
    }

    /** The trainer's {@code --when-done}, as its command parses it. */
    static String whenDone(JsonNode trainer) {
        return new CommandLine(new TrainerCommand())
                .parseArgs(texts(trainer.path("args")).stream().skip(1).toArray(String[]::new))
                .matchedOptionValue("--when-done", "exit");
    }

    // ---- the image (deploy/Dockerfile) ---------------------------------------------------------

    static final Path DOCKERFILE = Kustomize.REPO.resolve("deploy/Dockerfile");
    static final Path COMMITTED_RULE = Kustomize.REPO.resolve("deploy/prometheus/prometheusrule.yaml");
    /** The image's class path as the container sees it (ENTRYPOINT's -cp). */
    static final String IMAGE_CLASSPATH = "/app/lib/*";

    @Test
    void imageIsANonRootJre17WithTheManifestsSettings() throws IOException {
        Dockerfile d = Dockerfile.read(DOCKERFILE);
        String from = d.last("FROM");
        assertTrue(
                from.contains(":17") && from.contains("jre"), "a Java 17 runtime image (the build's release): " + from);
        String[] user = d.last("USER").split(":");
        assertEquals(IMAGE_UID, Long.parseLong(user[0]), "USER is the numeric uid the manifests run as");
        assertEquals(List.of(Integer.toString(MetricsServer.DEFAULT_PORT)), d.all("EXPOSE"), "EXPOSE the metrics port");
        List<String> entry = d.exec("ENTRYPOINT");
        assertEquals("java", entry.get(0), "ENTRYPOINT starts the JVM; the first argument is the main class");
        assertTrue(entry.contains("-Dai.djl.offline=true"), "DJL never downloads: " + entry);
        assertEquals(IMAGE_CLASSPATH, entry.get(entry.indexOf("-cp") + 1), "the class path");
        assertTrue(COMMANDS.containsKey(d.exec("CMD").get(0)), "CMD runs an entry point: " + d.exec("CMD"));

        Set<String> read = new HashSet<>(variablesReadBy(TRAINER_MAIN));
        read.retainAll(variablesReadBy(EVALUATOR_MAIN));
        for (String name : d.env().keySet()) {
            assertTrue(
                    read.contains(name),
                    "ENV " + name + " is read by both services (known: " + new TreeSet<>(read) + ")");
        }
        String djlCache = d.env().get("DJL_CACHE_DIR");
        assertTrue(djlCache != null, "the image says where DJL unpacks its native library");
        for (Kustomize k : rendered.values()) {
            for (JsonNode w : k.workloads()) {
                for (JsonNode c : podSpec(w).path("containers")) {
                    assertEquals(
                            djlCache,
                            env(c, "DJL_CACHE_DIR").path("value").asText(),
                            k.name + " " + Kustomize.id(w) + ": the same DJL_CACHE_DIR as the image");
                }
            }
        }
    }

    @Test
    void imageCopiesTheServicesClassPathAndNoBroker() throws IOException {
        Dockerfile d = Dockerfile.read(DOCKERFILE);
        List<String> ignored = Files.readAllLines(Kustomize.REPO.resolve(".dockerignore"));
        for (Dockerfile.Copy c : d.copies()) {
            assertTrue(
                    Files.exists(Kustomize.REPO.resolve(c.source())),
                    "COPY " + c.source() + ": missing; the Maven build lays it"
                            + " out (mvn -B package -DskipTests -pl deploy/image -am)");
            assertTrue(
                    ignored.contains("!" + c.source()), ".dockerignore keeps " + c.source() + " in the build context");
        }
        Set<String> jars = new TreeSet<>();
        Set<String> classes = new HashSet<>();
        for (Path jar : imageJars(d)) {
            jars.add(jar.getFileName().toString());
            try (var zip = new java.util.zip.ZipFile(jar.toFile())) {
                zip.stream()
                        .map(java.util.zip.ZipEntry::getName)
                        .filter(n -> n.startsWith("io/streamtrain/"))
                        .forEach(classes::add);
            }
        }
        for (String main : COMMANDS.keySet()) {
            assertTrue(classes.contains(main.replace('.', '/') + ".class"), "the image's class path has " + main);
        }
        for (String needed : List.of("logback-classic-", "pytorch-native-cpu-", "pytorch-jni-", "kafka-clients-")) {
            assertTrue(jars.stream().anyMatch(j -> j.startsWith(needed)), "the image has " + needed + "*: " + jars);
        }
        // the cli and its embedded broker stay out of the service image
        for (String banned : List.of(
                "streamtrain-cli",
                "kafka_2.13",
                "kafka-server",
                "kafka-metadata",
                "kafka-raft",
                "kafka-storage",
                "scala-library")) {
            assertTrue(jars.stream().noneMatch(j -> j.startsWith(banned)), "the image has no " + banned + ": " + jars);
        }
        assertTrue(classes.stream().noneMatch(c -> c.startsWith("io/streamtrain/cli/")), "no cli classes in the image");
    }

    /** Each entry point starts from the image's class path, JVM options and log configuration, as the container would. */
    @Test
    void imageEntryPointsStartFromItsClassPath() throws Exception {
        Dockerfile d = Dockerfile.read(DOCKERFILE);
        List<String> entry = d.exec("ENTRYPOINT");
        for (String main : COMMANDS.keySet()) {
            List<String> cmd = new ArrayList<>(List.of(
                    Path.of(System.getProperty("java.home"), "bin", "java").toString()));
            for (String word : entry.subList(1, entry.size())) {
                cmd.add(
                        word.equals(IMAGE_CLASSPATH)
                                ? imageJars(d).stream()
                                        .map(Path::toString)
                                        .collect(Collectors.joining(java.io.File.pathSeparator))
                                : onHost(d, word));
            }
            cmd.addAll(List.of(main, "--help"));
            ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
            pb.environment().putAll(d.env());
            Process p = pb.start();
            String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            assertTrue(p.waitFor(60, java.util.concurrent.TimeUnit.SECONDS), main + " --help did not finish");
            assertEquals(0, p.exitValue(), main + " --help from the image's class path:\n" + out);
            assertTrue(out.contains("Usage:"), main + ": " + out);
            assertFalse(
                    out.contains("SLF4J(W)") || out.contains("No SLF4J providers"),
                    main + " has a logging backend: " + out);
        }
    }

    /** The jars the image puts on its class path: whatever the COPYs into its directory bring. */
    static List<Path> imageJars(Dockerfile d) throws IOException {
        String dir = IMAGE_CLASSPATH.substring(0, IMAGE_CLASSPATH.length() - 1);
        List<Path> jars = new ArrayList<>();
        for (Dockerfile.Copy c : d.copies()) {
            if (c.destination().equals(dir)) {
                try (Stream<Path> files = Files.list(Kustomize.REPO.resolve(c.source()))) {
                    files.filter(f -> f.toString().endsWith(".jar")).sorted().forEach(jars::add);
                }
            }
        }
        assertFalse(
                jars.isEmpty(),
                "the image's class path is empty: build it (mvn -B package -DskipTests -pl deploy/image -am)");
        return jars;
    }

    /** An ENTRYPOINT word with the image path of a copied file replaced by that file here. */
    static String onHost(Dockerfile d, String word) {
        for (Dockerfile.Copy c : d.copies()) {
            if (!c.destination().endsWith("/") && word.endsWith("=" + c.destination())) {
                return word.replace(
                        c.destination(), Kustomize.REPO.resolve(c.source()).toString());
            }
        }
        return word;
    }

    // ---- helpers -------------------------------------------------------------------------------

    static JsonNode podSpec(JsonNode workload) {
        return workload.at("/spec/template/spec");
    }

    static String mainClass(JsonNode container) {
        List<String> args = texts(container.path("args"));
        assertFalse(
                args.isEmpty(),
                "container " + container.path("name").asText() + " names its main class as the first argument");
        return args.get(0);
    }

    static JsonNode containerRunning(JsonNode workload, String mainClass) {
        for (JsonNode c : podSpec(workload).path("containers")) {
            if (mainClass.equals(mainClass(c))) {
                return c;
            }
        }
        throw new AssertionError(Kustomize.id(workload) + " runs no " + mainClass);
    }

    static JsonNode env(JsonNode container, String name) {
        for (JsonNode e : container.path("env")) {
            if (name.equals(e.path("name").asText())) {
                return e;
            }
        }
        throw new AssertionError("container " + container.path("name").asText() + " sets no " + name);
    }

    /** Every variable a container gets, from env and from the ConfigMaps of envFrom, with its literal value ("" if from a reference). */
    static Map<String, String> envNames(Kustomize k, JsonNode container) {
        Map<String, String> vars = new LinkedHashMap<>();
        for (JsonNode from : container.path("envFrom")) {
            String cm = from.at("/configMapRef/name").asText();
            if (!cm.isEmpty()) {
                k.get("ConfigMap", cm)
                        .path("data")
                        .properties()
                        .forEach(e -> vars.put(e.getKey(), e.getValue().asText()));
            }
        }
        for (JsonNode e : container.path("env")) {
            vars.put(e.path("name").asText(), e.path("value").asText(""));
        }
        return vars;
    }

    /**
     * The variables the service run by {@code mainClass} reads: its own (constants, and the
     * {@code ${env:...}} defaults of its options), DJL's cache directory, the image's log
     * level, and the java launcher's options.
     */
    static Set<String> variablesReadBy(String mainClass) throws IOException {
        // LD_PRELOAD: the dynamic loader preloads the MKL vendor shim, and Engines warns when it is missing
        Set<String> names = new HashSet<>(Set.of(
                KafkaSettings.BOOTSTRAP_ENV,
                Engines.THREADS_ENV,
                "JDK_JAVA_OPTIONS",
                "LD_PRELOAD",
                io.streamtrain.core.signing.Signing.KEY_ENV,
                io.streamtrain.core.signing.Signing.TRUSTED_ENV));
        Pattern env = Pattern.compile("\\$\\{env:([A-Za-z0-9_]+)");
        for (Field f : COMMANDS.get(mainClass).get().getClass().getDeclaredFields()) {
            CommandLine.Option o = f.getAnnotation(CommandLine.Option.class);
            Matcher m = env.matcher(o == null ? "" : o.defaultValue());
            while (m.find()) {
                names.add(m.group(1));
            }
        }
        try (var in = ai.djl.util.Utils.class.getResourceAsStream("Utils.class")) {
            if (new String(in.readAllBytes(), java.nio.charset.StandardCharsets.ISO_8859_1).contains("DJL_CACHE_DIR")) {
                names.add("DJL_CACHE_DIR");
            }
        }
        String logback = Files.readString(Kustomize.REPO.resolve("deploy/image/logback.xml"));
        for (String v : List.of("STREAMTRAIN_LOG_LEVEL", "STREAMTRAIN_LOG_FORMAT")) {
            if (logback.contains("${" + v)) {
                names.add(v);
            }
        }
        return names;
    }

    /** The container port the probes and scrapes must use: its port named metrics, which is the service's. */
    static int metricsPort(JsonNode container, String where) {
        int port = -1;
        for (JsonNode p : container.path("ports")) {
            if ("metrics".equals(p.path("name").asText())) {
                port = p.path("containerPort").asInt();
            }
        }
        int served = MetricsServer.DEFAULT_PORT;
        for (JsonNode e : container.path("env")) {
            if ("STREAMTRAIN_METRICS_PORT".equals(e.path("name").asText())) {
                served = Integer.parseInt(e.path("value").asText());
            }
        }
        assertEquals(served, port, where + ": the port named metrics is the one the service serves on");
        return port;
    }

    /** The path of an HTTP probe, after checking that it asks the metrics port. */
    static String probe(JsonNode container, String kind, int port, String where) {
        JsonNode get = container.path(kind).path("httpGet");
        assertFalse(get.isMissingNode(), where + ": an HTTP " + kind);
        JsonNode p = get.path("port");
        assertTrue(
                p.isInt() ? p.asInt() == port : "metrics".equals(p.asText()), where + ": " + kind + " asks port " + p);
        return get.path("path").asText();
    }

    /** The type (emptyDir, configMap, ...) of the volume mounted at {@code path} or a directory above it. */
    static String volumeTypeAt(JsonNode pod, JsonNode container, String path) {
        for (var it = volumeAt(pod, container, path).fieldNames(); it.hasNext(); ) {
            String field = it.next();
            if (!field.equals("name")) {
                return field;
            }
        }
        return "";
    }

    static JsonNode volumeAt(JsonNode pod, JsonNode container, String path) {
        assertTrue(path != null && path.startsWith("/"), "an absolute path: " + path);
        String best = null;
        String volume = null;
        for (JsonNode m : container.path("volumeMounts")) {
            String at = m.path("mountPath").asText();
            if ((path.equals(at) || path.startsWith(at.endsWith("/") ? at : at + "/"))
                    && (best == null || at.length() > best.length())) {
                best = at;
                volume = m.path("name").asText();
            }
        }
        assertTrue(volume != null, "container " + container.path("name").asText() + " mounts nothing at " + path);
        for (JsonNode v : pod.path("volumes")) {
            if (volume.equals(v.path("name").asText())) {
                return v;
            }
        }
        throw new AssertionError("no volume " + volume);
    }

    /** The run spec a trainer's --spec names, read from the ConfigMap mounted there, parsed as the trainer would. */
    static RunSpec runSpec(Kustomize k, JsonNode trainer) {
        JsonNode c = containerRunning(trainer, TRAINER_MAIN);
        CommandLine.ParseResult args = new CommandLine(new TrainerCommand())
                .parseArgs(texts(c.path("args")).stream().skip(1).toArray(String[]::new));
        Path spec = args.matchedOptionValue("--spec", (Path) null);
        assertTrue(spec != null && spec.isAbsolute(), k.name + ": --spec names a file in the pod");
        JsonNode volume = volumeAt(podSpec(trainer), c, spec.toString());
        String cm = volume.at("/configMap/name").asText();
        assertFalse(cm.isEmpty(), k.name + ": --spec " + spec + " is on a ConfigMap volume");
        String text = k.get("ConfigMap", cm).at("/data/" + spec.getFileName()).asText(null);
        assertTrue(text != null, k.name + ": ConfigMap " + cm + " has a key " + spec.getFileName());
        return RunSpecParser.parse(text);
    }

    static void assertSelects(JsonNode matchLabels, JsonNode workload, String what) {
        assertTrue(
                selects(matchLabels, workload),
                what + " selects the pods of " + Kustomize.id(workload) + " by labels: " + matchLabels + ", the pods' "
                        + workload.at("/spec/template/metadata/labels"));
    }

    /** The main class the image runs for a role, trainer or evaluator. */
    static String mainOf(String role) {
        return role.equals("trainer") ? TRAINER_MAIN : EVALUATOR_MAIN;
    }

    @SuppressWarnings(
            "RethrowReflectiveOperationExceptionAsLinkageError") // a missing field is this test's failure, not a
    // linkage error
    static Duration grace(String mainClass) {
        Class<?> command = COMMANDS.get(mainClass).get().getClass();
        try {
            Field f = command.getDeclaredField("GRACE");
            f.setAccessible(true);
            return (Duration) f.get(null);
        } catch (ReflectiveOperationException e) {
            throw new AssertionError(command.getSimpleName() + " has no GRACE: where is its SIGTERM budget now?", e);
        }
    }

    static String clusterOf(Kustomize k) {
        Set<String> clusters = k.objects.stream()
                .map(o -> o.at("/metadata/labels/strimzi.io~1cluster").asText())
                .filter(s -> !s.isEmpty())
                .collect(Collectors.toSet());
        assertEquals(1, clusters.size(), k.name + ": every Strimzi object names one cluster: " + clusters);
        return clusters.iterator().next();
    }

    static String acl(String type, String name, String pattern, String... operations) {
        return type + ":" + pattern + ":" + name + " " + new TreeSet<>(List.of(operations));
    }

    static List<String> fieldNames(JsonNode object) {
        List<String> names = new ArrayList<>();
        object.fieldNames().forEachRemaining(names::add);
        return names;
    }

    static List<String> texts(JsonNode array) {
        List<String> out = new ArrayList<>();
        array.forEach(n -> out.add(n.asText()));
        return out;
    }
}
