package io.streamtrain.trainer.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.core.spec.OptimizerSpec;
import io.streamtrain.core.spec.OptimizerSpec.ScheduleSpec;
import org.junit.jupiter.api.Test;

class LearningRateScheduleTest {
    private static final double PEAK = 0.1;
    private static final double MIN = 0.001;
    private static final double EPS = 1e-12;

    private static LearningRateSchedule schedule(ScheduleSpec s) {
        return LearningRateSchedule.of(new OptimizerSpec("sgd", PEAK, 0, 0.9, 0.999, 1e-8, s));
    }

    @Test
    void constantIsThePeakAtEveryStep() {
        LearningRateSchedule s = schedule(ScheduleSpec.CONSTANT);
        for (long step : new long[] {0, 1, 7, 1_000, 1_000_000}) {
            assertEquals(PEAK, s.at(step), EPS, "step " + step);
        }
    }

    @Test
    void cosineWarmupIsALinearRampToThePeak() {
        LearningRateSchedule s = schedule(new ScheduleSpec("cosine", 10, 100, MIN));
        // step k (0-based) of a 10-step warmup uses peak * (k+1)/10
        for (int k = 0; k < 10; k++) {
            assertEquals(PEAK * (k + 1) / 10.0, s.at(k), EPS, "warmup step " + k);
        }
        assertTrue(s.at(0) > 0, "the first step must not be wasted with a zero rate");
        // equal increments: linear
        double inc = s.at(1) - s.at(0);
        for (int k = 1; k < 9; k++) {
            assertEquals(inc, s.at(k + 1) - s.at(k), EPS);
        }
    }

    @Test
    void cosineDecayPeakHalfwayAndFloor() {
        LearningRateSchedule s = schedule(new ScheduleSpec("cosine", 10, 100, MIN));
        assertEquals(PEAK, s.at(9), EPS, "last warmup step reaches the peak");
        assertEquals(PEAK, s.at(10), EPS, "decay starts at the peak");
        assertEquals((PEAK + MIN) / 2, s.at(10 + 50), EPS, "halfway through the decay");
        // a quarter in: min + (peak-min)/2 * (1 + cos(pi/4))
        assertEquals(MIN + (PEAK - MIN) / 2 * (1 + Math.sqrt(0.5)), s.at(10 + 25), EPS);
        assertEquals(MIN, s.at(110), EPS, "end of decay");
        assertEquals(MIN, s.at(111), EPS);
        assertEquals(MIN, s.at(1_000_000), EPS, "flat after the decay");
        for (long k = 10; k < 110; k++) {
            assertTrue(s.at(k + 1) <= s.at(k), "decay is monotone at step " + k);
        }
    }

    @Test
    void cosineWithoutWarmupStartsAtThePeak() {
        LearningRateSchedule s = schedule(new ScheduleSpec("cosine", 0, 4, 0.0));
        assertEquals(PEAK, s.at(0), EPS);
        assertEquals(PEAK / 2, s.at(2), EPS);
        assertEquals(0.0, s.at(4), EPS);
    }
}
