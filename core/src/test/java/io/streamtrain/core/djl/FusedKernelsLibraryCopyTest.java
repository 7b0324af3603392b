package io.streamtrain.core.djl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The copy of the kernels' library that a jar's classes load through, in a directory of the
 * test's: no engine and no library needed. A copy never outlives its load, whether it loaded or
 * not; one that a process dying before the load left behind goes when the next process unpacks.
 */
class FusedKernelsLibraryCopyTest {
    @TempDir
    Path dir;

    private URL library() throws IOException {
        Path resource = Files.write(dir.resolve("library-in-a-jar.bin"), new byte[] {1, 2, 3, 4});
        return resource.toUri().toURL();
    }

    private List<Path> copies() throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            return files.filter(p -> p.getFileName().toString().startsWith(FusedKernels.COPY_PREFIX))
                    .toList();
        }
    }

    @Test
    void aCopyIsLoadedWithTheLibrarysBytesAndThenDeleted() throws IOException {
        URL url = library();
        List<byte[]> loaded = new ArrayList<>();
        FusedKernels.loadCopy(url, FusedKernels.newCopy(dir), path -> {
            try {
                loaded.add(Files.readAllBytes(Path.of(path)));
            } catch (IOException e) {
                throw new AssertionError(e);
            }
        });
        assertEquals(1, loaded.size());
        assertArrayEquals(new byte[] {1, 2, 3, 4}, loaded.get(0));
        assertEquals(List.of(), copies(), "the mapping stays; the file goes");
    }

    @Test
    void aCopyThatDoesNotLoadIsDeleted() throws IOException {
        URL url = library();
        UnsatisfiedLinkError refused = new UnsatisfiedLinkError("wrong ELF class");
        UnsatisfiedLinkError thrown = assertThrows(
                UnsatisfiedLinkError.class,
                () -> FusedKernels.loadCopy(url, FusedKernels.newCopy(dir), path -> {
                    assertTrue(Files.exists(Path.of(path)));
                    throw refused;
                }));
        assertSame(refused, thrown, "the load's own error, not one from cleaning up");
        assertEquals(List.of(), copies());
    }

    @Test
    void aLibraryThatCannotBeReadLeavesNoCopy() throws IOException {
        URL missing = dir.resolve("gone.bin").toUri().toURL();
        assertThrows(
                IOException.class,
                () -> FusedKernels.loadCopy(missing, FusedKernels.newCopy(dir), path -> {
                    throw new AssertionError("nothing to load");
                }));
        assertEquals(List.of(), copies());
    }

    /**
     * A process that died between unpacking and loading left its copy: the next one to unpack
     * removes it, but not a copy young enough to be another process's about to load, nor a file
     * that is not a copy.
     */
    @Test
    void copiesThatDeadProcessesLeftAreRemovedWhenTheNextCopyIsMade() throws IOException {
        Path stale = Files.createFile(dir.resolve(FusedKernels.COPY_PREFIX + "123.so"));
        Files.setLastModifiedTime(
                stale, FileTime.from(Instant.now().minus(FusedKernels.STALE).minusSeconds(60)));
        Path loading = Files.createFile(dir.resolve(FusedKernels.COPY_PREFIX + "456.so"));
        Path other = Files.createFile(dir.resolve("libtorch.so"));
        Files.setLastModifiedTime(other, FileTime.from(Instant.now().minus(FusedKernels.STALE.multipliedBy(10))));

        Path made = FusedKernels.newCopy(dir);

        assertFalse(Files.exists(stale), "a dead process's copy stays");
        assertTrue(Files.exists(loading), "a copy another process may be loading now was removed");
        assertTrue(Files.exists(other));
        assertTrue(Files.exists(made));
    }
}
