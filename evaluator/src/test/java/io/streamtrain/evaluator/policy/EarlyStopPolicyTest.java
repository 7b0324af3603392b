package io.streamtrain.evaluator.policy;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.core.spec.EarlyStoppingSpec;
import io.streamtrain.core.spec.RunSpecParser;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The policy against hand-made histories. Every expected value is worked out by hand in
 * the comments; most values are exact in binary (0.5, 0.25, 0.125, ...) so a boundary is
 * a boundary, not a rounding accident. "ref" is the value an evaluation must improve on.
 */
class EarlyStopPolicyTest {

    /** Plenty: only the tests about maxEpochs hit it. */
    static final int NO_LIMIT = 1000;

    /** The early-stopping section as the parser makes it, from YAML flow-mapping entries. */
    static EarlyStoppingSpec spec(String entries) {
        return RunSpecParser.parse(
                        "run: r\ndata: { train: t }\nmodel: { inputs: 1 }\nearlyStopping: { " + entries + " }\n")
                .earlyStopping();
    }

    static Evaluation ev(int epoch, double value) {
        return new Evaluation(epoch, "ck-" + epoch, value, Double.NaN);
    }

    static Evaluation ev(int epoch, double value, double trainLoss) {
        return new Evaluation(epoch, "ck-" + epoch, value, trainLoss);
    }

    /** Epochs 1, 2, ... with these monitored values. */
    static List<Evaluation> epochs(double... values) {
        List<Evaluation> h = new ArrayList<>();
        for (int i = 0; i < values.length; i++) {
            h.add(ev(i + 1, values[i]));
        }
        return h;
    }

    static Decision decide(String entries, double... values) {
        return EarlyStopPolicy.decide(spec(entries), NO_LIMIT, epochs(values));
    }

    static void assertStop(StopReason reason, int epoch, Decision d) {
        assertAll(
                () -> assertEquals(Verdict.STOP, d.verdict(), d.explanation()),
                () -> assertEquals(reason, d.reason(), d.explanation()),
                () -> assertEquals(epoch, d.epoch(), d.explanation()));
    }

    static void assertContinue(int epoch, Decision d) {
        assertAll(
                () -> assertEquals(Verdict.CONTINUE, d.verdict(), d.explanation()),
                () -> assertNull(d.reason()),
                () -> assertEquals(epoch, d.epoch()));
    }

    static void assertBest(int epoch, double value, Decision d) {
        assertEquals(new Best(epoch, "ck-" + epoch, value), d.best(), d.explanation());
    }

    @Nested
    class Patience {
        @Test
        void minModeStopsAfterPatienceEvaluationsWithoutImprovement() {
            // patience 2. e1 1.0: first value, ref 1.0. e2 0.5 < 1.0: improves, ref 0.5.
            // e3 0.75: no, wait 1. e4 0.625: no (0.625 > 0.5), wait 2 = patience: stop at 4.
            Decision d = decide("patience: 2", 1.0, 0.5, 0.75, 0.625);
            assertStop(StopReason.PATIENCE_EXHAUSTED, 4, d);
            assertBest(2, 0.5, d);
            assertEquals(2, d.waitCount());
            assertEquals(0, d.patienceLeft());
            assertEquals(
                    "val_loss 0.625 did not improve on the best 0.5 (epoch 2) by minDelta 0 for 2 evaluations",
                    d.explanation());
        }

        @Test
        void oneEvaluationEarlierItContinuesWithOneLeft() {
            // As above without e4: wait 1 of 2, one left.
            Decision d = decide("patience: 2", 1.0, 0.5, 0.75);
            assertContinue(3, d);
            assertEquals(1, d.waitCount());
            assertEquals(1, d.patienceLeft());
            assertBest(2, 0.5, d);
        }

