package io.streamtrain.core.spec;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A checkpoint of another run, as {@code init.from} names it:
 * <ul>
 *   <li>{@code run:NAME} — the run's latest epoch checkpoint;
 *   <li>{@code run:NAME@best} — its best checkpoint, as its evaluator decided (the latest
 *       evaluation's best, or the one its STOP names);
 *   <li>{@code run:NAME@promoted} — a continuous run's promoted model (its
 *       {@code streamtrain.NAME.models} topic);
 *   <li>{@code run:NAME@E} — the checkpoint that ended its epoch E.
 * </ul>
 * Read from {@code streamtrain.NAME.checkpoints} when a run starts without a checkpoint of its
 * own; a resumed run has its weights (and its L2-SP anchors) in its own checkpoints.
 *
 * @param epoch the epoch for {@link Which#EPOCH}, else 0
 */
public record CheckpointRef(String run, Which which, int epoch) {
    public static final String PREFIX = "run:";
    private static final Pattern SYNTAX = Pattern.compile(
            "run:(" + io.streamtrain.core.topics.Topics.RUN_ID_SYNTAX + ")(?:@(best|promoted|latest|[0-9]{1,9}))?");

    public enum Which {
        LATEST,
        BEST,
        PROMOTED,
        EPOCH
    }

    static boolean isRef(String from) {
        return from.startsWith(PREFIX);
    }

    /** @throws IllegalArgumentException with what is allowed, if {@code text} is not a reference */
    public static CheckpointRef parse(String text) {
        Matcher m = SYNTAX.matcher(text);
        if (!m.matches()) {
            throw new IllegalArgumentException(
                    "'" + text + "' is not a checkpoint reference; allowed: run:NAME (its latest epoch"
                            + " checkpoint), run:NAME@best (its best, by its evaluations), run:NAME@promoted (a continuous run's promoted model), run:NAME@E (the checkpoint of epoch E >= 1),"
                            + " NAME being a run id; or the path of a .safetensors file (./run:x for a file named so)");
        }
        String which = m.group(2);
        if (which == null || which.equals("latest")) {
            return new CheckpointRef(m.group(1), Which.LATEST, 0);
        }
        if (which.equals("best")) {
            return new CheckpointRef(m.group(1), Which.BEST, 0);
        }
        if (which.equals("promoted")) {
            return new CheckpointRef(m.group(1), Which.PROMOTED, 0);
        }
        int epoch = Integer.parseInt(which);
        if (epoch < 1) {
            throw new IllegalArgumentException("'" + text + "': epochs count from 1");
        }
        return new CheckpointRef(m.group(1), Which.EPOCH, epoch);
    }

    @Override
    public String toString() {
        return switch (which) {
            case LATEST -> PREFIX + run;
            case BEST -> PREFIX + run + "@best";
            case PROMOTED -> PREFIX + run + "@promoted";
            case EPOCH -> PREFIX + run + "@" + epoch;
        };
    }
}
