package io.streamtrain.core.control;

/** A control or evaluation message that cannot be read; it is logged, counted and skipped. */
public final class MalformedMessageException extends Exception {
    public MalformedMessageException(String message) {
        super(message);
    }
}
