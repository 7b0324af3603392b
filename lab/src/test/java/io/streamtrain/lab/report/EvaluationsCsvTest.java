package io.streamtrain.lab.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.core.evaluation.BestCheckpoint;
import io.streamtrain.core.evaluation.EvaluationRecord;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class EvaluationsCsvTest {

    /** RFC 4180 read independently of the writer: quoted fields may hold commas, quotes and line breaks. */
    static List<List<String>> parse(String csv) {
        List<List<String>> rows = new ArrayList<>();
        List<String> row = new ArrayList<>();
        StringBuilder field = new StringBuilder();
        boolean quoted = false;
        for (int i = 0; i < csv.length(); i++) {
            char c = csv.charAt(i);
            if (quoted) {
                if (c == '"' && i + 1 < csv.length() && csv.charAt(i + 1) == '"') {
                    field.append('"');
                    i++;
                } else if (c == '"') {
                    quoted = false;
                } else {
                    field.append(c);
                }
            } else if (c == '"') {
                quoted = true;
            } else if (c == ',') {
                row.add(field.toString());
                field.setLength(0);
            } else if (c == '\r' && i + 1 < csv.length() && csv.charAt(i + 1) == '\n') {
                row.add(field.toString());
                field.setLength(0);
                rows.add(row);
                row = new ArrayList<>();
                i++;
            } else {
                assertTrue(c != '\n' && c != '\r', "a bare line break outside quotes at " + i);
                field.append(c);
            }
        }
        assertTrue(row.isEmpty() && field.isEmpty(), "the last line ends with CRLF");
        return rows;
    }

    private static Map<String, String> byHeader(List<String> header, List<String> row) {
        assertEquals(header.size(), row.size(), "every row has every column: " + row);
        Map<String, String> m = new HashMap<>();
        for (int i = 0; i < header.size(); i++) {
            m.put(header.get(i), row.get(i));
        }
        return m;
    }

    @Test
    void everyRecordRoundTrips() {
        String awkward = "val_loss 0.62, \"worse\" than 0.55\nfor 3 evaluations";
        List<EvaluationRecord> records = new ArrayList<>(Runs.stoppedRun(3).evaluations());
        records.add(Runs.evaluation(
                9,
                EvaluationRecord.EVALUATED,
                Runs.metrics("val_loss", Double.NaN, "top5", 0.93),
                null,
                new BestCheckpoint(5, "demo,e5", "val_loss", 0.55),
                4,
                0,
                EvaluationRecord.STOP,
                "non-finite",
                awkward));
        records.add(Runs.evaluation(
                10,
                EvaluationRecord.REJECTED,
                null,
                null,
                null,
                0,
                0,
                EvaluationRecord.CONTINUE,
                "corrupt",
                "hash mismatch: \"ab12\" expected"));

        List<List<String>> rows = parse(EvaluationsCsv.render(records));
        List<String> header = rows.get(0);
        assertEquals(
                List.of("epoch", "status", "checkpoint_id", "val_loss", "val_accuracy", "val_perplexity", "top5"),
                header.subList(0, 7));
        assertEquals(records.size(), rows.size() - 1);
        for (int i = 0; i < records.size(); i++) {
            EvaluationRecord r = records.get(i);
            Map<String, String> row = byHeader(header, rows.get(i + 1));
            assertEquals(r.epoch(), Integer.parseInt(row.get("epoch")));
            assertEquals(r.status(), row.get("status"));
            assertEquals(r.checkpointId(), row.get("checkpoint_id"));
            for (String metric : List.of("val_loss", "val_accuracy", "val_perplexity", "top5")) {
                assertEquals(
                        r.metrics() == null ? null : r.metrics().get(metric),
                        number(row.get(metric)),
                        metric + " of row " + i);
            }
            assertEquals(r.trainLoss(), number(row.get("train_loss")));
            assertEquals(r.best() == null ? "" : Integer.toString(r.best().epoch()), row.get("best_epoch"));
            assertEquals(r.best() == null ? "" : r.best().checkpointId(), row.get("best_checkpoint_id"));
            assertEquals(r.best() == null ? null : r.best().value(), number(row.get("best_value")));
            assertEquals(r.waitCount(), Integer.parseInt(row.get("wait_count")));
            assertEquals(r.patienceLeft(), Integer.parseInt(row.get("patience_left")));
            assertEquals(r.decision(), row.get("decision"));
            assertEquals(r.reason() == null ? "" : r.reason(), row.get("reason"));
            assertEquals(r.explanation(), row.get("explanation"));
            assertEquals(r.evaluationSeconds(), Double.parseDouble(row.get("evaluation_seconds")));
            assertEquals(r.time(), row.get("time"));
            assertEquals(r.id(), row.get("id"));
        }
    }

    @Test
    void fieldsAreQuotedOnlyWhenTheyMustBe() {
        assertEquals("plain", EvaluationsCsv.field("plain"));
        assertEquals("\"a,b\"", EvaluationsCsv.field("a,b"));
        assertEquals("\"say \"\"hi\"\"\"", EvaluationsCsv.field("say \"hi\""));
        assertEquals("\"two\r\nlines\"", EvaluationsCsv.field("two\r\nlines"));
        assertEquals("", EvaluationsCsv.field(null));
    }

    @Test
    void noEvaluationsIsAHeaderAlone() {
        List<List<String>> rows = parse(EvaluationsCsv.render(List.of()));
        assertEquals(1, rows.size());
        assertEquals("epoch", rows.get(0).get(0));
    }

    private static Double number(String field) {
        return field.isEmpty() ? null : Double.valueOf(field);
    }
}
