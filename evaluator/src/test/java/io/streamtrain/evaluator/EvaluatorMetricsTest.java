package io.streamtrain.evaluator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.streamtrain.core.evaluation.BestCheckpoint;
import io.streamtrain.core.evaluation.EvaluationRecord;
import io.streamtrain.evaluator.policy.StopReason;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** The evaluator's meters, fed by its events; their names are what the README table and the dashboards query. */
class EvaluatorMetricsTest {
    static final Set<String> PER_RUN = Set.of(
            "streamtrain.evaluator.evaluations",
            "streamtrain.evaluator.promotions",
            "streamtrain.evaluator.last.promotion.timestamp",
            "streamtrain.evaluator.degrading",
            "streamtrain.evaluator.evaluation",
            "streamtrain.evaluator.checkpoints.rejected",
            "streamtrain.evaluator.early.stops",
            "streamtrain.evaluator.val.loss",
            "streamtrain.evaluator.train.loss",
            "streamtrain.evaluator.epoch",
            "streamtrain.evaluator.best.value",
            "streamtrain.evaluator.best.epoch",
            "streamtrain.evaluator.patience.remaining",
            "streamtrain.evaluator.last.evaluation.timestamp",
            "streamtrain.evaluator.stopped");

    final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    final EvaluatorMetrics metrics = new EvaluatorMetrics();

    static EvaluationRecord evaluated(int epoch, String stopReason) {
        return EvaluationRecord.evaluated(
                "r",
                epoch,
                "r-e" + epoch,
                Map.of("val_loss", 0.5, "val_accuracy", 0.75, "val_perplexity", 1.6),
                0.25,
                new BestCheckpoint(1, "r-e1", "val_loss", 0.375),
                1,
                2,
                stopReason,
                "why",
                0.125,
                null);
    }

    Set<String> names() {
        return registry.getMeters().stream()
                .map(m -> m.getId().getName())
                .collect(Collectors.toCollection(TreeSet::new));
    }

    double gauge(String name) {
        return registry.get("streamtrain.evaluator." + name)
                .tag("run", "r")
                .gauge()
                .value();
    }

    @Test
    void aRunServedHasEveryMeterWithADescriptionAndItsReasonsCountedFromZero() {
        metrics.bindTo(registry);
        metrics.serving("r");

        assertEquals(new TreeSet<>(PER_RUN), names());
        for (Meter m : registry.getMeters()) {
            assertNotNull(m.getId().getDescription(), m.getId().getName());
            assertEquals("r", m.getId().getTag("run"));
        }
        assertEquals(
                Rejection.values().length,
                registry.find("streamtrain.evaluator.checkpoints.rejected")
                        .counters()
                        .size());
        assertEquals(
                StopReason.values().length,
                registry.find("streamtrain.evaluator.early.stops").counters().size());
        assertEquals(
                "seconds",
                registry.get("streamtrain.evaluator.last.evaluation.timestamp")
                        .gauge()
                        .getId()
                        .getBaseUnit());
        assertTrue(Double.isNaN(gauge("val.loss")), "nothing evaluated yet");
    }

    @Test
    void anEvaluationShowsOnTheGaugesAndCountsOnce() {
        metrics.bindTo(registry);
        EvaluationRecord e = evaluated(3, null);
        metrics.committed(e);
        metrics.committed(EvaluationRecord.rejected("r", 4, "r-e4", "checkpoint-rejected", "bad", null));
        metrics.rejected("r", Rejection.CORRUPT);

        assertTrue(
                names().containsAll(
                                Set.of("streamtrain.evaluator.val.accuracy", "streamtrain.evaluator.val.perplexity")),
                "a classifier's run has its accuracy and perplexity too: " + names());
        assertEquals(
                1,
                registry.get("streamtrain.evaluator.evaluations").counter().count(),
                "a rejection is not an evaluation");
        assertEquals(1, registry.get("streamtrain.evaluator.evaluation").timer().count());
        assertEquals(
                1,
                registry.get("streamtrain.evaluator.checkpoints.rejected")
                        .tag("reason", "corrupt")
                        .counter()
                        .count());
        assertEquals(0.5, gauge("val.loss"));
        assertEquals(0.75, gauge("val.accuracy"));
        assertEquals(0.25, gauge("train.loss"));
        assertEquals(3, gauge("epoch"));
        assertEquals(0.375, gauge("best.value"));
        assertEquals(1, gauge("best.epoch"));
        assertEquals(2, gauge("patience.remaining"));
        assertEquals(java.time.Instant.parse(e.time()).toEpochMilli() / 1e3, gauge("last.evaluation.timestamp"));
        assertEquals(0, gauge("stopped"));
    }

    @Test
    void aContinuousRunsPromotionsAreCountedAndItsDecliningWindowsShow() {
        metrics.bindTo(registry);
        EvaluationRecord promoted = window(1, EvaluationRecord.PROMOTE, null);
        metrics.committed(promoted);
        metrics.committed(window(2, EvaluationRecord.DEGRADING, "patience-exhausted"));

        assertEquals(
                1, registry.get("streamtrain.evaluator.promotions").counter().count());
        assertEquals(java.time.Instant.parse(promoted.time()).toEpochMilli() / 1e3, gauge("last.promotion.timestamp"));
        assertEquals(1, gauge("degrading"));
        assertEquals(0, gauge("stopped"), "a degrading run is not stopped");
        metrics.committed(window(3, EvaluationRecord.PROMOTE, null));
        assertEquals(0, gauge("degrading"), "a promotion ends the decline");
        assertEquals(
                2, registry.get("streamtrain.evaluator.promotions").counter().count());
    }

    static EvaluationRecord window(int epoch, String decision, String reason) {
        return EvaluationRecord.window(
                "r",
                epoch,
                "r-w" + epoch,
                Map.of("val_loss", 0.5),
                0.25,
                new BestCheckpoint(1, "r-w1", "val_loss", 0.5),
                0,
                2,
                decision,
                reason,
                "why",
                0.125,
                null);
    }

    @Test
    void aRunStopsOnceWhoeverSaysItFirst() {
        metrics.bindTo(registry);
        metrics.committed(evaluated(5, "patience-exhausted"));
        metrics.stopped("r", "operator");

        assertEquals(1, gauge("stopped"));
        assertEquals(
                1,
                registry.get("streamtrain.evaluator.early.stops")
                        .tag("reason", "patience-exhausted")
                        .counter()
                        .count());
        assertEquals(
                0,
                registry.get("streamtrain.evaluator.early.stops")
                        .tag("reason", "operator")
                        .counter()
                        .count());
    }

    @Test
    void aRestoredRunShowsItsLastEvaluationWithoutCountingIt() {
        metrics.bindTo(registry);
        metrics.restored(evaluated(7, null));

        assertEquals(7, gauge("epoch"));
        assertEquals(
                0, registry.get("streamtrain.evaluator.evaluations").counter().count());
    }

    @Test
    void closeRemovesEveryMeterItRegistered() {
        registry.counter("someone.else");
        metrics.serving("early"); // before bindTo: its meters come with it
        metrics.bindTo(registry);
        metrics.committed(evaluated(1, null));
        assertTrue(names().contains("streamtrain.evaluator.val.perplexity"));
        assertEquals(
                Set.of("early", "r"),
                registry.find("streamtrain.evaluator.epoch").gauges().stream()
                        .map(g -> g.getId().getTag("run"))
                        .collect(Collectors.toSet()));

        metrics.close();

        assertEquals(Set.of("someone.else"), names());
        metrics.committed(evaluated(2, null));
        assertEquals(Set.of("someone.else"), names(), "nothing is registered after close");
    }
}
