package io.streamtrain.evaluator.policy;

import java.math.BigDecimal;
import java.math.MathContext;
import java.math.RoundingMode;

/** Numbers for explanations: six significant digits, no trailing zeros, no float noise. */
final class Numbers {
    private static final MathContext SIX = new MathContext(6, RoundingMode.HALF_EVEN);

    private Numbers() {}

    static String format(double d) {
        if (!Double.isFinite(d)) {
            return Double.toString(d);
        }
        if (d == 0) {
            return "0";
        }
        BigDecimal b = new BigDecimal(d).round(SIX).stripTrailingZeros();
        double a = Math.abs(d);
        return a >= 1e-4 && a < 1e7 ? b.toPlainString() : b.toString();
    }
}
