package io.streamtrain.lab;

import io.streamtrain.core.checkpoint.CheckpointManifest;
import io.streamtrain.core.checkpoint.RunCheckpoints;
import io.streamtrain.core.control.ControlMessage;
import io.streamtrain.core.control.MalformedMessageException;
import io.streamtrain.core.evaluation.BestCheckpoint;
import io.streamtrain.core.evaluation.EvaluationRecord;
import io.streamtrain.core.kafka.KafkaSettings;
import io.streamtrain.core.kafka.TopicReader;
import io.streamtrain.core.protocol.Messages;
import io.streamtrain.core.topics.Topics;
import io.streamtrain.evaluator.EvaluatorService;
import io.streamtrain.lab.demo.LiveView;
import io.streamtrain.lab.demo.TrainerScrape;
import io.streamtrain.lab.report.RunOutcome;
import io.streamtrain.lab.report.RunReport;
import io.streamtrain.lab.report.RunReportWriter;
import io.streamtrain.lab.report.StepSample;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Queue;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;

/**
 * A run on this machine, watched from start to end: its trainer nodes as child JVMs (as in
 * production), the evaluator in this JVM, a live view of both, and at the end the run's
 * report. What {@code streamtrain demo} and {@code streamtrain local} share.
 */
final class WatchedRun {
    private final String run;
    private final String specText;
    private final int maxEpochs;
    private final int nodes;
    private final int partitions;
    private final long samplesPerEpoch;
    private final Path reportDir;
    private final LiveView view;
    private final PrintStream out;
    /** A continuous run: windows instead of epochs, promotions instead of a STOP. */
    private final boolean continuous;
    /** Evaluations not shown yet: an epoch's evaluation is shown after its training line. */
    private final Queue<EvaluationRecord> unshown = new ConcurrentLinkedQueue<>();
    /** The last epoch (window) whose training line was shown. */
    private int trainedShown;

    private boolean earlyStopping;

    /** One trainer node as the run is followed: its metrics port and its scrapes. */
    private static final class Followed {
        final int port;
        final List<StepSample> samples = new CopyOnWriteArrayList<>();
        double epochStartSamples;
        int epoch;

        Followed(int port) {
            this.port = port;
        }
    }

    /**
     * @param partitions the train topic's partitions
     * @param samplesPerEpoch samples in an epoch, for the progress bars; 0 when not known (no bars)
     * @param reportDir the report goes to {@code reportDir/run}
     */
    WatchedRun(
            String run,
            String specText,
            int maxEpochs,
            int nodes,
            int partitions,
            long samplesPerEpoch,
            Path reportDir,
            LiveView view,
            PrintStream out) {
        this.run = run;
        this.specText = specText;
        this.maxEpochs = maxEpochs;
        this.nodes = nodes;
        this.partitions = partitions;
        this.samplesPerEpoch = samplesPerEpoch;
        this.reportDir = reportDir;
        this.view = view;
        this.out = out;
        this.continuous =
                io.streamtrain.core.spec.RunSpecParser.parse(specText).data().continuous();
    }

