package io.streamtrain.core.checkpoint;

import io.streamtrain.core.logging.Logs;
import io.streamtrain.core.topics.Topics;
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
    /** Writes a payload's temp file: a test's stands in for a disk that fills up half-way. */
    @FunctionalInterface
    interface TempWriter {
        void write(Path tmp, byte[] payload) throws IOException;
    }

    private final Path root;
    private final TempWriter writer;

    private PayloadStore(Path root, TempWriter writer) {
        this.root = root;
        this.writer = writer;
    }

    /** @param uri a {@code file:///absolute/dir} URI, as in the spec's {@code checkpoints.store} */
    public static PayloadStore forUri(String uri) {
        return forUri(uri, (tmp, payload) -> Files.write(tmp, payload, java.nio.file.StandardOpenOption.CREATE_NEW));
    }

    static PayloadStore forUri(String uri, TempWriter writer) {
        URI u = URI.create(uri);
        if (!"file".equals(u.getScheme())) {
            throw new IllegalArgumentException(
                    "unsupported checkpoint store " + uri + "; only file:/// is implemented");
        }
        return new PayloadStore(Path.of(u), writer);
    }

    /**
     * Writes atomically (temp file, then rename), so a reader never sees half a payload; the
     * file gets the process's default permissions (umask), like any file it writes.
     */
    public String put(String run, String checkpointId, byte[] payload) throws IOException {
        Path dir = runDirectory(run);
        Path target = dir.resolve(checkpointId + ".safetensors");
        if (!dir.equals(target.getParent())) {
            throw new IllegalArgumentException("checkpoint id '" + Logs.escape(checkpointId)
                    + "' names no file of its own in " + dir + ": its payload would not stay there");
        }
        Files.createDirectories(dir);
        // not Files.createTempFile: its owner-only permissions would keep an evaluator running as another user out
        Path tmp = dir.resolve(checkpointId + "." + java.util.UUID.randomUUID() + ".tmp");
        try {
            writer.write(tmp, payload);
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            try {
                Files.deleteIfExists(tmp); // a full disk left a part-written file behind
            } catch (IOException notDeleted) {
                e.addSuppressed(notDeleted); // the write's failure is what the caller must hear
            }
            throw e;
        }
        return target.toUri().toString();
    }

    private Path runDirectory(String run) {
        return runDirectory(root, run);
    }

    /**
     * A run's payloads go into one directory of the store, named by its run id: never anything
     * a path could climb out with ({@code ../x}), whoever calls. Readers look for a run's payloads
     * there only ({@link PayloadSources#read}).
     */
    static Path runDirectory(Path root, String run) {
        if (!Topics.isRunId(run)) {
            throw new IllegalArgumentException("'" + Logs.escape(run) + "' is not a run id (" + Topics.RUN_ID_RULE
                    + "): its payloads would not stay inside the store " + root);
        }
        return root.resolve(run);
    }

    /**
     * Checks, before a run trains, that this process can write the run's payloads: a store it
     * may not write to (read-only, another owner) is configuration, which a restart cannot fix.
     *
     * @throws IOException naming the path that refused
     */
    public void requireWritable(String run) throws IOException {
        Path dir = runDirectory(run);
        Files.createDirectories(dir);
        Path probe = dir.resolve(".streamtrain-write-check." + java.util.UUID.randomUUID() + ".tmp");
        try {
            Files.write(probe, new byte[0], java.nio.file.StandardOpenOption.CREATE_NEW);
        } finally {
            Files.deleteIfExists(probe);
        }
    }
}
