package io.streamtrain.lab.report;

import io.streamtrain.core.evaluation.BestCheckpoint;
import io.streamtrain.core.evaluation.EvaluationRecord;
import io.streamtrain.lab.report.ReportCharts.Figure;
import io.streamtrain.lab.report.RunFigures.Epoch;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;

/**
 * {@code report.html}: one page with its styles and plots inline, no scripts and nothing
 * fetched, readable offline and without JavaScript. It is also well-formed XML, so tools
 * (and the tests) can read it with an XML parser.
 */
final class ReportPage {
    private static final String CSS = """
            body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222; background: #f5f6f8; }
            main { max-width: 1000px; margin: 0 auto; padding: 24px 20px 40px; }
            h1 { font-size: 1.6em; margin: 0 0 4px; }
            h2 { font-size: 1.15em; margin: 0 0 8px; }
            .lede { margin: 0 0 18px; color: #444; font-size: 1.05em; }
            .cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(210px, 1fr)); gap: 12px; margin: 0 0 20px; }
            .card { background: #fff; border: 1px solid #e2e4e8; border-radius: 8px; padding: 10px 14px; }
            .card dt { font-size: .75em; text-transform: uppercase; letter-spacing: .05em; color: #666; }
            .card dd { margin: 2px 0 0; font-size: 1.15em; font-weight: 600; overflow-wrap: anywhere; }
            .card .sub { display: block; font-size: .78em; font-weight: 400; color: #555; }
            section { background: #fff; border: 1px solid #e2e4e8; border-radius: 8px; padding: 14px 18px; margin: 0 0 16px; }
            svg.chart { display: block; width: 100%; height: auto; }
            .caption { margin: 6px 0 0; color: #555; font-size: .88em; }
            .note { margin: 6px 0 0; color: #8a5a00; font-style: italic; }
            .scroll { overflow-x: auto; }
            table { border-collapse: collapse; width: 100%; font-size: .84em; }
            th, td { padding: 4px 8px; border-bottom: 1px solid #eceef1; text-align: left; vertical-align: top; }
            th { background: #f8f9fa; white-space: nowrap; }
            td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
            tr.best td { background: #e6f5ef; }
            tr.stop td { background: #eeeeee; font-weight: 600; }
            tr.rejected td { color: #999; }
            pre { margin: 8px 0 0; padding: 12px; background: #f6f8fa; border-radius: 6px; overflow-x: auto; font: 13px/1.45 ui-monospace, Menlo, Consolas, monospace; }
            footer { color: #777; font-size: .85em; }
            """;

    private ReportPage() {}

    static String render(RunReport report) {
        List<Epoch> epochs = RunFigures.epochs(report);
        OptionalInt stop = RunFigures.stopEpoch(report);
        StringBuilder h = new StringBuilder(64 * 1024);
        h.append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n")
                .append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n")
                .append("<title>")
                .append(Xml.escape("Run report: " + report.runId()))
                .append("</title>\n")
                .append("<style>\n")
                .append(CSS)
                .append("</style>\n</head>\n<body>\n<main>\n");
        h.append("<h1>Run ").append(Xml.escape(report.runId())).append("</h1>\n");
        h.append("<p class=\"lede\">")
                .append(Xml.escape(headline(report, epochs, stop)))
                .append("</p>\n");
        summary(h, report, epochs, stop);
        for (Figure f : new ReportCharts(report).figures()) {
            figure(h, f);
        }
        evaluations(h, report);
        h.append("<section>\n<h2>Run spec</h2>\n<details><summary>spec.yaml</summary>\n<pre>")
                .append(Xml.escape(report.specYaml()))
                .append("</pre>\n</details>\n</section>\n");
        h.append("<footer>Also here: <a href=\"")
                .append(RunReportWriter.CSV)
                .append("\">")
                .append(RunReportWriter.CSV)
                .append("</a> (one row per evaluation) and <a href=\"")
                .append(RunReportWriter.SPEC)
                .append("\">")
                .append(RunReportWriter.SPEC)
                .append("</a>.</footer>\n");
        h.append("</main>\n</body>\n</html>\n");
        return h.toString();
    }

