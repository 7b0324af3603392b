package io.streamtrain.core.codec;

/** A byte sequence that is not a well-formed safetensors document; the message says why. */
public final class SafeTensorsException extends Exception {
    private static final long serialVersionUID = 1L;

    public SafeTensorsException(String message) {
        super(message);
    }
}
