package io.streamtrain.core.spec;

import java.util.List;
import java.util.Optional;

/**
 * Where the initial weights come from, and which of them stay as they are.
 *
 * @param seed seeds weight initialization and dropout masks
 * @param from null (seeded initialization), a {@code .safetensors} file, or a checkpoint of
 *     another run written as a {@link CheckpointRef} ({@code run:NAME}, {@code run:NAME@best},
 *     {@code run:NAME@E})
 * @param freeze parameter-name patterns (as {@code regularization.exclude}: a glob with
 *     {@code *}, else a substring; case-insensitive) of parameters that are never trained
 */
public record InitSpec(long seed, String from, List<String> freeze) {

    public InitSpec {
        freeze = List.copyOf(freeze);
    }

    /** Seeded or from a file, nothing frozen. */
    public InitSpec(long seed, String from) {
        this(seed, from, List.of());
    }

    /** {@code from} as a reference to another run's checkpoint, when it is one. */
    public Optional<CheckpointRef> checkpoint() {
        return from != null && CheckpointRef.isRef(from) ? Optional.of(CheckpointRef.parse(from)) : Optional.empty();
    }

    /** {@code from} as a file path, when it is one. */
    public Optional<String> file() {
        return from != null && !CheckpointRef.isRef(from) ? Optional.of(from) : Optional.empty();
    }
}
