package io.streamtrain.core.djl;

/** The PyTorch native library could not be loaded; the message says what to install or set. */
public final class NativeEngineException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public NativeEngineException(String message, Throwable cause) {
        super(message, cause);
    }
}
