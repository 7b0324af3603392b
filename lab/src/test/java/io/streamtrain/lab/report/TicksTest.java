package io.streamtrain.lab.report;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class TicksTest {
    @Test
    void ticksAreRoundAndLabelledAlike() {
        assertEquals(
                List.of("0.0", "0.2", "0.4", "0.6", "0.8", "1.0"),
                Ticks.of(-0.03, 1.04, 5, false).labels());
        assertEquals(
                List.of("0.30", "0.35", "0.40", "0.45"),
                Ticks.of(0.28, 0.47, 4, false).labels());
        assertEquals(
                List.of("\u22121.0", "\u22120.5", "0.0", "0.5"),
                Ticks.of(-1.1, 0.6, 4, false).labels());
    }

    @Test
    void largeValuesAreShortened() {
        assertEquals(
                List.of("0", "5k", "10k", "15k"), Ticks.of(0, 16_000, 4, false).labels());
        assertEquals(
                List.of("1M", "1.5M", "2M"),
                Ticks.of(900_000, 2_100_000, 3, false).labels());
        assertEquals(
                List.of("0", "2000", "4000", "6000", "8000"),
                Ticks.of(0, 9000, 5, false).labels());
    }

    @Test
    void integerAxesTickWholeNumbersOnly() {
        assertEquals(List.of(1.0), Ticks.of(0.5, 1.5, 8, true).values());
        assertEquals(List.of("1", "2", "3"), Ticks.of(0.5, 3.5, 8, true).labels());
    }

    @Test
    void tinyStepsUseExponents() {
        assertEquals(
                List.of("0", "2e-5", "4e-5"), Ticks.of(0, 0.00005, 3, false).labels());
    }

    @Test
    void numbersForPeople() {
        assertEquals("0.4123", Numbers.format(0.412345));
        assertEquals("12.35", Numbers.format(12.3456));
        assertEquals("1235", Numbers.format(1234.5));
        assertEquals("0.5", Numbers.format(0.5));
        assertEquals("1.235e-5", Numbers.format(0.000012346));
        assertEquals("\u22120.01", Numbers.format(-0.01));
        assertEquals("NaN", Numbers.format(Double.NaN));
        assertEquals("∞", Numbers.format(Double.POSITIVE_INFINITY));
        assertEquals("—", Numbers.format((Double) null));
        assertEquals("7.2 s", Numbers.duration(Duration.ofMillis(7_200)));
        assertEquals("2 min 05 s", Numbers.duration(Duration.ofSeconds(125)));
        assertEquals("1 h 02 min", Numbers.duration(Duration.ofMinutes(62)));
    }
}