        @Test
        void maxModeImprovesUpwardsAndATieIsNoImprovement() {
            // val_accuracy defaults to mode max. patience 2. e1 0.5 ref. e2 0.75 > 0.5: improves.
            // e3 0.625: wait 1. e4 0.75 is not > 0.75: wait 2, stop at 4; best stays e2 (tie: earliest).
            Decision d = decide("monitor: val_accuracy, patience: 2", 0.5, 0.75, 0.625, 0.75);
            assertStop(StopReason.PATIENCE_EXHAUSTED, 4, d);
            assertBest(2, 0.75, d);
        }

        @Test
        void maxModeKeepsGoingWhileItRises() {
            // Every value is above the last: four improvements, wait 0.
            Decision d = decide("monitor: val_accuracy, patience: 1", 0.25, 0.5, 0.75, 0.875);
            assertContinue(4, d);
            assertEquals(0, d.waitCount());
            assertBest(4, 0.875, d);
        }

        @Test
        void aFallingSeriesInMaxModeIsNoImprovement() {
            // Mode is a direction: in max mode a falling loss-like series never improves after e1.
            // patience 2: e2 wait 1, e3 wait 2, stop at 3; best is the highest, e1.
            Decision d = decide("monitor: val_loss, mode: max, patience: 2", 1.0, 0.5, 0.25);
            assertStop(StopReason.PATIENCE_EXHAUSTED, 3, d);
            assertBest(1, 1.0, d);
        }

        @Test
        void patienceZeroStopsAtTheFirstNonImprovement() {
            // patience 0 acts as 1. e1 ref 1.0, e2 0.5 improves, e3 0.75 does not: wait 1, stop at 3.
            Decision d = decide("patience: 0", 1.0, 0.5, 0.75);
            assertStop(StopReason.PATIENCE_EXHAUSTED, 3, d);
            assertEquals(1, d.waitCount());
            assertEquals(0, d.patienceLeft());
            assertBest(2, 0.5, d);
            // Before e3: two improvements, wait 0, one non-improvement left.
            Decision before = decide("patience: 0", 1.0, 0.5);
            assertContinue(2, before);
            assertEquals(1, before.patienceLeft());
        }

        @Test
        void theBestCheckpointIsTheLowestValLossOne() {
            // An overfitting run: patience 3. e1 1.0, e2 0.75, e3 0.5 improve (ref 0.5, best e3).
            // e4 0.625 wait 1; e5 0.5 ties the best (not < 0.5): wait 2, best stays e3 (earliest);
            // e6 0.75 wait 3: stop at 6. e7 is never looked at.
            Decision d = decide("patience: 3", 1.0, 0.75, 0.5, 0.625, 0.5, 0.75, 0.875);
            assertStop(StopReason.PATIENCE_EXHAUSTED, 6, d);
            assertBest(3, 0.5, d);
            assertEquals(3, d.waitCount());
        }

        @Test
        void emptyHistoryContinuesWithFullPatience() {
            Decision d = EarlyStopPolicy.decide(spec("patience: 3"), NO_LIMIT, List.of());
            assertContinue(0, d);
            assertNull(d.best());
            assertEquals(0, d.waitCount());
            assertEquals(3, d.patienceLeft());
        }
    }

    @Nested
    class MinDelta {
        @Test
        void anImprovementOfExactlyMinDeltaDoesNotCountInMinMode() {
            // minDelta 0.25, patience 1. e1 ref 1.0. e2 0.75 < 1.0 - 0.25 = 0.75? No: wait 1, stop at 2.
            // The best checkpoint is still the lower value, e2.
            Decision d = decide("minDelta: 0.25, patience: 1", 1.0, 0.75);
            assertStop(StopReason.PATIENCE_EXHAUSTED, 2, d);
            assertBest(2, 0.75, d);
        }

        @Test
        void anImprovementOfMoreThanMinDeltaCounts() {
            // minDelta 0.25, patience 1. e2 0.625 < 0.75: improves, wait 0.
            Decision d = decide("minDelta: 0.25, patience: 1", 1.0, 0.625);
            assertContinue(2, d);
            assertEquals(0, d.waitCount());
        }

