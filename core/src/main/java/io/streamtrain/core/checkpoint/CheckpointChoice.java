package io.streamtrain.core.checkpoint;

import io.streamtrain.core.evaluation.BestCheckpoint;
import io.streamtrain.core.evaluation.EvaluationRecord;
import io.streamtrain.core.kafka.StartupException;
import io.streamtrain.core.logging.Logs;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * Which checkpoint of a run to take (for {@code streamtrain export}, or for another run's
 * {@code init.from}): a pure function of the run's manifests, its evaluations and its STOP,
 * so every refusal is one message that says what the run has and what to ask for instead.
 * What the run's records say (a checkpoint id, a metric's name) is escaped in the refusals and
 * in {@link Chosen#why}: commands print them, and a trainer logs them.
 */
public final class CheckpointChoice {
    private CheckpointChoice() {}

    /** The chosen manifest and a few words on why it is the one. */
    public record Chosen(CheckpointManifest manifest, String why) {}

    /**
     * The run's best checkpoint: the {@code best} of its latest evaluation that names one,
     * else the best named by its STOP (when the evaluations topic is gone but the control
     * topic is not).
     *
     * @param epochHint how the caller names an epoch instead, for the refusal ("--epoch E")
     * @throws StartupException exit 2 when the run has no evaluation yet
     */
    public static Chosen best(
            String run,
            List<CheckpointManifest> manifests,
            List<EvaluationRecord> evaluations,
            Optional<BestCheckpoint> stopBest,
            String epochHint) {
        BestCheckpoint best = null;
        String source = null;
        for (EvaluationRecord e : evaluations) {
            if (e.best() != null) {
                best = e.best();
                source = "the latest evaluation";
            }
        }
        if (best == null && stopBest.isPresent()) {
            best = stopBest.get();
            source = "the run's STOP";
        }
        if (best == null) {
            throw new StartupException(
                    StartupException.BAD_CONFIGURATION,
                    "run " + run + " has no evaluations yet, so no best checkpoint"
                            + " (nothing on streamtrain." + run
                            + ".evaluations): run an evaluator for it (streamtrain evaluate --run " + run
                            + "), or name an epoch with " + epochHint + epochsHint(manifests));
        }
        String id = best.checkpointId();
        CheckpointManifest m = manifests.stream()
                .filter(x -> x.checkpointId().equals(id))
                .reduce((a, b) -> b)
                .orElseThrow(() -> new StartupException(
                        StartupException.RETRYABLE,
                        "the best checkpoint of run " + run + ", " + Logs.escape(id)
                                + " (named by the evaluations), is not on "
                                + "streamtrain." + run + ".checkpoints: was the topic deleted or truncated?"
                                + epochsHint(manifests)));
        return new Chosen(
                m,
                String.format(
                        Locale.ROOT, "best by %s %.6g, from %s", Logs.escape(best.metric()), best.value(), source));
    }

    /**
     * The checkpoint that ended {@code epoch} (not a mid-epoch snapshot); the last one when
     * the epoch was published twice.
     *
     * @throws StartupException exit 2 when the run has none
     */
    public static Chosen epoch(String run, List<CheckpointManifest> manifests, int epoch) {
        return manifests.stream()
                .filter(m -> !m.snapshot() && m.epoch() == epoch)
                .reduce((a, b) -> b)
                .map(m -> new Chosen(m, "epoch " + epoch))
                .orElseThrow(() -> new StartupException(
                        StartupException.BAD_CONFIGURATION,
                        "run " + run + " has no checkpoint of epoch " + epoch + epochsHint(manifests)));
    }

    /**
     * The checkpoint with this id, a snapshot or an epoch's.
     *
     * @throws StartupException exit 2 when the run has none
     */
    public static Chosen id(String run, List<CheckpointManifest> manifests, String id) {
        return manifests.stream()
                .filter(m -> m.checkpointId().equals(id))
                .reduce((a, b) -> b)
                .map(m -> new Chosen(m, m.snapshot() ? "snapshot" : "epoch " + m.epoch()))
                .orElseThrow(() -> new StartupException(
                        StartupException.BAD_CONFIGURATION,
                        "run " + run + " has no checkpoint " + Logs.escape(id) + epochsHint(manifests)
                                + "; `streamtrain ctl status --run " + run + "` lists them"));
    }

    /**
     * The run's latest epoch checkpoint (the last published of its highest epoch).
     *
     * @throws StartupException exit 2 when the run has none
     */
    public static Chosen latest(String run, List<CheckpointManifest> manifests) {
        return manifests.stream()
                .filter(m -> !m.snapshot())
                .reduce((a, b) -> b.epoch() >= a.epoch() ? b : a)
                .map(m -> new Chosen(m, "latest: epoch " + m.epoch()))
                .orElseThrow(() -> new StartupException(
                        StartupException.BAD_CONFIGURATION,
                        "run " + run
                                + " has no epoch checkpoint yet"
                                + epochsHint(manifests).replace("; it has no epoch checkpoint yet", "")
                                + ": its trainers publish one at the end of every epoch"));
    }

    /** "; its checkpoints are of epochs 1-7 (and 2 snapshots)", or that it has none. */
    static String epochsHint(List<CheckpointManifest> manifests) {
        List<Integer> epochs = manifests.stream()
                .filter(m -> !m.snapshot())
                .map(CheckpointManifest::epoch)
                .distinct()
                .sorted()
                .toList();
        long snapshots = manifests.stream().filter(CheckpointManifest::snapshot).count();
        String s = snapshots == 0 ? "" : " (and " + snapshots + (snapshots == 1 ? " snapshot)" : " snapshots)");
        if (epochs.isEmpty()) {
            return "; it has no epoch checkpoint yet" + s;
        }
        return "; its checkpoints are of epochs " + ranges(epochs) + s;
    }

    /** "1-5, 7" for [1, 2, 3, 4, 5, 7]. */
    static String ranges(List<Integer> sorted) {
        StringBuilder b = new StringBuilder();
        int i = 0;
        while (i < sorted.size()) {
            int j = i;
            while (j + 1 < sorted.size() && sorted.get(j + 1) == sorted.get(j) + 1) {
                j++;
            }
            b.append(b.length() == 0 ? "" : ", ").append(sorted.get(i));
            if (j > i) {
                b.append('-').append(sorted.get(j));
            }
            i = j + 1;
        }
        return b.toString();
    }
}
