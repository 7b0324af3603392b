package io.streamtrain.lab.report;

import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A line chart as one inline SVG element, for a page without scripts: axes with ticks and
 * labels, a legend, one or more series, and vertical markers for events such as the best
 * and the stopping epoch.
 *
 * <p>A series is broken, not bridged, at a NaN or infinite value and wherever x goes back
 * (a node that restarted counts its steps again); a point with no neighbour is drawn as a
 * dot, and a sparse series gets a dot with a tooltip at every point. The element names
 * what it draws: each series is a {@code <g class="series" data-name="...">} whose path has
 * one vertex per point drawn, each marker a {@code <g class="marker" data-kind="..."
 * data-x="...">}.
 */
public final class SvgLineChart {
    /** One data point; a non-finite coordinate is a gap. */
    public record Point(double x, double y) {}

    public enum Dash {
        SOLID(null),
        DASHED("7 4"),
        DOTTED("2 3");

        final String pattern;

        Dash(String pattern) {
            this.pattern = pattern;
        }
    }

    public enum MarkerKind {
        BEST("#009E73"),
        STOP("#444444");

        final String color;

        MarkerKind(String color) {
            this.color = color;
        }

        String attribute() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** Okabe and Ito's colours, told apart also by people with colour-vision deficiency. */
    public static final List<String> PALETTE =
            List.of("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000");

    private static final int WIDTH = 760;
    private static final int PLOT_HEIGHT = 220;
    private static final int LEFT = 68;
    private static final int RIGHT = 20;
    private static final int BOTTOM = 46;
    private static final int LEGEND_ROW = 18;
    private static final int MARKER_ROW = 15;
    /** A series with at most this many points gets a dot at each. */
    private static final int DOTS_UP_TO = 60;

    private record Series(String name, List<Point> points, String color, Dash dash) {
        boolean drawable() {
            return points.stream().anyMatch(SvgLineChart::finite);
        }
    }

    private record Marker(double x, String label, MarkerKind kind) {}

    private final String title;
    private final String xLabel;
    private final String yLabel;
    private boolean integerX;
    private boolean includeZeroY;
    private final List<Series> series = new ArrayList<>();
    private final List<Marker> markers = new ArrayList<>();

    public SvgLineChart(String title, String xLabel, String yLabel) {
        this.title = title;
        this.xLabel = xLabel;
        this.yLabel = yLabel;
    }

    public String title() {
        return title;
    }

    /** Ticks on whole numbers only, and half a unit of room at both ends (epochs). */
    public SvgLineChart optIntegerX() {
        integerX = true;
        return this;
    }

    /** The y axis always reaches 0, drawn stronger (a gap that can change sign). */
    public SvgLineChart optIncludeZeroY() {
        includeZeroY = true;
        return this;
    }

    public SvgLineChart series(String name, List<Point> points, String color, Dash dash) {
        series.add(new Series(name, List.copyOf(points), color, dash));
        return this;
    }

    /** A vertical line at {@code x}, labelled above the plot; ignored when x is not finite. */
    public SvgLineChart marker(double x, String label, MarkerKind kind) {
        if (Double.isFinite(x)) {
            markers.add(new Marker(x, label, kind));
        }
        return this;
    }

    /** Whether any series has a point to draw; a chart without one has nothing to show. */
    public boolean hasData() {
        return series.stream().anyMatch(Series::drawable);
    }

