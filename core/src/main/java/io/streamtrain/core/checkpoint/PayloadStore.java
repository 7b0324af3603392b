package io.streamtrain.core.checkpoint;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * The claim-check store for checkpoint payloads too large or too many for the topic: the
 * payload goes here, the manifest on Kafka carries its URI. Only {@code file://} so far;
 * object storage is another implementation of the same two calls.
 */
public final class PayloadStore {
    private final Path root;

    private PayloadStore(Path root) {
        this.root = root;
    }

    /** @param uri a {@code file:///absolute/dir} URI, as in the spec's {@code checkpoints.store} */
    public static PayloadStore forUri(String uri) {
        URI u = URI.create(uri);
        if (!"file".equals(u.getScheme())) {
            throw new IllegalArgumentException("unsupported checkpoint store " + uri + "; only file:/// is implemented");
        }
        return new PayloadStore(Path.of(u));
    }

    /**
     * Writes atomically (temp file, then rename), so a reader never sees half a payload; the
     * file gets the process's default permissions (umask), like any file it writes.
     */
    public String put(String run, String checkpointId, byte[] payload) throws IOException {
        Path dir = root.resolve(run);
        Files.createDirectories(dir);
        Path target = dir.resolve(checkpointId + ".safetensors");
        // not Files.createTempFile: its owner-only permissions would keep an evaluator running as another user out
        Path tmp = dir.resolve(checkpointId + "." + java.util.UUID.randomUUID() + ".tmp");
        Files.write(tmp, payload, java.nio.file.StandardOpenOption.CREATE_NEW);
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        return target.toUri().toString();
    }
}