    /** One sentence: how the run ended, its result, how long it took. */
    private static String headline(RunReport report, List<Epoch> epochs, OptionalInt stop) {
        RunOutcome outcome = report.outcome();
        StringBuilder s = new StringBuilder(ending(report, epochs, stop));
        if (outcome.stoppedEarly()) {
            s.append(" (").append(outcome.stopReason()).append(')');
        }
        BestCheckpoint best = outcome.best();
        if (best != null) {
            s.append("; best epoch ")
                    .append(best.epoch())
                    .append(", ")
                    .append(best.metric())
                    .append(' ')
                    .append(Numbers.format(best.value()));
        } else if (report.evaluations().isEmpty()) {
            s.append("; no evaluations yet");
        }
        return s.append("; ")
                .append(Numbers.duration(outcome.wallTime()))
                .append('.')
                .toString();
    }

    private static String ending(RunReport report, List<Epoch> epochs, OptionalInt stop) {
        if (report.outcome().stoppedEarly()) {
            return "Stopped" + (stop.isPresent() ? " at epoch " + stop.getAsInt() : "");
        }
        if (epochs.isEmpty()) {
            return "No epoch finished yet";
        }
        return "Trained all " + epochs.get(epochs.size() - 1).epoch() + " epochs";
    }

    private static void summary(StringBuilder h, RunReport report, List<Epoch> epochs, OptionalInt stop) {
        RunOutcome outcome = report.outcome();
        h.append("<dl class=\"cards\">\n");
        long checkpoints =
                report.checkpoints().stream().filter(m -> !m.snapshot()).count();
        card(h, "Run", report.runId(), plural(checkpoints, "epoch checkpoint"));
        String reason = outcome.stopReason() == null
                ? null
                : outcome.stopReason() + (outcome.stopExplanation() == null ? "" : ": " + outcome.stopExplanation());
        card(h, "Outcome", ending(report, epochs, stop), reason);
        BestCheckpoint best = outcome.best();
        if (best == null) {
            card(h, "Best", "none yet", null);
        } else {
            card(
                    h,
                    "Best",
                    "epoch " + best.epoch() + " · " + best.metric() + " " + Numbers.format(best.value()),
                    best.checkpointId());
        }
        card(h, "Wall time", Numbers.duration(outcome.wallTime()), null);
        Map<String, List<StepSample>> nodes = report.nodeSamples();
        StringBuilder rates = new StringBuilder();
        nodes.forEach((node, samples) -> {
            double rate = RunFigures.meanThroughput(samples);
            rates.append(rates.isEmpty() ? "" : "; ")
                    .append(node)
                    .append(Double.isFinite(rate) ? ": " + Numbers.format(rate) + " samples/s" : "");
        });
        card(
                h,
                "Trainer nodes",
                nodes.isEmpty() ? "—" : Integer.toString(nodes.size()),
                rates.isEmpty() ? null : rates.toString());
        long evaluated = report.evaluations().stream()
                .filter(EvaluationRecord::evaluated)
                .count();
        long rejected = count(report, EvaluationRecord.REJECTED);
        long snapshots = count(report, EvaluationRecord.SNAPSHOT);
        card(
                h,
                "Evaluations",
                report.evaluations().isEmpty() ? "none yet" : Long.toString(evaluated),
                report.evaluations().isEmpty() ? null : rejected + " rejected · " + plural(snapshots, "snapshot"));
        h.append("</dl>\n");
    }

    private static String plural(long n, String noun) {
        return n + " " + noun + (n == 1 ? "" : "s");
    }

    private static long count(RunReport report, String status) {
        return report.evaluations().stream()
                .filter(r -> status.equals(r.status()))
                .count();
    }

    private static void card(StringBuilder h, String term, String value, String sub) {
        h.append("<div class=\"card\"><dt>")
                .append(Xml.escape(term))
                .append("</dt><dd>")
                .append(Xml.escape(value));
        if (sub != null) {
            h.append("<span class=\"sub\">").append(Xml.escape(sub)).append("</span>");
        }
        h.append("</dd></div>\n");
    }