    public String toSvg() {
        List<Series> shown = series.stream().filter(Series::drawable).toList();
        if (shown.isEmpty()) {
            throw new IllegalStateException("chart '" + title + "' has no finite point to draw");
        }
        List<double[]> legend = legendLayout(shown);
        int legendRows = legend.isEmpty() ? 0 : (int) legend.get(legend.size() - 1)[1] + 1;
        double[] x = xDomain(shown);
        // marker labels sit in a band above the plot, never over the data
        List<Label> labels = markerLabels(new Frame(x, null, 0));
        int levels = labels.stream().mapToInt(l -> l.level + 1).max().orElse(0);
        int top = 14 + legendRows * LEGEND_ROW + levels * MARKER_ROW + (levels > 0 ? 4 : 0);
        int height = top + PLOT_HEIGHT + BOTTOM;
        Frame f = new Frame(x, yDomain(shown), top);

        StringBuilder s = new StringBuilder(4096);
        s.append("<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" role=\"img\" viewBox=\"0 0 ")
                .append(WIDTH)
                .append(' ')
                .append(height)
                .append("\" width=\"")
                .append(WIDTH)
                .append("\" height=\"")
                .append(height)
                .append("\" font-family=\"system-ui, -apple-system, 'Segoe UI', sans-serif\" font-size=\"12\">\n");
        s.append("<title>").append(Xml.escape(title)).append("</title>\n");
        drawAxes(s, f);
        for (Series se : shown) {
            drawSeries(s, f, se);
        }
        drawMarkers(s, f, labels);
        drawLegend(s, shown, legend);
        s.append("</svg>\n");
        return s.toString();
    }

    /** The plot area and the data-to-pixel mapping. */
    private record Frame(double[] x, double[] y, int top) {
        double px(double v) {
            return LEFT + (v - x[0]) / (x[1] - x[0]) * (WIDTH - LEFT - RIGHT);
        }

        double py(double v) {
            return top + PLOT_HEIGHT - (v - y[0]) / (y[1] - y[0]) * PLOT_HEIGHT;
        }

        int bottom() {
            return top + PLOT_HEIGHT;
        }
    }

    private double[] xDomain(List<Series> shown) {
        double lo = Double.POSITIVE_INFINITY;
        double hi = Double.NEGATIVE_INFINITY;
        for (Series se : shown) {
            for (Point p : se.points) {
                if (finite(p)) {
                    lo = Math.min(lo, p.x);
                    hi = Math.max(hi, p.x);
                }
            }
        }
        for (Marker m : markers) {
            lo = Math.min(lo, m.x);
            hi = Math.max(hi, m.x);
        }
        if (integerX) {
            return new double[] {lo - 0.5, hi + 0.5};
        }
        return padded(lo, hi, 0);
    }

    private double[] yDomain(List<Series> shown) {
        double lo = includeZeroY ? 0 : Double.POSITIVE_INFINITY;
        double hi = includeZeroY ? 0 : Double.NEGATIVE_INFINITY;
        for (Series se : shown) {
            for (Point p : se.points) {
                if (finite(p)) {
                    lo = Math.min(lo, p.y);
                    hi = Math.max(hi, p.y);
                }
            }
        }
        return padded(lo, hi, 0.06);
    }

    /** {@code [lo, hi]} with a fraction of room at both ends; a single value gets room around it. */
    private static double[] padded(double lo, double hi, double fraction) {
        if (hi - lo <= Math.abs(hi) * 1e-12) {
            double pad = lo == 0 ? 1 : Math.abs(lo) * 0.1;
            return new double[] {lo - pad, hi + pad};
        }
        double pad = (hi - lo) * fraction;
        return new double[] {lo - pad, hi + pad};
    }

