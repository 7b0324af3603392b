package io.streamtrain.core.topics;

/**
 * The names of streamtrain's own topics and consumer groups. Every writer and reader
 * asks here, so a name is spelled in one place.
 */
public final class Topics {
    /** Compacted topic of run specs, keyed by run id. */
    public static final String RUNS = "streamtrain.runs";

    private Topics() {}

    public static String checkpoints(String run) {
        return "streamtrain." + run + ".checkpoints";
    }

    public static String evaluations(String run) {
        return "streamtrain." + run + ".evaluations";
    }

    public static String control(String run) {
        return "streamtrain." + run + ".control";
    }

    public static String sync(String run) {
        return "streamtrain." + run + ".sync";
    }

    public static String deadLetters(String run) {
        return "streamtrain." + run + ".dlq";
    }

    /** The consumer group all trainer nodes of a run join. */
    public static String trainerGroup(String run) {
        return "streamtrain." + run + ".trainers";
    }
}
