package io.streamtrain.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Kubernetes objects checked against the schemas of the APIs they name — the Kubernetes API,
 * Strimzi's and the Prometheus Operator's CRDs — by deploy/validate/validate.mjs, which runs on
 * Node.js with the npm packages deploy/validate/package.json pins. A missing Node.js or package
 * fails the test, saying how to install it.
 */
final class ManifestSchemas {
    static final Path DIR = Kustomize.REPO.resolve("deploy/validate");
    static final String INSTALL =
            "install Node.js 20 or later (Debian package nodejs) and the validator's npm packages:"
                    + " npm ci --prefix deploy/validate (.ci/run does both)";
    private static final ObjectMapper JSON = new ObjectMapper();

    /** What the validator found wrong with one object ({@code Kind/name}); nothing when it is valid. */
    record Result(String object, List<String> errors) {}

    private final String node;
    private final Path dir;

    /** The validator of deploy/validate, run by the {@code node} on the PATH. */
    ManifestSchemas() {
        this("node", DIR);
    }

    /** The validator in {@code dir}, run by {@code node}: for the tests of what happens when either is missing. */
    ManifestSchemas(String node, Path dir) {
        this.node = node;
        this.dir = dir;
    }

    /** The npm packages that hold the schemas, with the versions package.json pins. */
    Map<String, String> pinned() {
        try {
            Map<String, String> versions = new TreeMap<>();
            JSON.readTree(dir.resolve("package.json").toFile())
                    .path("dependencies")
                    .properties()
                    .forEach(e -> versions.put(e.getKey(), e.getValue().asText()));
            return versions;
        } catch (IOException e) {
            throw new AssertionError("cannot read " + dir.resolve("package.json") + ": " + e.getMessage(), e);
        }
    }

    /** One result per object, in order. */
    List<Result> validate(List<JsonNode> objects) {
        assertTrue(
                Files.isDirectory(dir.resolve("node_modules")),
                "the schema validator's packages are not installed in " + dir + ": " + INSTALL);
        String out;
        try {
            out = Tool.run(
                    INSTALL,
                    JSON.writeValueAsBytes(objects),
                    List.of(node, dir.resolve("validate.mjs").toString()));
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        JsonNode report;
        try {
            report = JSON.readTree(out);
        } catch (IOException e) {
            throw new AssertionError("validate.mjs printed what is not JSON: " + out, e);
        }
        Map<String, String> installed = new TreeMap<>();
        report.path("packages")
                .properties()
                .forEach(e -> installed.put(e.getKey(), e.getValue().asText()));
        assertEquals(pinned(), installed, "the installed schema packages are not the pinned ones: " + INSTALL);

        List<Result> results = new ArrayList<>();
        for (JsonNode r : report.path("results")) {
            List<String> errors = new ArrayList<>();
            r.path("errors").forEach(e -> errors.add(e.asText()));
            results.add(new Result(r.path("object").asText(), errors));
        }
        assertEquals(objects.size(), results.size(), "validate.mjs answers for every object");
        return results;
    }
}