    private void drawAxes(StringBuilder s, Frame f) {
        int right = WIDTH - RIGHT;
        s.append("<g class=\"axes\" fill=\"#555\">\n");
        Ticks ys = Ticks.of(f.y[0], f.y[1], 5, false);
        for (int i = 0; i < ys.values().size(); i++) {
            double v = ys.values().get(i);
            String y = coord(f.py(v));
            boolean zero = includeZeroY && v == 0;
            s.append("<line x1=\"")
                    .append(LEFT)
                    .append("\" x2=\"")
                    .append(right)
                    .append("\" y1=\"")
                    .append(y)
                    .append("\" y2=\"")
                    .append(y)
                    .append("\" stroke=\"")
                    .append(zero ? "#888" : "#e4e4e4")
                    .append("\"/>")
                    .append("<text x=\"")
                    .append(LEFT - 8)
                    .append("\" y=\"")
                    .append(coord(f.py(v) + 4))
                    .append("\" text-anchor=\"end\">")
                    .append(Xml.escape(ys.labels().get(i)))
                    .append("</text>\n");
        }
        Ticks xs = Ticks.of(f.x[0], f.x[1], (WIDTH - LEFT - RIGHT) / 90, integerX);
        for (int i = 0; i < xs.values().size(); i++) {
            String x = coord(f.px(xs.values().get(i)));
            s.append("<line x1=\"")
                    .append(x)
                    .append("\" x2=\"")
                    .append(x)
                    .append("\" y1=\"")
                    .append(f.top)
                    .append("\" y2=\"")
                    .append(f.bottom() + 5)
                    .append("\" stroke=\"#f0f0f0\"/>")
                    .append("<text x=\"")
                    .append(x)
                    .append("\" y=\"")
                    .append(f.bottom() + 18)
                    .append("\" text-anchor=\"middle\">")
                    .append(Xml.escape(xs.labels().get(i)))
                    .append("</text>\n");
        }
        s.append("<path d=\"M")
                .append(LEFT)
                .append(' ')
                .append(f.top)
                .append("V")
                .append(f.bottom())
                .append("H")
                .append(right)
                .append("\" fill=\"none\" stroke=\"#999\"/>\n");
        s.append("<text x=\"")
                .append(coord(LEFT + (WIDTH - LEFT - RIGHT) / 2.0))
                .append("\" y=\"")
                .append(f.bottom() + 38)
                .append("\" text-anchor=\"middle\" fill=\"#333\">")
                .append(Xml.escape(xLabel))
                .append("</text>\n");
        String cy = coord(f.top + PLOT_HEIGHT / 2.0);
        s.append("<text transform=\"translate(16 ")
                .append(cy)
                .append(") rotate(-90)\" text-anchor=\"middle\" fill=\"#333\">")
                .append(Xml.escape(yLabel))
                .append("</text>\n");
        s.append("</g>\n");
    }

    private void drawSeries(StringBuilder s, Frame f, Series se) {
        StringBuilder d = new StringBuilder();
        List<Point> dots = new ArrayList<>();
        List<Point> run = new ArrayList<>();
        boolean dotEvery = se.points.stream().filter(SvgLineChart::finite).count() <= DOTS_UP_TO;
        Point previous = null;
        for (Point p : se.points) {
            boolean breaks = !finite(p) || (previous != null && p.x < previous.x);
            if (breaks && !run.isEmpty()) {
                path(d, f, run, dots, dotEvery);
                run.clear();
            }
            if (finite(p)) {
                run.add(p);
            }
            previous = finite(p) ? p : null;
        }
        path(d, f, run, dots, dotEvery);

        s.append("<g class=\"series\" data-name=\"").append(Xml.escape(se.name)).append("\">\n");
        s.append("<path d=\"")
                .append(d.toString().trim())
                .append("\" fill=\"none\" stroke=\"")
                .append(se.color)
                .append("\" stroke-width=\"2\" stroke-linejoin=\"round\" stroke-linecap=\"round\"");
        if (se.dash.pattern != null) {
            s.append(" stroke-dasharray=\"").append(se.dash.pattern).append('"');
        }
        s.append("/>\n");
        for (Point p : dots) {
            s.append("<circle cx=\"")
                    .append(coord(f.px(p.x)))
                    .append("\" cy=\"")
                    .append(coord(f.py(p.y)))
                    .append("\" r=\"3\" fill=\"")
                    .append(se.color)
                    .append("\" stroke=\"#fff\"><title>")
                    .append(Xml.escape(
                            se.name + ": " + Numbers.format(p.y) + " at " + xLabel + " " + Numbers.format(p.x)))
                    .append("</title></circle>\n");
        }
        s.append("</g>\n");
    }

    /** Appends one unbroken run as {@code M x y L x y ...}; a lone point also becomes a dot. */
    private static void path(StringBuilder d, Frame f, List<Point> run, List<Point> dots, boolean dotEvery) {
        for (int i = 0; i < run.size(); i++) {
            Point p = run.get(i);
            d.append(i == 0 ? 'M' : 'L')
                    .append(coord(f.px(p.x)))
                    .append(' ')
                    .append(coord(f.py(p.y)))
                    .append(' ');
        }
        if (dotEvery || run.size() == 1) {
            dots.addAll(run);
        }
    }

    /** A marker's label: centred on its line where it fits, one level up where another is in the way. */
    private record Label(Marker marker, double px, double center, double half, int level) {}

