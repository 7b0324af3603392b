package io.streamtrain.core.spec;

import com.fasterxml.jackson.annotation.JsonInclude;

/**
 * Where a run's data lives, and how it is cut into epochs.
 *
 * @param train topic the trainers consume
 * @param validation topic the evaluator consumes; may be null when no evaluator runs
 * @param mode {@value #BOUNDED}: an epoch is a pass over the train topic as it stood when the
 *     run started, and every epoch replays it; {@value #CONTINUOUS}: the topic is live, and
 *     each "epoch" is the next window of records that arrived, never replayed
 * @param window the window of a continuous run; null for a bounded one
 */
public record DataSpec(String train, String validation, String mode, Window window) {
    public static final String BOUNDED = "bounded";
    public static final String CONTINUOUS = "continuous";

    /**
     * A continuous run's unit of training, evaluation and checkpointing.
     *
     * @param records Kafka records (batches) per window, over all partitions of the train
     *     topic: each partition's share is {@code records / partitions}, the lower partitions
     *     taking one more when it does not divide, so where a window ends is a function of the
     *     offsets alone; 0 for a window of {@code minutes}
     * @param minutes the span of record timestamps a window takes on each partition, instead of
     *     a count: a partition's share starts at the record after the last window's, and ends
     *     before its first record stamped at or after the next multiple of {@code minutes} (since
     *     the Unix epoch, UTC) after that first record's timestamp; so where a window ends is a
     *     function of the partition's records alone. Null (left out of the spec's JSON) for a
     *     window of {@code records}
     * @param replay the share of each window's trained records drawn from earlier windows of
     *     the run, in [0, {@value #MAX_REPLAY}]; null (left out of the spec's JSON) for none
     * @param replayHorizon how many windows back the replayed records may come from (at least
     *     1); null for {@value #DEFAULT_REPLAY_HORIZON}. The train topic's retention must keep
     *     that many windows
     */
    public record Window(
            @JsonInclude(JsonInclude.Include.NON_DEFAULT) long records,
            @JsonInclude(JsonInclude.Include.NON_NULL) Double minutes,
            @JsonInclude(JsonInclude.Include.NON_NULL) Double replay,
            @JsonInclude(JsonInclude.Include.NON_NULL) Integer replayHorizon) {
        public static final double MAX_REPLAY = 0.9;
        public static final int DEFAULT_REPLAY_HORIZON = 10;
        /** The shortest window of minutes: one second. */
        public static final double MIN_MINUTES = 1.0 / 60;
        /** The longest window of minutes: a week. */
        public static final double MAX_MINUTES = 7 * 24 * 60;

        public Window {
            if ((records > 0) == (minutes != null) || records < 0) {
                throw new IllegalArgumentException(
                        "a window is cut by records or by minutes, not both or neither (records " + records
                                + ", minutes " + minutes + ")");
            }
            if (minutes != null && !(minutes >= MIN_MINUTES && minutes <= MAX_MINUTES)) {
                throw new IllegalArgumentException(
                        "window minutes " + minutes + " is not in [" + MIN_MINUTES + ", " + MAX_MINUTES + "]");
            }
            if (minutes != null && replay != null) {
                throw new IllegalArgumentException("a window of minutes replays nothing (replay " + replay + ")");
            }
            if (replay != null && !(replay >= 0 && replay <= MAX_REPLAY)) {
                throw new IllegalArgumentException("window replay " + replay + " is not in [0, " + MAX_REPLAY + "]");
            }
            if (replayHorizon != null && replayHorizon < 1) {
                throw new IllegalArgumentException("window replayHorizon " + replayHorizon + " is below 1");
            }
        }

        /** A window of records without replay. */
        public Window(long records) {
            this(records, null, null, null);
        }

        /** A window of records. */
        public Window(long records, Double replay, Integer replayHorizon) {
            this(records, null, replay, replayHorizon);
        }

        /** A window of {@code minutes} of record timestamps on each partition. */
        public static Window ofMinutes(double minutes) {
            return new Window(0, minutes, null, null);
        }

        /** The span of a window of minutes in milliseconds; 0 for a window of records. */
        public long millis() {
            return minutes == null ? 0 : Math.round(minutes * 60_000);
        }

        /** The share of a window replayed (0: none). */
        public double replayShare() {
            return replay == null ? 0 : replay;
        }

        /** Windows back the replayed records may come from. */
        public int horizon() {
            return replayHorizon == null ? DEFAULT_REPLAY_HORIZON : replayHorizon;
        }
    }

    public DataSpec {
        mode = mode == null ? BOUNDED : mode;
        if (CONTINUOUS.equals(mode) != (window != null)) {
            throw new IllegalArgumentException(
                    "a continuous run needs a window, a bounded one has none (mode " + mode + ")");
        }
    }

    /** A bounded run's data. */
    public DataSpec(String train, String validation) {
        this(train, validation, BOUNDED, null);
    }

    public boolean continuous() {
        return CONTINUOUS.equals(mode);
    }

    /** Records per window, or 0 for a bounded run (whose epoch is the whole topic). */
    public long windowRecords() {
        return window == null ? 0 : window.records();
    }
}
