package io.streamtrain.core.topics;

/**
 * The names of streamtrain's own topics, consumer groups and transactional ids. Every
 * writer and reader asks here, so a name is spelled in one place (the Kafka ACLs in
 * deploy/k8s are checked against them).
 */
public final class Topics {
    /** Compacted topic of run specs, keyed by run id. */
    public static final String RUNS = "streamtrain.runs";

    /**
     * A run id: lower-case letters, digits and inner hyphens, at most 100. No dots, so the
     * prefixed ACLs on {@code streamtrain.<run>.} of one run never cover another ({@code a}
     * and {@code a.b}); no underscores, which Kafka's metric names confuse with dots (topics
     * {@code col.a} and {@code col_a} collide); and nothing a path could climb out with.
     */
    public static final String RUN_ID_SYNTAX = "[a-z0-9](?:[a-z0-9-]{0,98}[a-z0-9])?";

    private static final java.util.regex.Pattern RUN_ID = java.util.regex.Pattern.compile(RUN_ID_SYNTAX);
    /** What {@link #RUN_ID_SYNTAX} allows, in words, for error messages. */
    public static final String RUN_ID_RULE =
            "1-100 lower-case letters a-z, digits 0-9 and hyphens, starting and ending with a" + " letter or digit";

    private Topics() {}

    /** Whether {@code run} is a run id streamtrain accepts. */
    public static boolean isRunId(String run) {
        return run != null && RUN_ID.matcher(run).matches();
    }

    public static String checkpoints(String run) {
        return "streamtrain." + run + ".checkpoints";
    }

    public static String evaluations(String run) {
        return "streamtrain." + run + ".evaluations";
    }

    /** A continuous run's promoted model (compacted: the latest record per run is the one to serve). */
    public static String models(String run) {
        return "streamtrain." + run + ".models";
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

    /** The consumer group of the evaluator service (one group: its instances share the runs). */
    public static final String EVALUATOR_GROUP = "streamtrain.evaluator";

    /**
     * The transactional id of a run's checkpoint publisher: one per run, so that each new
     * owner of partition 0 fences the previous one.
     */
    public static String checkpointer(String run) {
        return "streamtrain." + run + ".checkpointer";
    }

    /** What every evaluator instance's transactional id starts with. */
    public static final String EVALUATOR_TRANSACTIONAL_ID_PREFIX = "streamtrain.evaluator.";

    /** The transactional id of an evaluator instance: a restarted instance with the same id fences its predecessor. */
    public static String evaluator(String instanceId) {
        return EVALUATOR_TRANSACTIONAL_ID_PREFIX + instanceId;
    }

    private static final String CHECKPOINTS_SUFFIX = ".checkpoints";

    /** Matches the checkpoint topics of the given runs, or of every run when {@code runs} is empty. */
    public static java.util.regex.Pattern checkpointTopics(java.util.Collection<String> runs) {
        String run = runs.isEmpty()
                ? RUN_ID_SYNTAX
                : "("
                        + String.join(
                                "|",
                                runs.stream()
                                        .map(java.util.regex.Pattern::quote)
                                        .toList()) + ")";
        return java.util.regex.Pattern.compile(
                "streamtrain\\." + run + java.util.regex.Pattern.quote(CHECKPOINTS_SUFFIX));
    }

    /** The run of a checkpoint topic name, or null if it is not one. */
    public static String runOfCheckpoints(String topic) {
        String prefix = "streamtrain.";
        if (!topic.startsWith(prefix)
                || !topic.endsWith(CHECKPOINTS_SUFFIX)
                || topic.length() <= prefix.length() + CHECKPOINTS_SUFFIX.length()) {
            return null;
        }
        return topic.substring(prefix.length(), topic.length() - CHECKPOINTS_SUFFIX.length());
    }
}
