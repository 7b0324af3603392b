package io.streamtrain.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.streamtrain.deploy.PromQL.LabelMatcher;
import io.streamtrain.deploy.PromQL.Selector;
import io.streamtrain.testkit.MetricCatalogue;
import io.streamtrain.testkit.MetricCatalogue.Meter;
import io.streamtrain.testkit.MonitoringQueries;
import io.streamtrain.testkit.MonitoringQueries.Query;
import io.streamtrain.testkit.MonitoringQueries.Source;
import io.streamtrain.testkit.PrometheusFixture;
import io.streamtrain.testkit.Repo;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The dashboard and the rules in {@code deploy/}: promtool accepts the rules and their unit tests
 * pass; every alert is documented and tested; the dashboard is of the current schema and
 * complete; and both speak only of meters in {@link MetricCatalogue}, with the labels it lists.
 * Whether each expression returns data from a real run is {@code PrometheusFixture}'s to show.
 */
@Tag("integration")
class DeployMonitoringTest {
    private static final Path OPERATIONS = Repo.path("docs", "operations.md");
    private static final List<String> ROWS = List.of(
            "Overview", "Learning", "Regularization", "Throughput", "Kafka", "Checkpoints", "Continuous runs", "JVM");
    private static final Set<String> PANEL_TYPES = Set.of("timeseries", "stat");

    private final JsonNode dashboard = MonitoringQueries.readJson(MonitoringQueries.DASHBOARD);
    private final JsonNode rules = MonitoringQueries.readYaml(MonitoringQueries.RULES);

    @Test
    void promtoolChecksTheRules() throws Exception {
        promtool("check", "rules", MonitoringQueries.RULES.toString());
    }

    @Test
    void promtoolUnitTestsOfTheRulesPass() throws Exception {
        promtool("test", "rules", MonitoringQueries.RULE_TESTS.toString());
    }

    @Test
    void everyAlertHasASeverityASummaryADescriptionAndARunbookSection() throws IOException {
        Set<String> anchors = anchors(Files.readString(OPERATIONS));
        List<String> problems = new ArrayList<>();
        for (JsonNode rule : alerts()) {
            String name = rule.path("alert").asText();
            if (!Set.of("critical", "warning", "info")
                    .contains(rule.path("labels").path("severity").asText())) {
                problems.add(name + ": label severity must be critical, warning or info");
            }
            for (String key : List.of("summary", "description", "runbook_url")) {
                if (rule.path("annotations").path(key).asText().isBlank()) {
                    problems.add(name + ": no annotation " + key);
                }
            }
            String runbook = rule.path("annotations").path("runbook_url").asText();
            Matcher m = Pattern.compile("docs/operations\\.md#(.+)").matcher(runbook);
            if (!m.matches() || !anchors.contains(m.group(1))) {
                problems.add(name + ": runbook_url " + runbook + " is not a section of docs/operations.md (sections: "
                        + anchors + ")");
            } else if (!m.group(1).equals(name.toLowerCase(Locale.ROOT))) {
                problems.add(name + ": runbook_url should point at the section named after the alert");
            }
        }
        assertTrue(problems.isEmpty(), String.join("\n", problems));
    }

    @Test
    void everyAlertIsUnitTestedBothFiringAndSilent() {
        JsonNode tests = MonitoringQueries.readYaml(MonitoringQueries.RULE_TESTS);
        Set<String> fires = new HashSet<>();
        Set<String> silent = new HashSet<>();
        for (JsonNode test : tests.path("tests")) {
            for (JsonNode c : test.path("alert_rule_test")) {
                (c.path("exp_alerts").isEmpty() ? silent : fires)
                        .add(c.path("alertname").asText());
            }
        }
        List<String> problems = new ArrayList<>();
        for (JsonNode rule : alerts()) {
            String name = rule.path("alert").asText();
            if (!fires.contains(name)) {
                problems.add(name + ": no test case in which it fires");
            }
            if (!silent.contains(name)) {
                problems.add(name + ": no test case in which it stays silent");
            }
        }
        assertTrue(problems.isEmpty(), String.join("\n", problems));
    }