        @Test
        void anImprovementOfExactlyMinDeltaDoesNotCountInMaxMode() {
            // val_accuracy (max), minDelta 0.125, patience 1. e2 0.625 > 0.5 + 0.125 = 0.625? No: stop at 2.
            Decision d = decide("monitor: val_accuracy, minDelta: 0.125, patience: 1", 0.5, 0.625);
            assertStop(StopReason.PATIENCE_EXHAUSTED, 2, d);
            assertBest(2, 0.625, d);
        }

        @Test
        void minDeltaIsMeasuredFromTheBestNotFromThePreviousEpoch() {
            // minDelta 0.25, patience 2. e1 ref 1.0. e2 2.0: wait 1. e3 1.5 is 0.5 below e2 (the
            // previous epoch) but not below 1.0 - 0.25: wait 2, stop at 3. DJL's listener, which
            // compares with the previous epoch, would have carried on.
            Decision d = decide("minDelta: 0.25, patience: 2", 1.0, 2.0, 1.5);
            assertStop(StopReason.PATIENCE_EXHAUSTED, 3, d);
            assertBest(1, 1.0, d);
        }

        @Test
        void smallStepsAddUpAgainstTheReference() {
            // minDelta 0.25, patience 3. e1 ref 2.0. e2 1.875: not < 1.75, wait 1 (best e2 though).
            // e3 1.625 < 1.75: improves, ref 1.625, wait 0. e4 1.5: not < 1.375, wait 1.
            // The best checkpoint is e4 (lowest), the reference stays e3.
            Decision d = decide("minDelta: 0.25, patience: 3", 2.0, 1.875, 1.625, 1.5);
            assertContinue(4, d);
            assertEquals(1, d.waitCount());
            assertEquals(2, d.patienceLeft());
            assertBest(4, 1.5, d);
            assertEquals(
                    "val_loss 1.5 at epoch 4 did not improve on the best 1.625 (epoch 3) by minDelta 0.25"
                            + " for 1 of 3 evaluations; best val_loss 1.5 (epoch 4)",
                    d.explanation());
        }
    }

    @Nested
    class Baseline {
        @Test
        void neverBeatenStopsAfterPatience() {
            // baseline 0.5, patience 3: e1 0.75, e2 0.625, e3 0.5625 are all above 0.5, so none
            // improves; each counts from epoch 1: wait 1, 2, 3, stop at 3. The best checkpoint is
            // still the lowest value, e3.
            Decision d = decide("baseline: 0.5, patience: 3", 0.75, 0.625, 0.5625);
            assertStop(StopReason.PATIENCE_EXHAUSTED, 3, d);
            assertBest(3, 0.5625, d);
            assertEquals(3, d.waitCount());
            assertTrue(d.explanation().contains("did not beat the baseline 0.5"), d.explanation());
        }

        @Test
        void beatingItResetsTheWait() {
            // baseline 0.5, patience 2: e1 0.75 wait 1; e2 0.375 < 0.5 improves, wait 0; e3 0.4375 wait 1.
            Decision d = decide("baseline: 0.5, patience: 2", 0.75, 0.375, 0.4375);
            assertContinue(3, d);
            assertEquals(1, d.waitCount());
            assertBest(2, 0.375, d);
        }

        @Test
        void equallingItIsNotBeatingIt() {
            // baseline 0.5, patience 1: e1 0.5 is not < 0.5: wait 1, stop at 1.
            Decision d = decide("baseline: 0.5, patience: 1", 0.5);
            assertStop(StopReason.PATIENCE_EXHAUSTED, 1, d);
            assertBest(1, 0.5, d);
        }