    private List<Label> markerLabels(Frame f) {
        List<Label> labels = new ArrayList<>();
        for (Marker m : markers) {
            double px = f.px(m.x);
            double half = textWidth(m.label) / 2 + 6;
            double center = Math.max(half, Math.min(WIDTH - half, px));
            int level = 0;
            while (taken(labels, level, center, half)) {
                level++;
            }
            labels.add(new Label(m, px, center, half, level));
        }
        return labels;
    }

    private static boolean taken(List<Label> labels, int level, double center, double half) {
        return labels.stream().anyMatch(l -> l.level == level && Math.abs(l.center - center) < l.half + half);
    }

    private static void drawMarkers(StringBuilder s, Frame f, List<Label> labels) {
        for (Label l : labels) {
            Marker m = l.marker;
            String x = coord(l.px);
            int baseline = f.top - 8 - l.level * MARKER_ROW;
            s.append("<g class=\"marker\" data-kind=\"")
                    .append(m.kind.attribute())
                    .append("\" data-x=\"")
                    .append(Xml.escape(Numbers.plain(BigDecimal.valueOf(m.x))))
                    .append("\">")
                    .append("<line x1=\"")
                    .append(x)
                    .append("\" x2=\"")
                    .append(x)
                    .append("\" y1=\"")
                    .append(baseline + 4)
                    .append("\" y2=\"")
                    .append(f.bottom())
                    .append("\" stroke=\"")
                    .append(m.kind.color)
                    .append("\" stroke-width=\"1.5\" stroke-dasharray=\"5 3\"/>")
                    .append("<text x=\"")
                    .append(coord(l.center))
                    .append("\" y=\"")
                    .append(baseline)
                    .append("\" text-anchor=\"middle\" fill=\"")
                    .append(m.kind.color)
                    .append("\" font-weight=\"600\">")
                    .append(Xml.escape(m.label))
                    .append("</text></g>\n");
        }
    }

    /** Per series {x, row}: items left to right, wrapping to a new row at the right edge. */
    private static List<double[]> legendLayout(List<Series> shown) {
        List<double[]> at = new ArrayList<>();
        double x = LEFT;
        int row = 0;
        for (Series se : shown) {
            double width = 30 + textWidth(se.name) + 18;
            if (x > LEFT && x + width > WIDTH - RIGHT) {
                x = LEFT;
                row++;
            }
            at.add(new double[] {x, row});
            x += width;
        }
        return at;
    }

    private static void drawLegend(StringBuilder s, List<Series> shown, List<double[]> at) {
        s.append("<g class=\"legend\" fill=\"#333\">\n");
        for (int i = 0; i < shown.size(); i++) {
            Series se = shown.get(i);
            double x = at.get(i)[0];
            double y = 12 + at.get(i)[1] * LEGEND_ROW;
            s.append("<line x1=\"")
                    .append(coord(x))
                    .append("\" x2=\"")
                    .append(coord(x + 24))
                    .append("\" y1=\"")
                    .append(coord(y - 4))
                    .append("\" y2=\"")
                    .append(coord(y - 4))
                    .append("\" stroke=\"")
                    .append(se.color)
                    .append("\" stroke-width=\"2.5\"");
            if (se.dash.pattern != null) {
                s.append(" stroke-dasharray=\"").append(se.dash.pattern).append('"');
            }
            s.append("/><text x=\"")
                    .append(coord(x + 30))
                    .append("\" y=\"")
                    .append(coord(y))
                    .append("\">")
                    .append(Xml.escape(se.name))
                    .append("</text>\n");
        }
        s.append("</g>\n");
    }

    /** About how wide text is at 12 px in a sans-serif font (bold, to be safe); enough for a layout. */
    private static double textWidth(String text) {
        return text.length() * 7.2;
    }

    private static boolean finite(Point p) {
        return Double.isFinite(p.x) && Double.isFinite(p.y);
    }

    /** A pixel coordinate with one decimal, the same text for the same value. */
    static String coord(double v) {
        long tenths = Math.round(v * 10);
        String sign = tenths < 0 ? "-" : "";
        tenths = Math.abs(tenths);
        return sign + tenths / 10 + "." + tenths % 10;
    }
}
