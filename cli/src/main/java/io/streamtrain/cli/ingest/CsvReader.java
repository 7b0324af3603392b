package io.streamtrain.cli.ingest;

import io.streamtrain.core.codec.DType;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * Reads CSV files with a header line: the column named by {@code label} is {@code y}, every
 * other column a float32 feature of {@code x [B, columns - 1]}, in header order. Fields may
 * be quoted ({@code "a ""b"""}) but a record must fit on one line. A line with the wrong
 * number of fields, an empty or non-numeric cell, or a value outside float32 is reported
 * to {@link BadLines} and skipped; blank lines are ignored.
 */
final class CsvReader {
    /** A decimal number as CSV writers print them; Java's parser alone would take "NaN", "1f" and hex. */
    private static final Pattern NUMBER = Pattern.compile("[+-]?(\\d+\\.?\\d*|\\.\\d+)([eE][+-]?\\d+)?");

    private static final Pattern INTEGER = Pattern.compile("[+-]?\\d+");

    private final String label;
    private final char delimiter;
    private final LabelType labels;

    CsvReader(String label, char delimiter, LabelType labels) {
        this.label = label;
        this.delimiter = delimiter;
        this.labels = labels;
    }

    Samples read(List<Path> files, BadLines bad) throws InputException {
        List<String> header = null;
        Path headerFile = null;
        NumberTable.Builder table = null;
        int labelColumn = -1;
        for (Path file : files) {
            try (BufferedReader in =
                    new BufferedReader(new InputStreamReader(InputFiles.open(file), StandardCharsets.UTF_8), 1 << 16)) {
                long lineNo = 0;
                List<String> fileHeader = null;
                String line;
                while ((line = in.readLine()) != null) {
                    lineNo++;
                    if (lineNo == 1 && line.startsWith("\uFEFF")) {
                        line = line.substring(1);
                    }
                    if (line.isBlank()) {
                        continue;
                    }
                    if (fileHeader == null) {
                        fileHeader = split(line);
                        if (fileHeader == null) {
                            throw new InputException(
                                    file + ":" + lineNo + ": the header line has an unterminated quote");
                        }
                        fileHeader = fileHeader.stream().map(String::trim).toList();
                        if (header == null) {
                            header = fileHeader;
                            headerFile = file;
                            labelColumn = header.indexOf(label);
                            if (labelColumn < 0) {
                                throw new InputException(
                                        file + " has no column '" + label + "' (--label); its columns are " + header);
                            }
                            if (header.size() < 2) {
                                throw new InputException(
                                        file + " has no feature columns besides the label '" + label + "'");
                            }
                            table = new NumberTable.Builder(DType.F32, new long[] {header.size() - 1}, new long[0]);
                        } else if (!fileHeader.equals(header)) {
                            throw new InputException(file + " has the columns " + fileHeader + ", but " + headerFile
                                    + " has " + header + ": ingest files of one layout together");
                        }
                        continue;
                    }
                    row(line, file, lineNo, header, labelColumn, table, bad);
                }
                if (fileHeader == null) {
                    throw new InputException(file + " is empty: a CSV input needs a header line naming its columns");
                }
            } catch (IOException e) {
                throw InputFiles.cannotRead(file, e);
            }
        }
        if (table == null) {
            throw new InputException("no CSV files given");
        }
        return table.build(labels);
    }

    private void row(
            String line,
            Path file,
            long lineNo,
            List<String> header,
            int labelColumn,
            NumberTable.Builder table,
            BadLines bad) {
        List<String> fields = split(line);
        if (fields == null) {
            bad.report(file, lineNo, "unterminated quote (a record must fit on one line)");
            return;
        }
        if (fields.size() != header.size()) {
            bad.report(file, lineNo, "expected " + header.size() + " fields, found " + fields.size());
            return;
        }
        float[] x = new float[header.size() - 1];
        int k = 0;
        for (int c = 0; c < fields.size(); c++) {
            if (c == labelColumn) {
                continue;
            }
            String v = fields.get(c).trim();
            String problem = numberProblem(v);
            if (problem != null) {
                bad.report(file, lineNo, "column '" + header.get(c) + "': " + problem);
                return;
            }
            float f = Float.parseFloat(v);
            if (!Float.isFinite(f)) {
                bad.report(file, lineNo, "column '" + header.get(c) + "': " + v + " is outside the float32 range");
                return;
            }
            x[k++] = f;
        }
        String y = fields.get(labelColumn).trim();
        String problem = numberProblem(y);
        if (problem != null) {
            bad.report(
                    file,
                    lineNo,
                    "label column '" + header.get(labelColumn) + "': " + problem
                            + (y.isEmpty() || NUMBER.matcher(y).matches()
                                    ? ""
                                    : " (labels must be class ids or numeric targets)"));
            return;
        }
        double value = Double.parseDouble(y);
        if (!Double.isFinite(value) || (labels != LabelType.INT64 && !Float.isFinite((float) value))) {
            bad.report(file, lineNo, "label column '" + header.get(labelColumn) + "': " + y + " is out of range");
            return;
        }
        if (labels == LabelType.INT64 && !LabelType.isWhole(value)) {
            bad.report(
                    file,
                    lineNo,
                    "label column '" + header.get(labelColumn) + "': " + y + " is not a class id (--y-dtype int64)");
            return;
        }
        table.add(x, new double[] {value}, INTEGER.matcher(y).matches());
    }

    private static String numberProblem(String v) {
        if (v.isEmpty()) {
            return "empty";
        }
        if (!NUMBER.matcher(v).matches()) {
            return "'" + v + "' is not a number";
        }
        return null;
    }

    /** The fields of one line, unquoted; null when a quote is not closed on the line. */
    List<String> split(String line) {
        List<String> out = new ArrayList<>();
        StringBuilder field = new StringBuilder();
        boolean quoted = false;
        for (int i = 0; i < line.length(); i++) {
            char c = line.charAt(i);
            if (quoted) {
                if (c == '"' && i + 1 < line.length() && line.charAt(i + 1) == '"') {
                    field.append('"');
                    i++;
                } else if (c == '"') {
                    quoted = false;
                } else {
                    field.append(c);
                }
            } else if (c == '"') {
                quoted = true;
            } else if (c == delimiter) {
                out.add(field.toString());
                field.setLength(0);
            } else {
                field.append(c);
            }
        }
        if (quoted) {
            return null;
        }
        out.add(field.toString());
        return out;
    }
}