        @Test
        void countsOnlyFromStartFromEpoch() {
            // baseline 0.5, startFromEpoch 3, patience 2, every value 0.75: e1, e2 are warm-up
            // (wait 0); e3 wait 1, e4 wait 2: stop at 4.
            Decision d = decide("baseline: 0.5, startFromEpoch: 3, patience: 2", 0.75, 0.75, 0.75, 0.75);
            assertStop(StopReason.PATIENCE_EXHAUSTED, 4, d);
            assertBest(1, 0.75, d);
        }
    }

    @Nested
    class WarmUp {
        @Test
        void warmUpEpochsDoNotCountTowardsPatience() {
            // startFromEpoch 4, patience 1. e1 ref 1.0; e2 2.0 and e3 3.0 are worse but warm-up:
            // wait 0. e4 0.5 improves; e5 0.75 counts: wait 1, stop at 5. Without the warm-up
            // patience 1 would have stopped at e2.
            Decision d = decide("startFromEpoch: 4, patience: 1", 1.0, 2.0, 3.0, 0.5, 0.75);
            assertStop(StopReason.PATIENCE_EXHAUSTED, 5, d);
            assertBest(4, 0.5, d);
            Decision inWarmUp = decide("startFromEpoch: 4, patience: 1", 1.0, 2.0, 3.0);
            assertContinue(3, inWarmUp);
            assertEquals(0, inWarmUp.waitCount());
            assertTrue(inWarmUp.explanation().contains("warm-up"), inWarmUp.explanation());
        }

        @Test
        void warmUpEpochsCanSetTheBest() {
            // startFromEpoch 3, patience 1. e1 ref 2.0; e2 1.0 improves in the warm-up: ref and
            // best e2. e3 1.5 counts and does not improve on 1.0: wait 1, stop at 3.
            Decision d = decide("startFromEpoch: 3, patience: 1", 2.0, 1.0, 1.5);
            assertStop(StopReason.PATIENCE_EXHAUSTED, 3, d);
            assertBest(2, 1.0, d);
        }

        @Test
        void nonFiniteStopsEvenInTheWarmUp() {
            // startFromEpoch 5: the warm-up only exempts the criterion. e1 NaN: stop, no best.
            Decision d = decide("startFromEpoch: 5", Double.NaN);
            assertStop(StopReason.NON_FINITE, 1, d);
            assertNull(d.best());
        }
    }

    @Nested
    class NonFinite {
        @ParameterizedTest
        @ValueSource(doubles = {Double.NaN, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY})
        void stopsAtOnceAndKeepsTheBest(double bad) {
            // patience 3. e1 1.0, e2 0.5 (best). e3 non-finite: stop at 3 whatever the patience;
            // the non-finite value never becomes the best (not even -Infinity in min mode).
            Decision d = decide("patience: 3", 1.0, 0.5, bad);
            assertStop(StopReason.NON_FINITE, 3, d);
            assertBest(2, 0.5, d);
        }

        @Test
        void withCheckFiniteOffItOnlyCountsAsNoImprovement() {
            // checkFinite false, patience 2. e1 ref 1.0. e2 NaN: wait 1. e3 NaN: wait 2, stop at 3.
            Decision d = decide("checkFinite: false, patience: 2", 1.0, Double.NaN, Double.NaN);
            assertStop(StopReason.PATIENCE_EXHAUSTED, 3, d);
            assertBest(1, 1.0, d);
        }

        @Test
        void withCheckFiniteOffItReachesNoThreshold() {
            // -Infinity is not a goal reached; +Infinity is not counted as divergence either.
            Decision d = decide(
                    "checkFinite: false, patience: 5, stoppingThreshold: 0.25, divergenceThreshold: 4",
                    1.0,
                    Double.NEGATIVE_INFINITY,
                    Double.POSITIVE_INFINITY);
            assertContinue(3, d);
            assertEquals(2, d.waitCount());
        }
    }

