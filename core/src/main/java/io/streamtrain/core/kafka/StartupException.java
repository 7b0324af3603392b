package io.streamtrain.core.kafka;

/**
 * A process cannot start; the message names the cause and the fix. {@link #exitCode()} is
 * 2 for configuration the operator must change (never retried) and 1 for conditions that
 * may pass (a broker not up yet).
 */
public final class StartupException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public static final int BAD_CONFIGURATION = 2;
    public static final int RETRYABLE = 1;

    private final int exitCode;

    public StartupException(int exitCode, String message, Throwable cause) {
        super(message, cause);
        this.exitCode = exitCode;
    }

    public StartupException(int exitCode, String message) {
        this(exitCode, message, null);
    }

    public int exitCode() {
        return exitCode;
    }

    /**
     * What a command line does with an exception its command did not handle: a
     * StartupException is one line on {@code err} and its exit code (a signing key file that
     * cannot be read, found while the environment is read), and so is Kafka refusing this
     * client ({@link #refusal}); anything else is thrown on.
     */
    public static int report(Exception e, java.io.PrintWriter err) throws Exception {
        StartupException s = e instanceof StartupException se ? se : refusal(e);
        if (s != null) {
            err.println("streamtrain: " + s.getMessage());
            err.flush();
            return s.exitCode();
        }
        throw e;
    }

    /**
     * Kafka refusing this client, anywhere in {@code e}'s causes — credentials it does not take,
     * or an ACL this principal lacks, met at startup or mid-run — as configuration: exit 2, never
     * retried (a restart meets the same refusal), with Kafka's own words, which name the topic,
     * group or transactional id refused.
     *
     * @return null when Kafka refused nothing
     */
    public static StartupException refusal(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof StartupException s) {
                return s;
            }
            if (t instanceof org.apache.kafka.common.errors.AuthorizationException
                    || t instanceof org.apache.kafka.common.errors.AuthenticationException) {
                return new StartupException(
                        BAD_CONFIGURATION,
                        "Kafka refused this client: " + t.getMessage() + needs(t) + ". Check the ACLs of"
                                + " this principal (docs/deploy.md lists each role's) and the security settings passed as "
                                + KafkaSettings.PASSTHROUGH_ENV_PREFIX + "*",
                        t);
            }
        }
        return null;
    }

    /** The operation a refusal of this kind is about, where its kind alone says it. */
    private static String needs(Throwable refusal) {
        if (refusal instanceof org.apache.kafka.common.errors.GroupAuthorizationException g) {
            // joining, committing and fetching offsets all need it; Describe alone lists the group
            return " (this principal needs Read on " + (g.groupId() == null ? "its group" : "group " + g.groupId())
                    + ")";
        }
        if (refusal instanceof org.apache.kafka.common.errors.TransactionalIdAuthorizationException) {
            return " (this principal needs Write on the transactional id of its producer)";
        }
        return "";
    }
}
