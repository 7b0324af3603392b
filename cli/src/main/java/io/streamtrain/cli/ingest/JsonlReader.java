package io.streamtrain.cli.ingest;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.streamtrain.core.codec.DType;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Reads JSON Lines: one object per line with {@code x}, an array of numbers (nested arrays
 * for a sample of several dimensions, e.g. {@code [[1,2],[3,4]]} is {@code [2, 2]}), and
 * {@code y}, a number or an array of numbers. Other fields are ignored. The first good line
 * fixes the shapes; a line whose shapes differ, that is not JSON, or that lacks a field is
 * reported to {@link BadLines} and skipped. Blank lines are ignored.
 */
final class JsonlReader {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final DType xType;
    private final LabelType labels;

    /** @param xType {@link DType#F32} (features) or {@link DType#I64} (token ids) */
    JsonlReader(DType xType, LabelType labels) {
        this.xType = xType;
        this.labels = labels;
    }

    Samples read(List<Path> files, BadLines bad) throws InputException {
        NumberTable.Builder table = null;
        String first = null;
        for (Path file : files) {
            try (BufferedReader in =
                    new BufferedReader(new InputStreamReader(InputFiles.open(file), StandardCharsets.UTF_8), 1 << 16)) {
                long lineNo = 0;
                String line;
                while ((line = in.readLine()) != null) {
                    lineNo++;
                    if (line.isBlank()) {
                        continue;
                    }
                    Row row;
                    try {
                        row = row(line);
                    } catch (BadRow e) {
                        bad.report(file, lineNo, e.getMessage());
                        continue;
                    }
                    if (table == null) {
                        table = new NumberTable.Builder(xType, row.xShape(), row.yShape());
                        first = file + ":" + lineNo;
                    } else if (!Arrays.equals(row.xShape(), table.xShape())
                            || !Arrays.equals(row.yShape(), table.yShape())) {
                        bad.report(
                                file,
                                lineNo,
                                "x has shape " + Arrays.toString(row.xShape()) + " and y "
                                        + Arrays.toString(row.yShape())
                                        + ", but the first sample (" + first + ") has "
                                        + Arrays.toString(table.xShape()) + " and "
                                        + Arrays.toString(table.yShape()));
                        continue;
                    }
                    if (xType == DType.F32) {
                        float[] x = new float[row.x().length];
                        for (int i = 0; i < x.length; i++) {
                            x[i] = (float) row.x()[i];
                        }
                        table.add(x, row.y(), row.integerLabels());
                    } else {
                        table.add(row.xl(), row.y(), row.integerLabels());
                    }
                }
            } catch (IOException e) {
                throw InputFiles.cannotRead(file, e);
            }
        }
        if (table == null) {
            return new NumberTable.Builder(xType, new long[] {0}, new long[0]).build(labels);
        }
        return table.build(labels);
    }

    /** One parsed line: flattened values and shapes. */
    private record Row(double[] x, long[] xl, long[] xShape, double[] y, long[] yShape, boolean integerLabels) {}

    /** A line that cannot be a sample; the message says why. */
    private static final class BadRow extends Exception {
        private static final long serialVersionUID = 1L;

        BadRow(String message) {
            super(message, null, false, false);
        }
    }

    private Row row(String line) throws BadRow {
        JsonNode node;
        try {
            node = JSON.readTree(line);
        } catch (JsonProcessingException e) {
            throw new BadRow("not JSON: " + e.getOriginalMessage());
        }
        if (node == null || !node.isObject()) {
            throw new BadRow("not a JSON object");
        }
        JsonNode xNode = node.get("x");
        JsonNode yNode = node.get("y");
        if (xNode == null || yNode == null) {
            throw new BadRow("needs fields \"x\" and \"y\"; has " + fieldNames(node));
        }
        if (!xNode.isArray() || xNode.isEmpty()) {
            throw new BadRow("\"x\" must be a non-empty array of numbers");
        }
        List<JsonNode> xs = new ArrayList<>();
        long[] xShape = shape("x", xNode, xs);
        double[] x = new double[xs.size()];
        long[] xl = xType == DType.I64 ? new long[xs.size()] : null;
        for (int i = 0; i < x.length; i++) {
            JsonNode v = xs.get(i);
            if (xl != null) {
                if (!v.isIntegralNumber() || !v.canConvertToLong()) {
                    throw new BadRow("x[" + i + "] is " + v + ", not an int64 (--x-dtype int64)");
                }
                xl[i] = v.asLong();
            } else {
                x[i] = v.doubleValue();
                if (!Float.isFinite((float) x[i])) {
                    throw new BadRow("x[" + i + "] = " + v + " is outside the float32 range");
                }
            }
        }
        List<JsonNode> ys = new ArrayList<>();
        long[] yShape = yNode.isArray() ? shape("y", yNode, ys) : new long[0];
        if (!yNode.isArray()) {
            ys.add(yNode);
        }
        double[] y = new double[ys.size()];
        boolean integers = true;
        for (int i = 0; i < y.length; i++) {
            JsonNode v = ys.get(i);
            if (!v.isNumber()) {
                throw new BadRow("y" + (yNode.isArray() ? "[" + i + "]" : "") + " is " + v + ", not a number");
            }
            y[i] = v.doubleValue();
            if (!Double.isFinite(y[i]) || (labels != LabelType.INT64 && !Float.isFinite((float) y[i]))) {
                throw new BadRow("y = " + v + " is out of range");
            }
            if (labels == LabelType.INT64 && !LabelType.isWhole(y[i])) {
                throw new BadRow("y = " + v + " is not a class id (--y-dtype int64)");
            }
            integers &= v.isIntegralNumber();
        }
        return new Row(x, xl, xShape, y, yShape, integers);
    }

    /** The shape of a rectangular nested array of numbers; its leaves in row-major order go to {@code leaves}. */
    private static long[] shape(String name, JsonNode array, List<JsonNode> leaves) throws BadRow {
        List<Long> dims = new ArrayList<>();
        JsonNode n = array;
        while (n.isArray()) {
            if (n.isEmpty()) {
                throw new BadRow("\"" + name + "\" has an empty array inside");
            }
            dims.add((long) n.size());
            n = n.get(0);
        }
        long[] shape = dims.stream().mapToLong(Long::longValue).toArray();
        collect(name, array, shape, 0, leaves);
        return shape;
    }

    private static void collect(String name, JsonNode node, long[] shape, int depth, List<JsonNode> leaves)
            throws BadRow {
        if (depth == shape.length) {
            if (!node.isNumber()) {
                throw new BadRow("\"" + name + "\" holds " + node + ", not a number");
            }
            leaves.add(node);
            return;
        }
        if (!node.isArray() || node.size() != shape[depth]) {
            throw new BadRow("\"" + name + "\" is ragged: not every array at depth " + depth + " has " + shape[depth]
                    + " elements");
        }
        for (JsonNode child : node) {
            collect(name, child, shape, depth + 1, leaves);
        }
    }

    private static List<String> fieldNames(JsonNode node) {
        List<String> names = new ArrayList<>();
        node.fieldNames().forEachRemaining(names::add);
        return names;
    }
}