    @Nested
    class Thresholds {
        @Test
        void divergenceInMinMode() {
            // divergenceThreshold 4. e1 2.0, e2 3.0, e3 4.0 is not worse than 4 (equal); e4 4.5 is: stop at 4.
            Decision d = decide("divergenceThreshold: 4, patience: 10", 2.0, 3.0, 4.0, 4.5);
            assertStop(StopReason.DIVERGENCE, 4, d);
            assertBest(1, 2.0, d);
            assertTrue(d.explanation().contains("divergenceThreshold 4"), d.explanation());
        }

        @Test
        void divergenceInMaxMode() {
            // val_accuracy (max), divergenceThreshold 0.25: e2 0.25 is equal, e3 0.125 is below: stop at 3.
            Decision d = decide("monitor: val_accuracy, divergenceThreshold: 0.25, patience: 10", 0.5, 0.25, 0.125);
            assertStop(StopReason.DIVERGENCE, 3, d);
            assertBest(1, 0.5, d);
        }

        @Test
        void thresholdReachedInMinMode() {
            // stoppingThreshold 0.25: e1 1.0, e2 0.5 not yet; e3 0.25 is at least as good: stop at 3.
            Decision d = decide("stoppingThreshold: 0.25", 1.0, 0.5, 0.25);
            assertStop(StopReason.THRESHOLD_REACHED, 3, d);
            assertBest(3, 0.25, d);
        }

        @Test
        void thresholdReachedInMaxMode() {
            // val_accuracy (max), stoppingThreshold 0.875: e3 0.9375 >= 0.875: stop at 3.
            Decision d = decide("monitor: val_accuracy, stoppingThreshold: 0.875", 0.5, 0.75, 0.9375);
            assertStop(StopReason.THRESHOLD_REACHED, 3, d);
            assertBest(3, 0.9375, d);
        }
    }

    @Nested
    class Precedence {
        @Test
        void nonFiniteBeforeMaxEpochs() {
            // maxEpochs 2 and e2 NaN: both apply, non-finite wins.
            Decision d = EarlyStopPolicy.decide(spec(""), 2, epochs(1.0, Double.NaN));
            assertStop(StopReason.NON_FINITE, 2, d);
        }

        @Test
        void divergenceBeforePatience() {
            // patience 1, divergenceThreshold 1.5: e2 2.0 is both a non-improvement and divergence.
            assertStop(StopReason.DIVERGENCE, 2, decide("patience: 1, divergenceThreshold: 1.5", 1.0, 2.0));
        }

        @Test
        void thresholdBeforePatience() {
            // minDelta 0.75, patience 1, stoppingThreshold 0.5: e2 0.5 improves by only 0.5 (not
            // > 0.75), so patience is exhausted, and it reaches the threshold: threshold wins.
            assertStop(
                    StopReason.THRESHOLD_REACHED,
                    2,
                    decide("minDelta: 0.75, patience: 1, stoppingThreshold: 0.5", 1.0, 0.5));
        }

        @Test
        void criterionBeforeMaxEpochs() {
            // maxEpochs 2, patience 1: e2 2.0 exhausts patience at the last epoch.
            Decision d = EarlyStopPolicy.decide(spec("patience: 1"), 2, epochs(1.0, 2.0));
            assertStop(StopReason.PATIENCE_EXHAUSTED, 2, d);
        }

        @Test
        void thresholdBeforeMaxEpochs() {
            Decision d = EarlyStopPolicy.decide(spec("stoppingThreshold: 0.5"), 2, epochs(1.0, 0.25));
            assertStop(StopReason.THRESHOLD_REACHED, 2, d);
        }
    }

    @Nested
    class MaxEpochs {
        @Test
        void stopsAtTheLastEpoch() {
            // maxEpochs 3, always improving: e3 is the last epoch: stop with max-epochs; best e3.
            Decision d = EarlyStopPolicy.decide(spec("patience: 10"), 3, epochs(1.0, 0.5, 0.25));
            assertStop(StopReason.MAX_EPOCHS, 3, d);
            assertBest(3, 0.25, d);
            assertEquals(0, d.waitCount());
        }

