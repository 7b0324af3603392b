package io.streamtrain.lab.report;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.xml.parsers.DocumentBuilder;
import javax.xml.parsers.DocumentBuilderFactory;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

/** Reads the report's markup back with the JDK's XML parser, and what a chart drew from it. */
final class Svg {
    private static final Pattern SVG = Pattern.compile("<svg\\b.*?</svg>", Pattern.DOTALL);
    private static final Pattern VERTEX = Pattern.compile("([ML])(-?\\d+\\.\\d) (-?\\d+\\.\\d)");

    /** A vertex of a series' path, in pixels; {@code start} when it begins an unbroken run. */
    record Vertex(boolean start, String x, String y) {
        double yValue() {
            return Double.parseDouble(y);
        }
    }

    private final Element root;

    private Svg(Element root) {
        this.root = root;
    }

    /** Parses a whole document as XML; throws on anything not well-formed. */
    static Document parse(String xml) throws Exception {
        DocumentBuilderFactory factory = DocumentBuilderFactory.newInstance();
        factory.setNamespaceAware(true);
        factory.setFeature("http://apache.org/xml/features/nonvalidating/load-external-dtd", false);
        factory.setExpandEntityReferences(false);
        DocumentBuilder builder = factory.newDocumentBuilder();
        builder.setErrorHandler(null);
        return builder.parse(new ByteArrayInputStream(xml.getBytes(StandardCharsets.UTF_8)));
    }

    /** Every {@code <svg>} element of the page, each parsed on its own. */
    static List<Svg> all(String html) throws Exception {
        List<Svg> charts = new ArrayList<>();
        Matcher m = SVG.matcher(html);
        while (m.find()) {
            charts.add(new Svg(parse(m.group()).getDocumentElement()));
        }
        return charts;
    }

    /** The chart with this title; fails the test when there is none. */
    static Svg titled(String html, String title) throws Exception {
        for (Svg svg : all(html)) {
            if (svg.title().equals(title)) {
                return svg;
            }
        }
        throw new AssertionError("no chart titled '" + title + "' in the page");
    }

    static Svg of(String svgText) throws Exception {
        return new Svg(parse(svgText).getDocumentElement());
    }

    String title() {
        return root.getElementsByTagName("title").item(0).getTextContent();
    }

    List<String> seriesNames() {
        List<String> names = new ArrayList<>();
        for (Element g : elements("g")) {
            if (g.getAttribute("class").equals("series")) {
                names.add(g.getAttribute("data-name"));
            }
        }
        return names;
    }

    /** The vertices of a series' path; fails when the chart has no such series. */
    List<Vertex> vertices(String series) {
        Element g = series(series);
        String d = ((Element) g.getElementsByTagName("path").item(0)).getAttribute("d");
        List<Vertex> vertices = new ArrayList<>();
        Matcher m = VERTEX.matcher(d);
        while (m.find()) {
            vertices.add(new Vertex(m.group(1).equals("M"), m.group(2), m.group(3)));
        }
        return vertices;
    }

    /** The dots a series drew. */
    int dots(String series) {
        return series(series).getElementsByTagName("circle").getLength();
    }

    /** The marker of a kind ({@code best}, {@code stop}), or null. */
    Element marker(String kind) {
        for (Element g : elements("g")) {
            if (g.getAttribute("class").equals("marker")
                    && g.getAttribute("data-kind").equals(kind)) {
                return g;
            }
        }
        return null;
    }

    /** The pixel x of a marker's line. */
    String markerX(String kind) {
        Element marker = marker(kind);
        if (marker == null) {
            throw new AssertionError("no " + kind + " marker in '" + title() + "'");
        }
        return ((Element) marker.getElementsByTagName("line").item(0)).getAttribute("x1");
    }

    private Element series(String name) {
        for (Element g : elements("g")) {
            if (g.getAttribute("class").equals("series")
                    && g.getAttribute("data-name").equals(name)) {
                return g;
            }
        }
        throw new AssertionError("no series '" + name + "' in '" + title() + "'; it has " + seriesNames());
    }

    private List<Element> elements(String tag) {
        NodeList nodes = root.getElementsByTagName(tag);
        List<Element> list = new ArrayList<>();
        for (int i = 0; i < nodes.getLength(); i++) {
            list.add((Element) nodes.item(i));
        }
        return list;
    }
}
