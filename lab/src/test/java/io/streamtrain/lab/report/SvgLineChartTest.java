package io.streamtrain.lab.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.lab.report.Svg.Vertex;
import io.streamtrain.lab.report.SvgLineChart.Dash;
import io.streamtrain.lab.report.SvgLineChart.MarkerKind;
import io.streamtrain.lab.report.SvgLineChart.Point;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class SvgLineChartTest {
    private static SvgLineChart chart() {
        return new SvgLineChart("t", "epoch", "loss").optIntegerX();
    }

    private static List<Point> points(double... ys) {
        List<Point> points = new ArrayList<>();
        for (int i = 0; i < ys.length; i++) {
            points.add(new Point(i + 1, ys[i]));
        }
        return points;
    }

    @Test
    void aSeriesHasOneVertexPerPointInOneRun() throws Exception {
        Svg svg = Svg.of(
                chart().series("a", points(3, 2, 1, 2), "#000", Dash.SOLID).toSvg());
        List<Vertex> v = svg.vertices("a");
        assertEquals(4, v.size());
        assertEquals(1, v.stream().filter(Vertex::start).count());
        // lower values are drawn lower on the page: larger pixel y
        assertTrue(v.get(2).yValue() > v.get(1).yValue()
                && v.get(1).yValue() > v.get(0).yValue());
        assertEquals(4, svg.dots("a"), "a sparse series has a dot at every point");
    }

    @Test
    void nanAndInfiniteValuesAreGapsNotLines() throws Exception {
        Svg svg =
                Svg.of(chart().series("a", points(3, Double.NaN, 1, 2, Double.POSITIVE_INFINITY, 5), "#000", Dash.SOLID)
                        .toSvg());
        List<Vertex> v = svg.vertices("a");
        assertEquals(4, v.size(), "the finite points only");
        assertEquals(
                List.of(true, true, false, true),
                v.stream().map(Vertex::start).toList(),
                "a new run after each non-finite value");
    }

    @Test
    void xGoingBackStartsANewRun() throws Exception {
        List<Point> restarted =
                List.of(new Point(0, 1), new Point(10, 2), new Point(20, 3), new Point(5, 2), new Point(15, 1));
        Svg svg = Svg.of(new SvgLineChart("t", "step", "y")
                .series("a", restarted, "#000", Dash.SOLID)
                .toSvg());
        assertEquals(
                List.of(true, false, false, true, false),
                svg.vertices("a").stream().map(Vertex::start).toList());
    }

    @Test
    void aSinglePointIsDrawnAsADot() throws Exception {
        SvgLineChart chart =
                new SvgLineChart("t", "step", "y").series("one", List.of(new Point(7, 0.5)), "#000", Dash.SOLID);
        Svg svg = Svg.of(chart.toSvg());
        assertEquals(1, svg.vertices("one").size());
        assertEquals(1, svg.dots("one"));
    }

    @Test
    void aLonePointInADenseSeriesStillGetsItsDot() throws Exception {
        double[] ys = new double[100];
        for (int i = 0; i < ys.length; i++) {
            ys[i] = i == 49 || i == 51 ? Double.NaN : i;
        }
        Svg svg = Svg.of(new SvgLineChart("t", "step", "y")
                .series("a", points(ys), "#000", Dash.SOLID)
                .toSvg());
        assertEquals(98, svg.vertices("a").size());
        assertEquals(1, svg.dots("a"), "point 50 stands alone; the other 97 are lines");
    }

    @Test
    void aSeriesWithoutFinitePointsIsLeftOut() throws Exception {
        SvgLineChart chart = chart().series("nothing", points(Double.NaN, Double.NaN), "#000", Dash.SOLID);
        assertFalse(chart.hasData());
        assertThrows(IllegalStateException.class, chart::toSvg);
        chart.series("some", points(1, 2), "#111", Dash.DASHED);
        Svg svg = Svg.of(chart.toSvg());
        assertEquals(List.of("some"), svg.seriesNames());
    }

    @Test
    void markersStandAtTheXOfTheirPoint() throws Exception {
        SvgLineChart chart = chart().series("a", points(5, 4, 3, 3.5, 4), "#000", Dash.SOLID)
                .marker(3, "best: epoch 3", MarkerKind.BEST)
                .marker(5, "stop: epoch 5", MarkerKind.STOP);
        Svg svg = Svg.of(chart.toSvg());
        List<Vertex> v = svg.vertices("a");
        assertEquals(v.get(2).x(), svg.markerX("best"));
        assertEquals(v.get(4).x(), svg.markerX("stop"));
        assertEquals("3", svg.marker("best").getAttribute("data-x"));
        assertEquals("5", svg.marker("stop").getAttribute("data-x"));
    }

    @Test
    void markersAtOneEpochStackTheirLabels() throws Exception {
        Svg svg = Svg.of(chart().series("a", points(3, 2, 1), "#000", Dash.SOLID)
                .marker(3, "best: epoch 3", MarkerKind.BEST)
                .marker(3, "stop: epoch 3", MarkerKind.STOP)
                .toSvg());
        assertEquals(svg.markerX("best"), svg.markerX("stop"));
        String bestY = ((org.w3c.dom.Element)
                        svg.marker("best").getElementsByTagName("text").item(0))
                .getAttribute("y");
        String stopY = ((org.w3c.dom.Element)
                        svg.marker("stop").getElementsByTagName("text").item(0))
                .getAttribute("y");
        assertNotEquals(bestY, stopY, "one label above the other, not over it");
    }

    @Test
    void aMarkerBeyondTheDataWidensTheAxis() throws Exception {
        Svg svg = Svg.of(chart().series("a", points(1, 2), "#000", Dash.SOLID)
                .marker(4, "stop", MarkerKind.STOP)
                .toSvg());
        List<Vertex> v = svg.vertices("a");
        double step =
                Double.parseDouble(v.get(1).x()) - Double.parseDouble(v.get(0).x());
        assertEquals(Double.parseDouble(v.get(1).x()) + 2 * step, Double.parseDouble(svg.markerX("stop")), 0.15);
    }

    @Test
    void aConstantSeriesGetsARangeAroundIt() throws Exception {
        Svg svg = Svg.of(
                chart().series("flat", points(2, 2, 2), "#000", Dash.SOLID).toSvg());
        List<Vertex> v = svg.vertices("flat");
        assertEquals(v.get(0).y(), v.get(2).y());
        assertNotEquals("NaN", v.get(0).y());
    }

    @Test
    void namesAreEscaped() throws Exception {
        String name = "node <a> & \"b\" 'c'\u0001";
        Svg svg = Svg.of(chart().series(name, points(1, 2), "#000", Dash.SOLID)
                .marker(1, "<best>", MarkerKind.BEST)
                .toSvg());
        assertEquals(List.of("node <a> & \"b\" 'c'\uFFFD"), svg.seriesNames());
    }
}
