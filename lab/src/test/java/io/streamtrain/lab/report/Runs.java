package io.streamtrain.lab.report;

import io.streamtrain.core.checkpoint.CheckpointManifest;
import io.streamtrain.core.evaluation.BestCheckpoint;
import io.streamtrain.core.evaluation.EvaluationRecord;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** Made-up runs for the report tests: their figures are chosen so each test can name what it expects. */
final class Runs {
    static final String SPEC = "run: demo\nmodel: { inputs: 64, classes: 10 }\nearlyStopping: { patience: 3 }\n";

    /** Validation loss per epoch 1..8: best at epoch 5, then three epochs without improvement. */
    static final double[] VAL_LOSS = {1.20, 0.90, 0.70, 0.60, 0.55, 0.58, 0.62, 0.70};

    static final double[] TRAIN_LOSS = {1.30, 0.85, 0.62, 0.48, 0.39, 0.31, 0.25, 0.20};
    static final int BEST_EPOCH = 5;
    static final int STOP_EPOCH = 8;

    private Runs() {}

    /**
     * Eight epochs stopped by patience at epoch 8, best at 5; a snapshot evaluated mid-epoch
     * 4 (not part of the per-epoch plots); two nodes scraped {@code scrapes} times each.
     */
    static RunReport stoppedRun(int scrapes) {
        List<EvaluationRecord> evaluations = new ArrayList<>();
        List<CheckpointManifest> manifests = new ArrayList<>();
        for (int e = 1; e <= VAL_LOSS.length; e++) {
            int bestSoFar = Math.min(e, BEST_EPOCH);
            int wait = e - bestSoFar;
            boolean last = e == STOP_EPOCH;
            manifests.add(manifest(
                    e,
                    "epoch",
                    Map.of(
                            "data_loss",
                            TRAIN_LOSS[e - 1],
                            "train_loss",
                            TRAIN_LOSS[e - 1] + 0.05,
                            "train_accuracy",
                            0.5 + e * 0.05,
                            "samples",
                            6400.0)));
            evaluations.add(evaluation(
                    e,
                    EvaluationRecord.EVALUATED,
                    Map.of(
                            "val_loss",
                            VAL_LOSS[e - 1],
                            "val_accuracy",
                            0.45 + e * 0.04,
                            "val_perplexity",
                            Math.exp(VAL_LOSS[e - 1])),
                    TRAIN_LOSS[e - 1],
                    best(bestSoFar),
                    wait,
                    3 - wait,
                    last ? EvaluationRecord.STOP : EvaluationRecord.CONTINUE,
                    last ? "patience-exhausted" : null,
                    last ? "val_loss has not improved on 0.55, epoch 5, for 3 evaluations" : "improving"));
            if (e == 4) {
                manifests.add(manifest(4, "snapshot", Map.of("data_loss", 9.0)));
                evaluations.add(evaluation(
                        4,
                        EvaluationRecord.SNAPSHOT,
                        Map.of("val_loss", 9.0),
                        9.0,
                        best(4),
                        0,
                        3,
                        EvaluationRecord.CONTINUE,
                        null,
                        "snapshot"));
            }
        }
        Map<String, List<StepSample>> nodes =
                Map.of("trainer-0", samples(scrapes, 1000), "trainer-1", samples(scrapes, 1500));
        RunOutcome outcome = new RunOutcome(
                "patience-exhausted",
                "val_loss has not improved for 3 evaluations",
                2,
                best(BEST_EPOCH),
                Duration.ofMillis(7_200));
        return new RunReport("demo", SPEC, evaluations, manifests, nodes, outcome);
    }

    /** Nothing yet: no evaluations, no checkpoints, no scrapes. */
    static RunReport emptyRun() {
        return new RunReport(
                "fresh", SPEC, List.of(), List.of(), Map.of(), new RunOutcome(null, null, 0, null, Duration.ZERO));
    }

    static BestCheckpoint best(int epoch) {
        return new BestCheckpoint(epoch, checkpointId(epoch), "val_loss", VAL_LOSS[epoch - 1]);
    }

    static String checkpointId(int epoch) {
        return String.format("demo-e%04d", epoch);
    }

    static CheckpointManifest manifest(int epoch, String kind, Map<String, Double> metrics) {
        return new CheckpointManifest(
                1,
                "checkpoint",
                "demo",
                checkpointId(epoch) + (kind.equals("snapshot") ? "-s1" : ""),
                epoch,
                epoch,
                epoch * 100L,
                null,
                List.of(),
                null,
                List.of(),
                metrics,
                "trainer-0",
                "2025-01-01T00:00:0" + epoch + "Z",
                kind,
                null,
                null,
                null);
    }

    static EvaluationRecord evaluation(
            int epoch,
            String status,
            Map<String, Double> metrics,
            Double trainLoss,
            BestCheckpoint best,
            int wait,
            int patienceLeft,
            String decision,
            String reason,
            String explanation) {
        return new EvaluationRecord(
                "evaluation",
                "demo",
                "ev-" + epoch + "-" + status,
                "2025-01-01T00:01:0" + epoch + "Z",
                status,
                epoch,
                checkpointId(epoch),
                metrics,
                trainLoss,
                best,
                wait,
                patienceLeft,
                decision,
                reason,
                explanation,
                0.25 * epoch,
                null);
    }

    /** One scrape a second from {@code startMillis}: 640 samples a second, l2sp off, the others on. */
    static List<StepSample> samples(int scrapes, long startMillis) {
        List<StepSample> samples = new ArrayList<>();
        for (int i = 0; i < scrapes; i++) {
            samples.add(new StepSample(
                    startMillis + i * 1000L,
                    1 + i / 10,
                    i * 10L,
                    i * 640.0,
                    1.0 / (1 + i),
                    0.001 * (1 + i % 3),
                    0.002,
                    0.0,
                    10 + i * 0.1,
                    0.001));
        }
        return samples;
    }

    static Map<String, Double> metrics(Object... nameValue) {
        Map<String, Double> m = new HashMap<>();
        for (int i = 0; i < nameValue.length; i += 2) {
            m.put((String) nameValue[i], (Double) nameValue[i + 1]);
        }
        return m;
    }
}
