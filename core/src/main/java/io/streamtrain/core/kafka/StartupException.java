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
}
