package io.streamtrain.core.spec;

/**
 * A run spec that cannot be used. The message names the key path (for example
 * {@code regularization.l1}) and what is allowed there, so the user can fix it without
 * reading code. Services exit with code 2 on it: retrying cannot help.
 */
public final class SpecException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final String path;

    public SpecException(String path, String message) {
        super(path.isEmpty() ? message : path + ": " + message);
        this.path = path;
    }

    /** The dotted key path the problem is at; empty for the document itself. */
    public String path() {
        return path;
    }
}