        @Test
        void continuesBeforeIt() {
            assertContinue(2, EarlyStopPolicy.decide(spec("patience: 10"), 3, epochs(1.0, 0.5)));
        }
    }

    @Nested
    class Disabled {
        @Test
        void neverStopsButStillReports() {
            // enabled false with every rule primed: patience 1 (e2 2.0 exhausts it), a NaN at e3,
            // stoppingThreshold 0.5 (e4 0.25 reaches it), maxEpochs 3 (passed). Still CONTINUE.
            // Best: e4 0.25. e5 3.0 does not improve on 0.25: wait 1.
            Decision d = EarlyStopPolicy.decide(
                    spec("enabled: false, patience: 1, stoppingThreshold: 0.5"),
                    3,
                    epochs(1.0, 2.0, Double.NaN, 0.25, 3.0));
            assertContinue(5, d);
            assertBest(4, 0.25, d);
            assertEquals(1, d.waitCount());
            assertTrue(d.explanation().startsWith("early stopping is disabled"), d.explanation());
        }
    }

    @Nested
    class GeneralizationLoss {
        @Test
        void stopsWhenGlCrossesAlpha() {
            // criterion gl, alpha 5 (default). E_opt is the lowest value so far.
            // e1 1.0: E_opt 1.0, GL 0. e2 0.5: E_opt 0.5, GL 0.
            // e3 0.515625: GL = 100·(0.515625/0.5 − 1) = 100·0.03125 = 3.125 <= 5: continue.
            // e4 0.53125:  GL = 100·(0.53125/0.5 − 1)  = 100·0.0625  = 6.25  >  5: stop at 4.
            Decision d = decide("criterion: gl", 1.0, 0.5, 0.515625, 0.53125);
            assertStop(StopReason.GENERALIZATION_LOSS, 4, d);
            assertBest(2, 0.5, d);
            assertTrue(d.explanation().contains("GL 6.25"), d.explanation());
            assertContinue(3, decide("criterion: gl", 1.0, 0.5, 0.515625));
        }

        @Test
        void alphaIsTheThreshold() {
            // alpha 10: e4 GL 6.25 passes; e5 0.5625: GL = 100·(1.125 − 1) = 12.5 > 10: stop at 5.
            Decision d = decide("criterion: gl, alpha: 10", 1.0, 0.5, 0.515625, 0.53125, 0.5625);
            assertStop(StopReason.GENERALIZATION_LOSS, 5, d);
        }

        @Test
        void patienceDoesNotApplyUnderGl() {
            // patience 1 would stop at e3, but the criterion is gl: GL stays 3.125 <= 5 for e3..e7.
            Decision d =
                    decide("criterion: gl, patience: 1", 1.0, 0.5, 0.515625, 0.515625, 0.515625, 0.515625, 0.515625);
            assertContinue(7, d);
            assertEquals(5, d.waitCount(), "wait is still reported");
        }

        @Test
        void warmUpExemptsTheCriterion() {
            // startFromEpoch 3: e2 0.75 has GL = 100·(0.75/0.5 − 1) = 50 but is warm-up. e3 0.5 is GL 0.
            Decision d = decide("criterion: gl, startFromEpoch: 3", 0.5, 0.75, 0.5);
            assertContinue(3, d);
            assertBest(1, 0.5, d);
        }
    }