    @Test
    void theDashboardIsOfTheCurrentSchemaWithItsVariablesAndRows() {
        assertTrue(
                dashboard.path("schemaVersion").asInt() >= 39,
                "schemaVersion " + dashboard.path("schemaVersion") + " < 39");
        Map<String, JsonNode> variables = new LinkedHashMap<>();
        dashboard
                .path("templating")
                .path("list")
                .forEach(v -> variables.put(v.path("name").asText(), v));
        assertEquals(
                "datasource",
                variables.get("datasource").path("type").asText(),
                "a data source variable named datasource");
        assertEquals("prometheus", variables.get("datasource").path("query").asText());
        for (String name : List.of("run", "node")) {
            JsonNode v = variables.get(name);
            assertTrue(v != null, "template variable " + name);
            assertEquals("query", v.path("type").asText(), name);
            assertTrue(v.path("definition").asText().startsWith("label_values("), name + " comes from label_values");
            assertEquals(
                    "${datasource}",
                    v.path("datasource").path("uid").asText(),
                    name + " queries the chosen data source");
        }
        List<String> rows = new ArrayList<>();
        dashboard.path("panels").forEach(p -> {
            if (p.path("type").asText().equals("row")) {
                rows.add(p.path("title").asText());
            }
        });
        assertEquals(ROWS, rows);

        List<String> annotations = new ArrayList<>();
        dashboard
                .path("annotations")
                .path("list")
                .forEach(a -> annotations.add(a.path("expr").asText()));
        assertTrue(
                annotations.stream().anyMatch(e -> e.contains("increase(streamtrain_evaluator_early_stops_total")),
                "an early-stop annotation");
        assertTrue(
                annotations.stream().anyMatch(e -> e.contains("increase(streamtrain_trainer_control_commands_total")),
                "a control-command annotation");
    }

    @Test
    void everyPanelHasTheDataSourceQueriesAndAUnit() {
        List<String> problems = new ArrayList<>();
        Set<Integer> ids = new HashSet<>();
        for (JsonNode panel : panels()) {
            String title = panel.path("title").asText();
            if (!ids.add(panel.path("id").asInt())) {
                problems.add(title + ": id " + panel.path("id") + " is taken");
            }
            if (!panel.has("gridPos")) {
                problems.add(title + ": no gridPos");
            }
            if (panel.path("type").asText().equals("row")) {
                continue;
            }
            if (!PANEL_TYPES.contains(panel.path("type").asText())) {
                problems.add(title + ": panel type " + panel.path("type") + ", not one of " + PANEL_TYPES);
            }
            if (!panel.path("datasource").path("uid").asText().equals("${datasource}")) {
                problems.add(title + ": data source is not ${datasource}");
            }
            if (panel.path("fieldConfig").path("defaults").path("unit").asText().isBlank()) {
                problems.add(title + ": no unit");
            }
            if (panel.path("targets").isEmpty()) {
                problems.add(title + ": no targets");
            }
            for (JsonNode target : panel.path("targets")) {
                if (target.path("expr").asText().isBlank()) {
                    problems.add(title + " " + target.path("refId").asText() + ": no expr");
                }
                if (!target.path("datasource")
                        .path("uid")
                        .asText("${datasource}")
                        .equals("${datasource}")) {
                    problems.add(title + " " + target.path("refId").asText() + ": data source is not ${datasource}");
                }
            }
        }
        assertTrue(problems.isEmpty(), String.join("\n", problems));
    }

    @Test
    void theExtractorNamesEveryQueryAndLeavesNoVariable() {
        List<Query> queries = MonitoringQueries.all(MonitoringQueries.defaultVariables("demo"));
        long targets =
                panels().stream().mapToLong(p -> p.path("targets").size()).sum();
        assertEquals(
                targets,
                queries.stream().filter(q -> q.source() == Source.PANEL).count());
        assertEquals(
                alerts().size(),
                queries.stream().filter(q -> q.source() == Source.ALERT_RULE).count());
        assertEquals(
                2, queries.stream().filter(q -> q.source() == Source.ANNOTATION).count());
        assertEquals(
                2, queries.stream().filter(q -> q.source() == Source.VARIABLE).count());
        assertEquals(
                queries.size(), queries.stream().map(Query::name).distinct().count(), "names are unique");
        queries.forEach(q -> assertFalse(q.expr().contains("$"), q.toString()));
        assertTrue(
                queries.contains(
                        new Query(
                                Source.VARIABLE,
                                "variable $node",
                                "count by (node) ({__name__=~\"streamtrain_trainer_epoch|streamtrain_evaluator_epoch\", run=\"demo\"})")));
    }

    @Test
    void everyMetricIsInTheCatalogueWithTheLabelsItLists() {
        Set<String> recorded = new HashSet<>(MonitoringQueries.recordedNames(rules));
        List<String> problems = new ArrayList<>();
        for (Query q : MonitoringQueries.all(MonitoringQueries.defaultVariables("demo"))) {
            List<Selector> selectors;
            try {
                selectors = PromQL.selectors(q.expr());
            } catch (IllegalArgumentException e) {
                problems.add(q.name() + ": " + e.getMessage());
                continue;
            }
            for (Selector s : selectors) {
                if (s.metricNames().isEmpty()) {
                    problems.add(q.name() + ": a selector whose metric names cannot be read: " + s);
                }
                for (String name : s.metricNames()) {
                    if (!MetricCatalogue.known(name) && !recorded.contains(name)) {
                        problems.add(
                                q.name() + ": " + name + " is neither in the catalogue nor recorded by rules.yaml");
                    }
                    MetricCatalogue.meterOf(name).ifPresent(m -> problems.addAll(labelProblems(q, name, m, s)));
                }
            }
        }
        assertTrue(problems.isEmpty(), String.join("\n", problems));
    }

