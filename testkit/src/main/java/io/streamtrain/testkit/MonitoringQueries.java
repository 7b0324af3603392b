package io.streamtrain.testkit;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Every PromQL expression of the Grafana dashboard and the Prometheus rules in {@code deploy/},
 * each with a name that says where it is (the panel's title, the rule's name), and with Grafana's
 * template variables filled in so that Prometheus can run it as it is.
 */
public final class MonitoringQueries {
    /** The files, as seen from a module's directory (where surefire runs the tests). */
    public static final Path DASHBOARD = Repo.path("deploy", "grafana", "streamtrain.json");

    public static final Path RULES = Repo.path("deploy", "prometheus", "rules.yaml");
    public static final Path RULE_TESTS = Repo.path("deploy", "prometheus", "rules.test.yaml");

    /** Where an expression comes from. */
    public enum Source {
        PANEL,
        ANNOTATION,
        VARIABLE,
        RECORDING_RULE,
        ALERT_RULE
    }

    /** One expression: {@code name} says where it is, e.g. {@code panel "Step time" (Throughput) B}. */
    public record Query(Source source, String name, String expr) {
        @Override
        public String toString() {
            return name + ": " + expr;
        }
    }

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

    /** {@code $name}, {@code ${name}}, {@code ${name:format}} and {@code [[name]]}. */
    private static final Pattern VARIABLE = Pattern.compile("\\$\\{(\\w+)(?::\\w+)?}|\\$(\\w+)|\\[\\[(\\w+)]]");

    /** {@code label_values(selector, label)} or {@code label_values(label)}. */
    private static final Pattern LABEL_VALUES =
            Pattern.compile("label_values\\((?:(.*),)?\\s*(\\w+)\\s*\\)", Pattern.DOTALL);

    private MonitoringQueries() {}

    /**
     * Values for the dashboard's variables that make sense against a short run scraped often:
     * the given run, every node, and for Grafana's own variables what a 1 s scrape interval and a
     * one-hour range give. Copy and change what a test needs otherwise (e.g. {@code __rate_interval}).
     */
    public static Map<String, String> defaultVariables(String run) {
        Map<String, String> v = new LinkedHashMap<>();
        v.put("run", run);
        v.put("node", ".*");
        v.put("__rate_interval", "1m");
        v.put("__interval", "15s");
        v.put("__interval_ms", "15000");
        v.put("__range", "1h");
        v.put("__range_s", "3600");
        v.put("__range_ms", "3600000");
        return Map.copyOf(v);
    }

    /** Every expression of the dashboard and the rules files. */
    public static List<Query> all(Map<String, String> variables) {
        List<Query> all = new ArrayList<>(dashboard(readJson(DASHBOARD), variables));
        all.addAll(rules(readYaml(RULES)));
        return all;
    }

    /** The dashboard's panel targets, annotation queries and variable queries. */
    public static List<Query> dashboard(JsonNode dashboard, Map<String, String> variables) {
        List<Query> queries = new ArrayList<>();
        String row = "";
        for (JsonNode panel : dashboard.path("panels")) {
            if (panel.path("type").asText().equals("row")) {
                row = panel.path("title").asText();
                for (JsonNode nested : panel.path("panels")) { // a collapsed row keeps its panels inside
                    addTargets(queries, nested, row, variables);
                }
            } else {
                addTargets(queries, panel, row, variables);
            }
        }
        for (JsonNode annotation : dashboard.path("annotations").path("list")) {
            if (annotation.hasNonNull("expr")) {
                queries.add(new Query(
                        Source.ANNOTATION,
                        "annotation \"" + annotation.path("name").asText() + "\"",
                        substitute(annotation.path("expr").asText(), variables)));
            }
        }
        for (JsonNode variable : dashboard.path("templating").path("list")) {
            if (variable.path("type").asText().equals("query")) {
                queries.add(new Query(
                        Source.VARIABLE,
                        "variable $" + variable.path("name").asText(),
                        substitute(variableQuery(variable), variables)));
            }
        }
        return queries;
    }

    /** Every recording and alerting rule of a rules file. */
    public static List<Query> rules(JsonNode rules) {
        List<Query> queries = new ArrayList<>();
        for (JsonNode group : rules.path("groups")) {
            for (JsonNode rule : group.path("rules")) {
                boolean alert = rule.has("alert");
                String name = alert
                        ? rule.path("alert").asText()
                        : rule.path("record").asText();
                String labels = rule.path("labels").isEmpty() || alert ? "" : " " + rule.path("labels");
                queries.add(new Query(
                        alert ? Source.ALERT_RULE : Source.RECORDING_RULE,
                        (alert ? "alert " : "recording rule ") + name + labels,
                        rule.path("expr").asText().strip()));
            }
        }
        return queries;
    }

    /** The names the rules record: series the dashboard may use besides the catalogue's. */
    public static List<String> recordedNames(JsonNode rules) {
        List<String> names = new ArrayList<>();
        rules.path("groups")
                .forEach(g -> g.path("rules").forEach(r -> {
                    if (r.has("record") && !names.contains(r.path("record").asText())) {
                        names.add(r.path("record").asText());
                    }
                }));
        return names;
    }

    /** {@code expr} with every template variable replaced; a variable without a value is an error naming it. */
    public static String substitute(String expr, Map<String, String> variables) {
        Matcher m = VARIABLE.matcher(expr);
        StringBuilder out = new StringBuilder();
        while (m.find()) {
            String name = m.group(1) != null ? m.group(1) : m.group(2) != null ? m.group(2) : m.group(3);
            String value = variables.get(name);
            if (value == null) {
                throw new IllegalArgumentException("no value for template variable $" + name + " in: " + expr);
            }
            m.appendReplacement(out, Matcher.quoteReplacement(value));
        }
        m.appendTail(out);
        return out.toString();
    }

    public static JsonNode readJson(Path file) {
        try {
            return JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
    }

    public static JsonNode readYaml(Path file) {
        try {
            return YAML.readTree(file.toFile());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
    }

    private static void addTargets(List<Query> queries, JsonNode panel, String row, Map<String, String> variables) {
        for (JsonNode target : panel.path("targets")) {
            String name = "panel \"" + panel.path("title").asText() + "\" (" + row + ") "
                    + target.path("refId").asText();
            queries.add(
                    new Query(Source.PANEL, name, substitute(target.path("expr").asText(), variables)));
        }
    }

    /**
     * A variable's query as PromQL: Grafana's {@code label_values(selector, label)} becomes
     * {@code count by (label) (selector)}, which has a sample for each value the variable offers.
     */
    private static String variableQuery(JsonNode variable) {
        JsonNode query = variable.path("query");
        String text = query.isTextual()
                ? query.asText()
                : query.path("query").asText(variable.path("definition").asText());
        Matcher m = LABEL_VALUES.matcher(text.strip());
        if (!m.matches()) {
            throw new IllegalArgumentException("variable $"
                    + variable.path("name").asText() + ": only label_values(...) queries are understood, not " + text);
        }
        String selector =
                m.group(1) == null ? "{" + m.group(2) + "!=\"\"}" : m.group(1).strip();
        return "count by (" + m.group(2) + ") (" + selector + ")";
    }
}
