package io.streamtrain.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import io.streamtrain.testkit.Repo;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** What {@code kubectl kustomize} renders from a directory of deploy/k8s, parsed, with the look-ups the tests need. */
final class Kustomize {
    static final Path REPO = Repo.root();
    static final Path K8S = REPO.resolve("deploy/k8s");
    static final List<String> WORKLOAD_KINDS = List.of("Job", "Deployment", "StatefulSet");

    private static final String INSTALL = "install kubectl 1.27 or later (it has kustomize v5 built in; your"
            + " distribution's package, or the Kubernetes release binary) and put it on the PATH";
    private static final YAMLMapper YAML = new YAMLMapper();
    private static final ObjectMapper JSON = new ObjectMapper();

    final String name;
    final List<JsonNode> objects;

    private Kustomize(String name, List<JsonNode> objects) {
        this.name = name;
        this.objects = objects;
    }

    /** Renders {@code dir}; fails the test, saying what to install, when kubectl is missing or too old. */
    static Kustomize render(Path dir) {
        requireKustomize5();
        String out = run("kubectl", "kustomize", dir.toString());
        try (var parser = new YAMLFactory().createParser(out)) {
            List<JsonNode> objects = new ArrayList<>();
            for (JsonNode n : YAML.readValues(parser, JsonNode.class).readAll()) {
                if (n != null && !n.isNull() && !n.isMissingNode()) {
                    objects.add(n);
                }
            }
            assertTrue(!objects.isEmpty(), dir + " renders nothing");
            return new Kustomize(K8S.relativize(dir).toString(), objects);
        } catch (IOException e) {
            throw new AssertionError("kubectl kustomize " + dir + " printed what is not YAML: " + e.getMessage(), e);
        }
    }

    private static void requireKustomize5() {
        String version = run("kubectl", "version", "--client", "-o", "json");
        try {
            String kustomize = JSON.readTree(version).path("kustomizeVersion").asText("");
            Matcher m = Pattern.compile("v(\\d+)\\.").matcher(kustomize);
            if (!m.find() || Integer.parseInt(m.group(1)) < 5) {
                fail("kubectl's kustomize is " + (kustomize.isEmpty() ? "unknown" : kustomize)
                        + "; deploy/k8s uses components and replacements of kustomize v5: " + INSTALL);
            }
        } catch (IOException e) {
            fail("kubectl version printed what is not JSON: " + version);
        }
    }

    private static String run(String... command) {
        return Tool.run("the deployment tests render deploy/k8s with it; " + INSTALL, new byte[0], List.of(command));
    }

    List<JsonNode> ofKind(String kind) {
        return objects.stream()
                .filter(o -> kind.equals(o.path("kind").asText()))
                .toList();
    }

    Optional<JsonNode> find(String kind, String objectName) {
        return ofKind(kind).stream()
                .filter(o -> objectName.equals(o.at("/metadata/name").asText()))
                .findFirst();
    }

    JsonNode get(String kind, String objectName) {
        return find(kind, objectName)
                .orElseThrow(() -> new AssertionError(name + " renders no " + kind + " " + objectName));
    }

    /** The Jobs, Deployments and StatefulSets. */
    List<JsonNode> workloads() {
        return objects.stream()
                .filter(o -> WORKLOAD_KINDS.contains(o.path("kind").asText()))
                .toList();
    }

    /** The one workload whose pods carry {@code app.kubernetes.io/component: component}. */
    JsonNode workload(String component) {
        List<JsonNode> found = workloads().stream()
                .filter(w -> component.equals(w.at("/spec/template/metadata/labels/app.kubernetes.io~1component")
                        .asText()))
                .toList();
        assertEquals(1, found.size(), name + ": workloads of component " + component);
        return found.get(0);
    }

    static String id(JsonNode o) {
        return o.path("kind").asText() + "/" + o.at("/metadata/name").asText();
    }
}
