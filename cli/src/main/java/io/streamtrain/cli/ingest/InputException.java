package io.streamtrain.cli.ingest;

/**
 * The input cannot be ingested as a whole (a missing file, a header that is not IDX, a
 * label column that is not there, nothing left after the bad lines): one message naming
 * the file and the fix. A single bad line is not this: it goes to {@link BadLines}.
 */
final class InputException extends Exception {
    private static final long serialVersionUID = 1L;

    InputException(String message) {
        super(message);
    }

    InputException(String message, Throwable cause) {
        super(message, cause);
    }
}