    @Nested
    class ProgressQuotient {
        /**
         * criterion pq, alpha 0.5 (default), strip 2, so P_2(t) = 1000·((E_tr(t−1) + E_tr(t)) / (2·min) − 1).
         * <pre>
         * t  E_tr    E_va      E_opt  GL     P_2                                  GL/P_2
         * 1  1.0     1.0       1.0    0      undefined (no epoch 0)               -
         * 2  0.5     0.5       0.5    0      1000·(1.5/1.0 − 1)    = 500          0
         * 3  0.25    0.53125   0.5    6.25   1000·(0.75/0.5 − 1)   = 500          0.0125
         * 4  0.2     0.5625    0.5    12.5   1000·(0.45/0.4 − 1)   = 125          0.1
         * 5  0.19    0.5625    0.5    12.5   1000·(0.39/0.38 − 1)  ≈ 26.3          ≈ 0.475 (<= 0.5)
         * 6  0.189   0.5625    0.5    12.5   1000·(0.379/0.378 − 1) ≈ 2.65         ≈ 4.73 (> 0.5): stop
         * </pre>
         */
        static List<Evaluation> history() {
            return List.of(
                    ev(1, 1.0, 1.0),
                    ev(2, 0.5, 0.5),
                    ev(3, 0.53125, 0.25),
                    ev(4, 0.5625, 0.2),
                    ev(5, 0.5625, 0.19),
                    ev(6, 0.5625, 0.189));
        }

        @Test
        void stopsWhenTheQuotientCrossesAlpha() {
            Decision d = EarlyStopPolicy.decide(spec("criterion: pq, strip: 2"), NO_LIMIT, history());
            assertStop(StopReason.PROGRESS_QUOTIENT, 6, d);
            assertBest(2, 0.5, d);
            assertContinue(
                    5,
                    EarlyStopPolicy.decide(
                            spec("criterion: pq, strip: 2"), NO_LIMIT, history().subList(0, 5)));
        }

        @Test
        void aMissingTrainLossLeavesTheStripUndefined() {
            // e5 without a train loss: the strips {4,5} and {5,6} are undefined, so no stop at 6.
            List<Evaluation> h = new ArrayList<>(history());
            h.set(4, ev(5, 0.5625, Double.NaN));
            assertContinue(6, EarlyStopPolicy.decide(spec("criterion: pq, strip: 2"), NO_LIMIT, h));
        }

        @Test
        void noTrainingProgressStopsAsSoonAsGlIsPositive() {
            // Flat train loss 0.5, 0.5: P_2 = 1000·(1.0/1.0 − 1) = 0. e2 GL = 100·(0.75/0.5 − 1) = 50 > 0:
            // GL/P = +infinity > 0.5: stop at 2.
            Decision d = EarlyStopPolicy.decide(
                    spec("criterion: pq, strip: 2"), NO_LIMIT, List.of(ev(1, 0.5, 0.5), ev(2, 0.75, 0.5)));
            assertStop(StopReason.PROGRESS_QUOTIENT, 2, d);
        }
    }

    @Nested
    class SuccessiveIncreases {
        @Test
        void stopsAfterSIncreasesAtStripEnds() {
            // criterion up, strip 2, successive 2: strip ends are epochs 2, 4, 6, ...; stop at a
            // strip end t when E(t) > E(t−2) > E(t−4).
            // E: e1 1.0, e2 0.5, e3 0.75, e4 0.625, e5 0.25, e6 0.6875.
            // t=2: needs epoch −2: no. t=4: needs epoch 0: no. t=6: 0.6875 > 0.625 > 0.5: stop at 6.
            // e5 (0.25, the best) lies inside a strip and does not break the chain.
            Decision d = decide("criterion: up, strip: 2, successive: 2", 1.0, 0.5, 0.75, 0.625, 0.25, 0.6875);
            assertStop(StopReason.SUCCESSIVE_INCREASES, 6, d);
            assertBest(5, 0.25, d);
            assertTrue(d.explanation().contains("0.5 (epoch 2) < 0.625 (epoch 4) < 0.6875 (epoch 6)"), d.explanation());
        }