    /**
     * Trains and evaluates until the nodes exit (a STOP, or the last epoch), then writes the report.
     *
     * @return what the report shows: the run's evaluations, checkpoints and outcome
     * @param startedNanos when the command started ({@link System#nanoTime()}), for the wall time it reports
     * @throws TrainerJvms.BenchFailedException when a node fails (its last lines are in the message)
     */
    RunReport run(TrainerJvms jvms, KafkaSettings kafka, long startedNanos) throws Exception {
        String bootstrap = kafka.bootstrapServers();
        List<EvaluationRecord> evaluations = new CopyOnWriteArrayList<>();
        earlyStopping = io.streamtrain.core.spec.RunSpecParser.parse(specText)
                .earlyStopping()
                .enabled();
        EvaluatorService evaluator = new EvaluatorService(kafka, List.of(run), run + "-evaluator");
        evaluator.addListener(e -> {
            evaluations.add(e);
            unshown.add(e);
        });
        Thread evaluatorThread = new Thread(evaluator::run, run + "-evaluator");
        evaluatorThread.start();
        Path spec = jvms.spec(run, specText);
        Map<String, Followed> followed = new ConcurrentHashMap<>();
        List<TrainerJvms.Node> started = new ArrayList<>();
        // before the nodes start: a checkpoint topic they make is new, one they find is an earlier run's
        CheckpointWatch checkpoints = new CheckpointWatch(kafka, run);
        for (int i = 0; i < nodes; i++) {
            String id = "node-" + i;
            TrainerJvms.Node node = jvms.start(spec, bootstrap, id);
            started.add(node);
            followed.put(id, new Followed(node.metricsPort));
        }
        long[] lastScrape = {0};
        List<CheckpointManifest> manifests;
        ControlMessage.Stop stopCommand;
        try (checkpoints) {
            TrainerJvms.awaitExit(started, Duration.ofDays(7), () -> {
                checkpoints.poll().forEach(this::trained);
                showEvaluations(false);
                if (System.nanoTime() - lastScrape[0] >= 1_000_000_000L) {
                    lastScrape[0] = System.nanoTime();
                    new TreeMap<>(followed).forEach(this::show);
                }
            });
            // every node is gone: the checkpoints are all there
            checkpoints.rest(Duration.ofSeconds(30)).forEach(this::trained);
            try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(kafka.consumer(null))) {
                manifests = RunCheckpoints.list(c, run, Duration.ofSeconds(30), message -> {}, kafka.signing())
                        .manifests();
                stopCommand = firstStop(c);
            }
            // after an operator's STOP the evaluator scores none of the run's checkpoints: nothing to wait for
            if (stopCommand == null || "evaluator".equals(stopCommand.source())) {
                awaitLastEvaluation(manifests, evaluations);
            }
        } finally {
            evaluator.close();
            evaluatorThread.join(30_000);
        }
        showEvaluations(true);
        new TreeMap<>(followed).forEach((id, f) -> view.node(id, status(f, "done", 1)));
        view.finish();
        return report(
                kafka.bootstrapServers(),
                manifests,
                evaluations,
                stopCommand,
                followed,
                Duration.ofNanos(System.nanoTime() - startedNanos));
    }

    /** The run's STOP on its control topic (the evaluator's or an operator's), or null. */
    private ControlMessage.Stop firstStop(KafkaConsumer<byte[], byte[]> c) {
        for (ConsumerRecord<byte[], byte[]> r : TopicReader.readAll(c, Topics.control(run), Duration.ofSeconds(30))) {
            try {
                if (Messages.decodeControl(r.value()).orElse(null) instanceof ControlMessage.Stop stop) {
                    return stop;
                }
            } catch (MalformedMessageException e) {
                // the trainers count and skip it; so does the report
            }
        }
        return null;
    }

    /**
     * A run that trained all its epochs stops before the evaluator has scored the last of
     * them: wait for it (up to two minutes), so the report has every epoch and a best.
     */
    private void awaitLastEvaluation(List<CheckpointManifest> manifests, List<EvaluationRecord> evaluations)
            throws InterruptedException {
        if (evaluations.stream().anyMatch(e -> EvaluationRecord.STOP.equals(e.decision()))) {
            return;
        }
        int last = lastEpoch(manifests);
        long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
        showEvaluations(false); // those the evaluator has made, before saying it is waited for
        boolean said = false;
        while (evaluations.stream().noneMatch(e -> e.epoch() >= last && !EvaluationRecord.SNAPSHOT.equals(e.status()))
                && last > 0
                && System.nanoTime() < deadline) {
            if (!said) {
                view.line("  the nodes are done; waiting for the evaluator to score epoch " + last);
                said = true;
            }
            showEvaluations(false);
            Thread.sleep(100);
        }
    }

    /** The last epoch the run checkpointed (snapshots aside); 0 for none. */
    private static int lastEpoch(List<CheckpointManifest> manifests) {
        return manifests.stream()
                .filter(m -> !m.snapshot())
                .mapToInt(CheckpointManifest::epoch)
                .max()
                .orElse(0);
    }

    /** @param all every one left (the run is over), else those of epochs whose training line was shown */
    private void showEvaluations(boolean all) {
        for (EvaluationRecord e = unshown.peek(); e != null && (all || e.epoch() <= trainedShown); e = unshown.peek()) {
            unshown.remove();
            view.line(evaluationLine(e));
        }
    }

    /** An epoch's (a window's) training figures, as its checkpoint's manifest has them. */
    private void trained(CheckpointManifest m) {
        trainedShown = Math.max(trainedShown, m.epoch());
        Map<String, Double> x = m.metrics();
        view.line(String.format(
                Locale.ROOT,
                "  %s %2d  trained     train_loss %.4f (data %.4f)  %.0f samples/s",
                continuous ? "window" : "epoch",
                m.epoch(),
                x.getOrDefault("train_loss", Double.NaN),
                x.getOrDefault("data_loss", Double.NaN),
                x.getOrDefault("samples_per_second", Double.NaN)));
    }

    /** Scrapes a node's meters (the same an operator's Prometheus reads) and shows where it is. */
    private void show(String id, Followed f) {
        try {
            TrainerScrape s = TrainerScrape.of(f.port);
            StepSample sample = s.sample();
            if (sample.epoch() != f.epoch) {
                f.epoch = sample.epoch();
                f.epochStartSamples = sample.samplesTotal();
            }
            f.samples.add(sample);
            double share = samplesPerEpoch * (Double.isNaN(s.partitions()) ? 1.0 / nodes : s.partitions() / partitions);
            view.node(
                    id,
                    status(
                            f,
                            s.partitions() == 0 ? "waiting" : "training",
                            share > 0 ? (sample.samplesTotal() - f.epochStartSamples) / share : Double.NaN));
        } catch (java.io.IOException | InterruptedException | RuntimeException e) {
            // the node is starting (its metrics not served yet) or leaving: its line stays as it was
            if (f.samples.isEmpty()) {
                view.node(id, status(f, "starting", Double.NaN));
            }
        }
    }

    private LiveView.NodeStatus status(Followed f, String state, double fraction) {
        List<StepSample> s = f.samples;
        StepSample last = s.isEmpty() ? null : s.get(s.size() - 1);
        double rate = Double.NaN;
        if (s.size() >= 2) {
            StepSample before = s.get(Math.max(0, s.size() - 6));
            double seconds = (last.timeMillis() - before.timeMillis()) / 1e3;
            rate = seconds > 0 ? (last.samplesTotal() - before.samplesTotal()) / seconds : Double.NaN;
        }
        return new LiveView.NodeStatus(
                last == null ? 0 : last.epoch(),
                maxEpochs,
                fraction,
                last == null ? 0 : last.step(),
                rate,
                last == null ? Double.NaN : last.dataLoss(),
                state);
    }

    /**
     * An evaluation under its epoch's (window's) training line: its scores, then what the run
     * makes of them, a bounded run its best and patience, a continuous run its promoted model.
     */
    private String evaluationLine(EvaluationRecord e) {
        if (!e.evaluated()) {
            return "  " + (continuous ? "window " : "epoch ") + e.epoch() + "  " + e.status() + ": " + e.explanation();
        }
        Double accuracy = e.metrics().get("val_accuracy");
        String scores = String.format(
                Locale.ROOT,
                "evaluated   val_loss %.4f%s",
                e.metrics().get("val_loss"),
                accuracy == null ? "" : String.format(Locale.ROOT, "  val_accuracy %.3f", accuracy));
        BestCheckpoint best = e.best();
        if (continuous) {
            return String.format(
                    Locale.ROOT,
                    "  window %2d %s  promoted %s%s",
                    e.epoch(),
                    scores,
                    best == null
                            ? "none yet"
                            : String.format(Locale.ROOT, "window %d (%.4f)", best.epoch(), best.value()),
                    EvaluationRecord.PROMOTE.equals(e.decision())
                            ? "  -> PROMOTED"
                            : EvaluationRecord.DEGRADING.equals(e.decision())
                                    ? "  -> degrading (" + e.reason() + ")"
                                    : "");
        }
        return String.format(
                Locale.ROOT,
                "  epoch %2d  %s  best %s  %s%s",
                e.epoch(),
                scores,
                best == null ? "none yet" : String.format(Locale.ROOT, "%.4f (epoch %d)", best.value(), best.epoch()),
                earlyStopping ? "patience left " + e.patienceLeft() : "early stopping off",
                EvaluationRecord.STOP.equals(e.decision()) ? "  -> STOP: " + e.explanation() : "");
    }

    /**
     * Writes reportDir/run/ (report, evaluations, spec, best weights) and prints the summary.
     *
     * @param stopCommand the STOP on the run's control topic: the evaluator's, or an operator's
     *     ({@code ctl stop}), which no evaluation records
     */
    private RunReport report(
            String bootstrap,
            List<CheckpointManifest> manifests,
            List<EvaluationRecord> evaluations,
            ControlMessage.Stop stopCommand,
            Map<String, Followed> followed,
            Duration wall)
            throws Exception {
        EvaluationRecord stop = evaluations.stream()
                .filter(e -> EvaluationRecord.STOP.equals(e.decision()))
                .findFirst()
                .orElse(null);
        EvaluationRecord last = evaluations.stream()
                .filter(EvaluationRecord::evaluated)
                .reduce((a, b) -> b)
                .orElse(null);
        Map<String, List<StepSample>> samples = new TreeMap<>();
        followed.forEach((id, f) -> samples.put(id, List.copyOf(f.samples)));
        Path dir = reportDir.resolve(run);
        String reason = stopCommand != null ? stopCommand.reason() : stop == null ? null : stop.reason();
        String explanation = stopCommand != null ? stopCommand.explanation() : stop == null ? null : stop.explanation();
        // the evaluator may decide on epoch N after the nodes trained further: what counts is what was trained
        int stoppedAfter = Math.max(stop == null ? 0 : stop.epoch(), lastEpoch(manifests));
        RunReport runReport = new RunReport(
                run,
                specText,
                evaluations,
                manifests,
                samples,
                new RunOutcome(
                        reason,
                        explanation,
                        reason == null ? 0 : Math.max(0, maxEpochs - stoppedAfter),
                        last == null ? null : last.best(),
                        wall));
        Path html = RunReportWriter.write(runReport, dir);
        if (continuous) {
            return continuousSummary(bootstrap, runReport, manifests, last, dir, html, wall);
        }
        String exported = export("best", last, dir, bootstrap);
        int trained = lastEpoch(manifests);
        // the nodes go on training while the evaluator scores: they may have trained past the epoch it stopped at
        String stopAt = stop != null && stop.epoch() < trained
                ? String.format(Locale.ROOT, " (the evaluator's STOP came at epoch %d)", stop.epoch())
                : "";
        out.printf(
                Locale.ROOT,
                "streamtrain: run %s %s after %d epochs%s in %.1f s%s%n",
                run,
                runReport.outcome().stoppedEarly() ? "stopped early" : "finished",
                trained,
                stopAt,
                wall.toMillis() / 1e3,
                last == null || last.best() == null
                        ? ""
                        : String.format(
                                Locale.ROOT,
                                "; the run's result is its best checkpoint %s (epoch %d, val_loss %.4f)",
                                last.best().checkpointId(),
                                last.best().epoch(),
                                last.best().value()));
        out.println("  report: " + html.toAbsolutePath() + " (with evaluations.csv, spec.yaml" + exported + ")");
        return runReport;
    }

    /**
     * Writes the run's result next to its report with {@code streamtrain export --best} (a
     * bounded run) or {@code --promoted} (a continuous one), as {@code best.safetensors} or
     * {@code promoted.safetensors}.
     *
     * @param last the run's last evaluation: nothing is written when it has no best (promoted) checkpoint
     * @return what the report line adds: the file's name, or why it could not be written; empty when none was
     */
    private String export(String which, EvaluationRecord last, Path dir, String bootstrap) {
        if (last == null || last.best() == null) {
            return "";
        }
        String file = which + ".safetensors";
        ProductRun export = ProductRun.of(
                "export",
                "--run",
                run,
                "--" + which,
                "-o",
                dir.resolve(file).toString(),
                "--bootstrap-servers",
                bootstrap);
        return export.succeeded()
                ? ", " + file
                : " (" + file + " could not be written: " + export.printed().strip() + ")";
    }

    /** A continuous run ends after its windows: what it promoted is its result (promoted.safetensors). */
    private RunReport continuousSummary(
            String bootstrap,
            RunReport runReport,
            List<CheckpointManifest> manifests,
            EvaluationRecord last,
            Path dir,
            Path html,
            Duration wall) {
        String exported = export("promoted", last, dir, bootstrap);
        long promotions = runReport.evaluations().stream()
                .filter(e -> EvaluationRecord.PROMOTE.equals(e.decision()))
                .count();
        out.printf(
                Locale.ROOT,
                "streamtrain: run %s trained %d windows of a live topic in %.1f s and promoted %d of them%s%n",
                run,
                lastEpoch(manifests),
                wall.toMillis() / 1e3,
                promotions,
                last == null || last.best() == null
                        ? ""
                        : String.format(
                                Locale.ROOT,
                                "; its promoted model is checkpoint %s (window %d, val_loss %.4f)",
                                last.best().checkpointId(),
                                last.best().epoch(),
                                last.best().value()));
        out.println("  report: " + html.toAbsolutePath() + " (with evaluations.csv, spec.yaml" + exported + ")");
        return runReport;
    }
}
