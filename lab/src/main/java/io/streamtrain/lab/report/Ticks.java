package io.streamtrain.lab.report;

import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.ArrayList;
import java.util.List;

/**
 * The ticks of one axis: multiples of 1, 2 or 5 times a power of ten inside the axis's
 * range, labelled with as many decimals as the step needs (all alike), and large values
 * shortened to {@code 12k} or {@code 3.5M}.
 *
 * @param values tick positions, ascending
 * @param labels one label per position
 */
record Ticks(List<Double> values, List<String> labels) {

    /**
     * @param lo lower end of the axis
     * @param hi upper end, greater than {@code lo}
     * @param target about how many ticks to show
     * @param integers only whole-number ticks (epochs)
     */
    static Ticks of(double lo, double hi, int target, boolean integers) {
        double raw = (hi - lo) / Math.max(1, target);
        int exponent = (int) Math.floor(Math.log10(raw));
        double norm = raw / Math.pow(10, exponent);
        int mantissa = norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10;
        if (mantissa == 10) {
            mantissa = 1;
            exponent++;
        }
        if (integers && exponent < 0) {
            mantissa = 1;
            exponent = 0;
        }
        BigDecimal step = BigDecimal.valueOf(mantissa).scaleByPowerOfTen(exponent);
        double stepValue = step.doubleValue();
        long first = (long) Math.ceil(lo / stepValue - 1e-9);
        long last = (long) Math.floor(hi / stepValue + 1e-9);
        List<BigDecimal> ticks = new ArrayList<>();
        for (long k = first; k <= last && ticks.size() <= 100; k++) {
            ticks.add(step.multiply(BigDecimal.valueOf(k)));
        }
        double largest = Math.max(Math.abs(lo), Math.abs(hi));
        int scale = Math.max(0, step.stripTrailingZeros().scale());
        List<Double> values = new ArrayList<>();
        List<String> labels = new ArrayList<>();
        for (BigDecimal t : ticks) {
            values.add(t.doubleValue());
            labels.add(label(t, stepValue, scale, largest));
        }
        return new Ticks(List.copyOf(values), List.copyOf(labels));
    }

    private static String label(BigDecimal t, double step, int scale, double largest) {
        String s;
        if (step < 1e-4) {
            s = t.signum() == 0 ? "0" : Numbers.scientific(t.doubleValue());
        } else if (largest >= 1e6 && step >= 1e5) {
            s = t.signum() == 0 ? "0" : Numbers.plain(t.movePointLeft(6)) + "M";
        } else if (largest >= 1e4 && step >= 1e3) {
            s = t.signum() == 0 ? "0" : Numbers.plain(t.movePointLeft(3)) + "k";
        } else {
            s = t.setScale(scale, RoundingMode.HALF_UP).toPlainString();
        }
        return Numbers.minus(s);
    }
}
