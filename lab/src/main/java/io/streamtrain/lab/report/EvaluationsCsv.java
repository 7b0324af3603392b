package io.streamtrain.lab.report;

import io.streamtrain.core.evaluation.BestCheckpoint;
import io.streamtrain.core.evaluation.EvaluationRecord;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code evaluations.csv}: one row per evaluation record in the order given, after a header,
 * as RFC 4180 has it (CRLF line ends; a field with a comma, quote or line break quoted, its
 * quotes doubled). Numbers are written exactly ({@link Double#toString}, so {@code NaN} and
 * {@code Infinity} too); a missing value is an empty field.
 */
final class EvaluationsCsv {
    private EvaluationsCsv() {}

    static String render(List<EvaluationRecord> evaluations) {
        List<String> metrics = RunFigures.metricNames(evaluations);
        List<String> header = new ArrayList<>(List.of("epoch", "status", "checkpoint_id"));
        header.addAll(metrics);
        header.addAll(List.of(
                "train_loss",
                "best_epoch",
                "best_checkpoint_id",
                "best_metric",
                "best_value",
                "wait_count",
                "patience_left",
                "decision",
                "reason",
                "explanation",
                "evaluation_seconds",
                "time",
                "id"));
        StringBuilder out = new StringBuilder();
        line(out, header);
        for (EvaluationRecord r : evaluations) {
            List<String> row = new ArrayList<>();
            row.add(Integer.toString(r.epoch()));
            row.add(r.status());
            row.add(r.checkpointId());
            for (String m : metrics) {
                row.add(number(r.metrics() == null ? null : r.metrics().get(m)));
            }
            row.add(number(r.trainLoss()));
            BestCheckpoint best = r.best();
            row.add(best == null ? null : Integer.toString(best.epoch()));
            row.add(best == null ? null : best.checkpointId());
            row.add(best == null ? null : best.metric());
            row.add(best == null ? null : Double.toString(best.value()));
            row.add(Integer.toString(r.waitCount()));
            row.add(Integer.toString(r.patienceLeft()));
            row.add(r.decision());
            row.add(r.reason());
            row.add(r.explanation());
            row.add(Double.toString(r.evaluationSeconds()));
            row.add(r.time());
            row.add(r.id());
            line(out, row);
        }
        return out.toString();
    }

    private static String number(Double v) {
        return v == null ? null : v.toString();
    }

    private static void line(StringBuilder out, List<String> fields) {
        for (int i = 0; i < fields.size(); i++) {
            if (i > 0) {
                out.append(',');
            }
            out.append(field(fields.get(i)));
        }
        out.append("\r\n");
    }

    /** A field as RFC 4180 writes it; null is the empty field. */
    static String field(String s) {
        if (s == null) {
            return "";
        }
        if (s.indexOf(',') < 0 && s.indexOf('"') < 0 && s.indexOf('\n') < 0 && s.indexOf('\r') < 0) {
            return s;
        }
        return '"' + s.replace("\"", "\"\"") + '"';
    }
}