    private static void figure(StringBuilder h, Figure f) {
        h.append("<section>\n<h2>").append(Xml.escape(f.title())).append("</h2>\n");
        if (f.chart() != null) {
            h.append(f.chart().toSvg());
            h.append("<p class=\"caption\">").append(Xml.escape(f.caption())).append("</p>\n");
        }
        if (f.note() != null) {
            h.append("<p class=\"note\">").append(Xml.escape(f.note())).append("</p>\n");
        }
        h.append("</section>\n");
    }

    private static void evaluations(StringBuilder h, RunReport report) {
        List<EvaluationRecord> records = report.evaluations();
        h.append("<section>\n<h2>Evaluations</h2>\n");
        if (records.isEmpty()) {
            h.append("<p class=\"note\">No evaluations yet.</p>\n</section>\n");
            return;
        }
        // only the metrics some record has; val_loss always, so the table says it is missing
        List<String> metrics = RunFigures.metricNames(records).stream()
                .filter(m -> m.equals("val_loss")
                        || records.stream()
                                .anyMatch(
                                        r -> r.metrics() != null && r.metrics().get(m) != null))
                .toList();
        h.append("<div class=\"scroll\"><table>\n<thead><tr><th>epoch</th><th>status</th>");
        for (String m : metrics) {
            h.append("<th>").append(Xml.escape(m)).append("</th>");
        }
        h.append("<th>train loss</th><th>gap</th><th>best so far</th><th>wait</th><th>patience left</th>")
                .append("<th>decision</th><th>reason</th><th>eval s</th><th>checkpoint</th></tr></thead>\n<tbody>\n");
        BestCheckpoint best = report.outcome().best();
        for (EvaluationRecord r : records) {
            h.append("<tr class=\"").append(rowClass(r, best)).append("\">");
            num(h, Integer.toString(r.epoch()));
            text(h, r.status());
            for (String m : metrics) {
                num(h, Numbers.format(r.metrics() == null ? null : r.metrics().get(m)));
            }
            num(h, Numbers.format(r.trainLoss()));
            Double valLoss = r.metrics() == null ? null : r.metrics().get("val_loss");
            num(h, valLoss == null || r.trainLoss() == null ? "—" : Numbers.format(valLoss - r.trainLoss()));
            text(
                    h,
                    r.best() == null
                            ? "—"
                            : "epoch " + r.best().epoch() + " · "
                                    + Numbers.format(r.best().value()));
            num(h, r.evaluated() ? Integer.toString(r.waitCount()) : "—");
            num(h, r.evaluated() ? Integer.toString(r.patienceLeft()) : "—");
            text(h, r.decision());
            text(
                    h,
                    r.reason() == null
                            ? r.explanation()
                            : r.reason() + (r.explanation() == null ? "" : ": " + r.explanation()));
            num(h, Numbers.format(r.evaluationSeconds()));
            text(h, r.checkpointId());
            h.append("</tr>\n");
        }
        h.append("</tbody>\n</table></div>\n");
        h.append(
                        "<p class=\"caption\">Highlighted: the best checkpoint (green) and the evaluation that stopped the run (grey). ")
                .append("Gap: validation loss minus training data loss.</p>\n</section>\n");
    }

    private static String rowClass(EvaluationRecord r, BestCheckpoint best) {
        if (EvaluationRecord.STOP.equals(r.decision())) {
            return "stop";
        }
        if (!r.evaluated()) {
            return EvaluationRecord.REJECTED.equals(r.status()) ? "rejected" : "snapshot";
        }
        boolean isBest = best != null
                && (best.checkpointId() != null
                        ? best.checkpointId().equals(r.checkpointId())
                        : best.epoch() == r.epoch());
        return isBest ? "best" : "evaluated";
    }

    private static void num(StringBuilder h, String value) {
        h.append("<td class=\"num\">").append(Xml.escape(value)).append("</td>");
    }

    private static void text(StringBuilder h, String value) {
        h.append("<td>").append(Xml.escape(value == null ? "—" : value)).append("</td>");
    }
}
