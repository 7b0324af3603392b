package io.streamtrain.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.testkit.MonitoringQueries;
import io.streamtrain.testkit.MonitoringQueries.Query;
import io.streamtrain.testkit.PrometheusFixture;
import io.streamtrain.testkit.PrometheusFixture.QueryException;
import io.streamtrain.testkit.PrometheusFixture.Rule;
import io.streamtrain.testkit.PrometheusFixture.Sample;
import io.streamtrain.testkit.PrometheusFixture.Series;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The fixture against the real binary, Prometheus scraping its own {@code /metrics}; and every
 * expression of the dashboard and the rules run through it, so that each one at least parses and
 * evaluates (returning data needs the services' meters: that is the end-to-end test's part).
 */
@Tag("integration")
class PrometheusFixtureTest {
    private static PrometheusFixture prometheus;

    @BeforeAll
    static void start() throws Exception {
        prometheus = PrometheusFixture.builder()
                .optScrapeSelf()
                .optRuleFile(MonitoringQueries.RULES)
                .start();
        prometheus.awaitTargetsUp(Duration.ofSeconds(30));
    }

    @AfterAll
    static void stop() {
        if (prometheus != null) {
            prometheus.close();
        }
    }

    @Test
    void scrapesItselfAndAnswersInstantAndRangeQueries() throws Exception {
        List<Sample> up = prometheus.query("up");
        assertEquals(1, up.size(), up.toString());
        assertEquals(1.0, up.get(0).value());
        assertEquals("prometheus", up.get(0).labels().get("job"));
        assertEquals(prometheus.uri().getAuthority(), up.get(0).labels().get("instance"));

        await(() -> prometheus.query("count_over_time(up[1m])").get(0).value() >= 5, "five scrapes");
        Instant now = Instant.now();
        List<Series> range = prometheus.queryRange("up", now.minusSeconds(30), now, Duration.ofSeconds(1));
        assertEquals(1, range.size());
        assertTrue(range.get(0).points().size() >= 3, range.toString());
        assertTrue(range.get(0).points().stream().allMatch(p -> p.value() == 1.0), range.toString());

        List<Sample> scalar = prometheus.query("time()");
        assertEquals(1, scalar.size());
        assertTrue(scalar.get(0).labels().isEmpty());
        assertTrue(Math.abs(scalar.get(0).value() - Instant.now().getEpochSecond()) < 60, scalar.toString());
        assertTrue(Double.isNaN(prometheus.query("vector(0) / 0").get(0).value()));
        assertEquals(
                Double.POSITIVE_INFINITY,
                prometheus.query("vector(1) / 0").get(0).value());
        assertTrue(prometheus.targetsUp());
    }

    @Test
    void aQueryPrometheusRefusesNamesItsError() {
        QueryException e = assertThrows(QueryException.class, () -> prometheus.query("sum(rate(up[1m])"));
        assertEquals("bad_data", e.errorType());
        assertTrue(e.getMessage().contains("parse error"), e.getMessage());
    }

    @Test
    void aMissingBinaryFailsNamingTheDebianPackage() {
        AssertionError e =
                assertThrows(AssertionError.class, () -> PrometheusFixture.binary("no-such-prometheus-tool"));
        assertTrue(e.getMessage().contains("Debian package `prometheus`"), e.getMessage());
    }

    @Test
    void everyDashboardAndRuleExpressionEvaluates() {
        Instant now = Instant.now();
        List<String> failures = new ArrayList<>();
        for (Query q : MonitoringQueries.all(MonitoringQueries.defaultVariables("demo"))) {
            try {
                prometheus.query(q.expr());
                prometheus.queryRange(q.expr(), now.minusSeconds(60), now, Duration.ofSeconds(5));
            } catch (QueryException e) {
                failures.add(q.name() + ": " + e.getMessage());
            }
        }
        assertTrue(failures.isEmpty(), String.join("\n", failures));
    }

    @Test
    void everyRuleEvaluatesWithoutError() throws Exception {
        await(
                () -> prometheus.rules().stream().noneMatch(r -> r.health().equals("unknown")),
                "every rule evaluated once");
        List<Rule> rules = prometheus.rules();
        assertEquals(
                MonitoringQueries.rules(MonitoringQueries.readYaml(MonitoringQueries.RULES))
                        .size(),
                rules.size(),
                prometheus.log());
        List<Rule> failing =
                rules.stream().filter(r -> !r.health().equals("ok")).toList();
        assertTrue(failing.isEmpty(), failing.toString());
    }

    private static void await(BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("not within 30 s: " + what + "; prometheus log:\n" + prometheus.log());
            }
            Thread.sleep(200);
        }
    }
}
