package io.streamtrain.core.checkpoint;

import io.streamtrain.core.logging.Logs;
import io.streamtrain.core.topics.Topics;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Where this process may read claim-checked payloads from. A manifest's payload URI is
 * untrusted (anyone who may write the checkpoint topic writes it): it is read only when it
 * names a regular file inside the manifest's run's own directory of one of these stores
 * (where {@link PayloadStore} puts the run's payloads), of exactly the size the manifest
 * declares and no larger than {@link #maxBytes} or a quarter of the heap, so a forged
 * manifest can neither make a reader read {@code /proc/self/environ} or another run's files
 * nor stream {@code /dev/zero} into its heap.
 *
 * <p>The stores: every {@code file:///dir} in {@code STREAMTRAIN_CHECKPOINT_STORES}
 * (comma-separated), plus, for a trainer, its own run's {@code checkpoints.store}.
 *
 * @param roots the stores' directories, as given (resolved when a payload is read)
 * @param maxBytes the largest payload read (less when a quarter of the heap is less)
 */
public record PayloadSources(List<Path> roots, long maxBytes) {
    public static final String ENV = "STREAMTRAIN_CHECKPOINT_STORES";
    /** A payload is read into one Java array. */
    public static final long MAX_PAYLOAD_BYTES = Integer.MAX_VALUE - 8;

    public PayloadSources {
        roots = List.copyOf(roots);
        if (maxBytes <= 0) {
            throw new IllegalArgumentException("maxBytes must be positive, not " + maxBytes);
        }
    }

    /** No store: payloads on the checkpoint topic only. */
    public static PayloadSources none() {
        return new PayloadSources(List.of(), MAX_PAYLOAD_BYTES);
    }

    /** The stores {@value #ENV} names in this process's environment. */
    public static PayloadSources fromEnvironment() {
        return fromEnvironment(System.getenv());
    }

    /** @throws IllegalArgumentException naming {@value #ENV} when an entry is not a {@code file:///} directory URI */
    public static PayloadSources fromEnvironment(Map<String, String> env) {
        PayloadSources s = none();
        String value = env.get(ENV);
        if (value != null) {
            for (String uri : value.split(",")) {
                if (!uri.isBlank()) {
                    try {
                        s = s.with(uri.strip());
                    } catch (IllegalArgumentException e) {
                        throw new IllegalArgumentException(ENV + ": " + e.getMessage(), e);
                    }
                }
            }
        }
        return s;
    }

    /** These stores and {@code storeUri} too (a spec's {@code checkpoints.store}; {@code kafka} adds none). */
    public PayloadSources with(String storeUri) {
        if ("kafka".equals(storeUri)) {
            return this;
        }
        URI u;
        try {
            u = URI.create(storeUri);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("not a URI: " + storeUri);
        }
        if (!"file".equals(u.getScheme()) || u.getPath() == null) {
            throw new IllegalArgumentException(
                    "unsupported checkpoint store " + storeUri + "; only file:///absolute/dir is implemented");
        }
        List<Path> more = new ArrayList<>(roots);
        more.add(Path.of(u).normalize());
        return new PayloadSources(more, maxBytes);
    }

    /**
     * Reads the payload a manifest names.
     *
     * @param run the manifest's run: the file must be in that run's directory of a store
     * @param declaredSize the size the manifest declares: the file must have exactly this many bytes
     * @throws IOException saying why it was not read: outside every store or the run's directory
     *     there, not a regular file, of another size, too large, or unreadable
     */
    public byte[] read(String run, String uri, long declaredSize) throws IOException {
        URI u;
        try {
            u = URI.create(uri);
        } catch (IllegalArgumentException e) {
            throw new IOException("not a URI");
        }
        if (!"file".equals(u.getScheme()) || u.getPath() == null || u.getAuthority() != null) {
            throw new IOException("only file:/// payload URIs are read");
        }
        // the same budget as the chunks a reader holds (ChunkBuffer): a payload is read whole into the heap
        long heap = Runtime.getRuntime().maxMemory() / 4;
        if (declaredSize < 0 || declaredSize > Math.min(maxBytes, heap)) {
            throw new IOException("its declared size " + declaredSize + " is more than the "
                    + (heap < maxBytes
                            ? heap + " bytes a payload may have in this process (a quarter of its heap; -Xmx)"
                            : maxBytes + " bytes a payload may have"));
        }
        Path file;
        try {
            file = Path.of(u);
        } catch (IllegalArgumentException e) {
            throw new IOException("not a file path (" + e.getMessage() + ")");
        }
        Path real;
        try {
            real = file.toRealPath(); // symbolic links resolved: a link inside a store may not lead out of it
        } catch (IOException e) {
            throw new IOException("it does not exist or cannot be resolved");
        }
        if (roots.stream().noneMatch(root -> inside(real, root))) {
            throw new IOException(
                    roots.isEmpty()
                            ? "this process reads claim-checked payloads from no store (set " + ENV
                                    + " to the run's checkpoints.store)"
                            : "it is outside the stores this process reads payloads from (" + ENV
                                    + ", a trainer's own checkpoints.store)");
        }
        if (!Topics.isRunId(run)
                || roots.stream().noneMatch(root -> inside(real, PayloadStore.runDirectory(root, run)))) {
            // a manifest of run A that names run B's payload would let whoever may write A's topic speak for B
            throw new IOException("it is not in run " + Logs.escape(run)
                    + "'s own directory of the store, where its trainers put its payloads");
        }
        if (!Files.isRegularFile(real, LinkOption.NOFOLLOW_LINKS)) {
            throw new IOException("it is not a regular file");
        }
        long size = Files.size(real);
        if (size != declaredSize) {
            throw new IOException("it has " + size + " bytes, its manifest says " + declaredSize);
        }
        byte[] bytes = new byte[(int) size];
        try (InputStream in = Files.newInputStream(real)) {
            int n = in.readNBytes(bytes, 0, bytes.length);
            if (n != bytes.length || in.read() != -1) {
                throw new IOException("it changed size while it was read");
            }
        }
        return bytes;
    }

    private static boolean inside(Path real, Path root) {
        try {
            return real.startsWith(root.toRealPath());
        } catch (IOException e) {
            return false; // a store that does not exist holds nothing
        }
    }
}
