package io.streamtrain.core.control;

/**
 * A control or evaluation message that cannot be read; it is logged, counted and skipped. Its
 * message is safe to log as it is: any of the document's own text in it is escaped.
 */
public final class MalformedMessageException extends Exception {
    public MalformedMessageException(String message) {
        super(message);
    }
}
