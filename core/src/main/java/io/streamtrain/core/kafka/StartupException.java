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
     * cannot be read, found while the environment is read); anything else is thrown on.
     */
    public static int report(Exception e, java.io.PrintWriter err) throws Exception {
        if (e instanceof StartupException s) {
            err.println("streamtrain: " + s.getMessage());
            err.flush();
            return s.exitCode();
        }
        throw e;
    }
}
