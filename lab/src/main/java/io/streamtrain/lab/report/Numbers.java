package io.streamtrain.lab.report;

import java.math.BigDecimal;
import java.math.RoundingMode;
import java.time.Duration;
import java.util.Locale;

/** How the report writes numbers for people: four significant digits, no noise. */
final class Numbers {
    private Numbers() {}

    /** {@code 0.4123}, {@code 12.35}, {@code 1235}, {@code 1.2e-5}; NaN and infinities spelled out. */
    static String format(double v) {
        if (Double.isNaN(v)) {
            return "NaN";
        }
        if (Double.isInfinite(v)) {
            return v > 0 ? "∞" : "−∞";
        }
        if (v == 0) {
            return "0";
        }
        double a = Math.abs(v);
        String s;
        if (a >= 1e6 || a < 1e-4) {
            s = scientific(v);
        } else {
            int decimals = Math.max(0, 3 - (int) Math.floor(Math.log10(a)));
            s = plain(BigDecimal.valueOf(v).setScale(decimals, RoundingMode.HALF_UP));
        }
        return minus(s);
    }

    /** A leading hyphen as U+2212, the minus sign: a hyphen reads too short beside digits. */
    static String minus(String s) {
        return s.startsWith("-") ? "\u2212" + s.substring(1) : s;
    }

    /** As {@link #format(double)}; a dash for a missing value. */
    static String format(Double v) {
        return v == null ? "—" : format(v.doubleValue());
    }

    /** {@code 1.234e-5}: the mantissa without trailing zeros, the exponent without padding. */
    static String scientific(double v) {
        String s = String.format(Locale.ROOT, "%.3e", v);
        int e = s.indexOf('e');
        String mantissa = plain(new BigDecimal(s.substring(0, e)));
        int exponent = Integer.parseInt(s.substring(e + 1));
        return mantissa + "e" + exponent;
    }

    /** A decimal without trailing zeros or exponent, and never {@code -0}. */
    static String plain(BigDecimal d) {
        String s = d.stripTrailingZeros().toPlainString();
        return s.equals("-0") ? "0" : s;
    }

    /** {@code 7.2 s}, {@code 2 min 13 s}, {@code 1 h 02 min}. */
    static String duration(Duration d) {
        long seconds = d.toSeconds();
        if (seconds < 60) {
            return String.format(Locale.ROOT, "%.1f s", d.toMillis() / 1000.0);
        }
        if (seconds < 3600) {
            return String.format(Locale.ROOT, "%d min %02d s", seconds / 60, seconds % 60);
        }
        return String.format(Locale.ROOT, "%d h %02d min", seconds / 3600, seconds % 3600 / 60);
    }
}