    @Test
    void theSelectorReaderSeesNamesAndMatchersNotFunctionsOrLabelLists() {
        List<Selector> s = PromQL.selectors("sum by (run, le) (rate(a_total{term=~\"l1|l2\", run=\"x\"}[5m] offset 1m))"
                + " / on (run) group_left (node) b unless {__name__=~\"c|d\"} > +Inf");
        assertEquals(
                List.of("a_total", "b", "c|d"),
                s.stream().map(x -> String.join("|", x.metricNames())).collect(Collectors.toList()));
        assertEquals(
                List.of(new LabelMatcher("term", "=~", "l1|l2"), new LabelMatcher("run", "=", "x")),
                s.get(0).matchers());
        assertEquals(List.of("l1", "l2"), s.get(0).matchers().get(0).values());
        assertEquals(List.of(), new LabelMatcher("topic", "!~", "streamtrain[._].*").values());
    }

    /** Labels a selector matches on must be the meter's; values of its enumerated labels must be ones it has. */
    private static List<String> labelProblems(Query q, String series, Meter meter, Selector s) {
        List<String> problems = new ArrayList<>();
        for (LabelMatcher m : s.matchers()) {
            if (m.label().equals("__name__")) {
                continue;
            }
            if (!meter.labelNames(series).contains(m.label())) {
                problems.add(q.name() + ": " + series + " has no label " + m.label() + " (it has "
                        + meter.labelNames(series) + ")");
            } else if (m.label().equals("role") && !m.values().equals(List.of(meter.role()))) {
                problems.add(q.name() + ": " + series + " belongs to role " + meter.role() + ", not " + m.value());
            } else if (meter.labels().containsKey(m.label())) {
                Set<String> allowed = meter.labels().get(m.label());
                if (m.values().isEmpty()) {
                    problems.add(q.name() + ": " + series + "{" + m.label() + m.op() + m.value()
                            + "} cannot be checked against " + allowed);
                }
                m.values().stream()
                        .filter(v -> !allowed.contains(v))
                        .forEach(v -> problems.add(q.name() + ": " + series + " has no " + m.label() + " \"" + v
                                + "\" (it has " + allowed + ")"));
            }
        }
        return problems;
    }

    private List<JsonNode> alerts() {
        List<JsonNode> alerts = new ArrayList<>();
        rules.path("groups")
                .forEach(g -> g.path("rules").forEach(r -> {
                    if (r.has("alert")) {
                        alerts.add(r);
                    }
                }));
        return alerts;
    }

    /** Every panel, those inside collapsed rows too. */
    private List<JsonNode> panels() {
        List<JsonNode> panels = new ArrayList<>();
        dashboard.path("panels").forEach(p -> {
            panels.add(p);
            p.path("panels").forEach(panels::add);
        });
        return panels;
    }

    /** GitHub's anchors of a Markdown file's headings. */
    private static Set<String> anchors(String markdown) {
        return markdown.lines()
                .filter(l -> l.startsWith("#"))
                .map(l -> l.replaceFirst("^#+\\s*", "")
                        .strip()
                        .toLowerCase(Locale.ROOT)
                        .replaceAll("[^\\p{L}\\p{N} _-]", "")
                        .replace(' ', '-'))
                .collect(Collectors.toSet());
    }

    /** Runs promtool from the module directory; fails with its output unless it exits 0. */
    private static void promtool(String... args) throws IOException, InterruptedException {
        List<String> cmd =
                new ArrayList<>(List.of(PrometheusFixture.binary("promtool").toString()));
        cmd.addAll(List.of(args));
        Path log = Files.createTempFile("promtool", ".log");
        try {
            Process p = new ProcessBuilder(cmd)
                    .redirectErrorStream(true)
                    .redirectOutput(log.toFile())
                    .start();
            boolean done = p.waitFor(2, TimeUnit.MINUTES);
            if (!done) {
                p.destroyForcibly();
            }
            String output = Files.readString(log);
            assertTrue(done, String.join(" ", cmd) + " did not finish within 2 minutes; output:\n" + output);
            assertEquals(0, p.exitValue(), String.join(" ", cmd) + " failed:\n" + output);
        } finally {
            Files.deleteIfExists(log);
        }
    }
}
