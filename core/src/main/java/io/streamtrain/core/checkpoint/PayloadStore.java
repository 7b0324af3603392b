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
            throw new IllegalArgumentException(
                    "unsupported checkpoint store " + uri + "; only file:/// is implemented");
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
        try {
            Files.write(tmp, payload, java.nio.file.StandardOpenOption.CREATE_NEW);
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            Files.deleteIfExists(tmp); // a full disk left a part-written file behind
            throw e;
        }
        return target.toUri().toString();
    }

    /**
     * Checks, before a run trains, that this process can write the run's payloads: a store it
     * may not write to (read-only, another owner) is configuration, which a restart cannot fix.
     *
     * @throws IOException naming the path that refused
     */
    public void requireWritable(String run) throws IOException {
        Path dir = root.resolve(run);
        Files.createDirectories(dir);
        Path probe = dir.resolve(".streamtrain-write-check." + java.util.UUID.randomUUID() + ".tmp");
        try {
            Files.write(probe, new byte[0], java.nio.file.StandardOpenOption.CREATE_NEW);
        } finally {
            Files.deleteIfExists(probe);
        }
    }
}