        @Test
        void aBrokenChainDoesNotStop() {
            // As above with e6 0.5625 < E(4) 0.625: no stop at 6. e7 0.875, e8 0.59375:
            // t=8: 0.59375 > 0.5625 but 0.5625 > 0.625 fails: no stop.
            Decision d = decide(
                    "criterion: up, strip: 2, successive: 2", 1.0, 0.5, 0.75, 0.625, 0.25, 0.5625, 0.875, 0.59375);
            assertContinue(8, d);
        }

        @Test
        void oneIncreaseIsEnoughForUp1() {
            // successive 1, strip 2: t=4: E(4) 0.625 > E(2) 0.5: stop at 4.
            assertStop(
                    StopReason.SUCCESSIVE_INCREASES,
                    4,
                    decide("criterion: up, strip: 2, successive: 1", 1.0, 0.5, 0.25, 0.625));
        }

        @Test
        void aMissingStripEndBreaksTheChain() {
            // Same rising strip ends as the first test, but epoch 4 was never evaluated.
            List<Evaluation> h = new ArrayList<>(epochs(1.0, 0.5, 0.75, 0.625, 0.25, 0.6875));
            h.remove(3);
            assertContinue(6, EarlyStopPolicy.decide(spec("criterion: up, strip: 2, successive: 2"), NO_LIMIT, h));
        }
    }

    @Nested
    class History {
        @Test
        void aRepeatedEpochKeepsItsFirstEvaluation() {
            // Epoch 2 twice: 0.5 (ck-2) first, then 0.25 (ck-2b), which is ignored.
            // patience 1: e3 0.75 does not improve on 0.5: stop at 3 with best ck-2.
            List<Evaluation> h =
                    List.of(ev(1, 1.0), ev(2, 0.5), new Evaluation(2, "ck-2b", 0.25, Double.NaN), ev(3, 0.75));
            Decision d = EarlyStopPolicy.decide(spec("patience: 1"), NO_LIMIT, h);
            assertStop(StopReason.PATIENCE_EXHAUSTED, 3, d);
            assertBest(2, 0.5, d);
        }

        @Test
        void outOfOrderHistoryIsReplayedInEpochOrder() {
            List<Evaluation> ordered = epochs(1.0, 0.5, 0.75, 0.625);
            List<Evaluation> shuffled = List.of(ordered.get(2), ordered.get(0), ordered.get(3), ordered.get(1));
            EarlyStoppingSpec s = spec("patience: 2");
            assertEquals(EarlyStopPolicy.decide(s, NO_LIMIT, ordered), EarlyStopPolicy.decide(s, NO_LIMIT, shuffled));
        }

        @Test
        void evaluationsAfterAStopDoNotChangeIt() {
            // patience 1: e2 2.0 stops the run. e3 0.25 (a checkpoint that arrived after the STOP)
            // changes neither the reason, the epoch nor the best.
            Decision d = decide("patience: 1", 1.0, 2.0, 0.25);
            assertStop(StopReason.PATIENCE_EXHAUSTED, 2, d);
            assertBest(1, 1.0, d);
            assertEquals(decide("patience: 1", 1.0, 2.0), d);
        }

        @Test
        void sameInputsSameDecision() {
            EarlyStoppingSpec s = spec("criterion: gl");
            List<Evaluation> h = epochs(1.0, 0.5, 0.515625, 0.53125);
            assertEquals(EarlyStopPolicy.decide(s, NO_LIMIT, h), EarlyStopPolicy.decide(s, NO_LIMIT, List.copyOf(h)));
        }

        @Test
        void badArgumentsAreRefused() {
            EarlyStoppingSpec s = spec("");
            assertThrows(IllegalArgumentException.class, () -> EarlyStopPolicy.decide(s, 0, List.of()));
            assertThrows(NullPointerException.class, () -> EarlyStopPolicy.decide(s, 1, null));
            assertThrows(IllegalArgumentException.class, () -> ev(0, 1.0));
        }
    }
}
