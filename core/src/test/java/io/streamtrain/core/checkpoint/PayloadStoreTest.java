package io.streamtrain.core.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PayloadStoreTest {
    @Test
    void aPayloadIsWrittenWholeAndReadableByOthersThanItsWriter(@TempDir Path dir) throws Exception {
        PayloadStore store = PayloadStore.forUri(dir.toUri().toString());
        byte[] payload = {1, 2, 3, 4};
        String uri = store.put("run-a", "run-a-e0001-abcd", payload);
        assertArrayEquals(
                payload, PayloadSources.none().with(dir.toUri().toString()).read("run-a", uri, payload.length));
        Path file = dir.resolve("run-a").resolve("run-a-e0001-abcd.safetensors");
        Set<PosixFilePermission> perms = Files.getPosixFilePermissions(file);
        // an evaluator on a shared volume is often another user: the file must not be owner-only
        assertTrue(
                perms.contains(PosixFilePermission.OTHERS_READ) || perms.contains(PosixFilePermission.GROUP_READ),
                perms.toString());
        try (var files = Files.list(dir.resolve("run-a"))) {
            assertEquals(1, files.count(), "no temp file left behind");
        }
    }

    @Test
    void aWriteThatFailsLeavesNoPartFileBehind(@TempDir Path dir) throws Exception {
        PayloadStore store = PayloadStore.forUri(dir.toUri().toString());
        // the payload's name is taken by a directory that is not empty: writing the temp file works, the rename fails
        Path taken = Files.createDirectories(dir.resolve("run-a").resolve("run-a-e0001-abcd.safetensors"));
        Files.writeString(taken.resolve("x"), "x");
        assertThrows(java.io.IOException.class, () -> store.put("run-a", "run-a-e0001-abcd", new byte[] {1, 2}));
        try (var files = Files.list(dir.resolve("run-a"))) {
            assertEquals(List.of(taken), files.toList(), "no .tmp file left behind");
        }
    }

    @Test
    void aWriteThatFailsHalfWayLeavesNoPartFileBehind(@TempDir Path dir) throws Exception {
        // a disk that fills up after half the payload: the temp file is there, with half of it, when the write fails
        PayloadStore store = PayloadStore.forUri(dir.toUri().toString(), (tmp, payload) -> {
            Files.write(tmp, java.util.Arrays.copyOf(payload, payload.length / 2));
            throw new java.io.IOException("No space left on device");
        });
        java.io.IOException e = assertThrows(
                java.io.IOException.class, () -> store.put("run-a", "run-a-e0001-abcd", new byte[] {1, 2, 3, 4}));
        assertEquals("No space left on device", e.getMessage(), "the write's own failure reaches the caller");
        try (var files = Files.list(dir.resolve("run-a"))) {
            assertEquals(List.of(), files.toList(), "no .tmp file, and no payload, left behind");
        }
    }

    @Test
    void aStoreTheProcessCannotWriteIsFoundBeforeAnyPayload(@TempDir Path dir) throws Exception {
        PayloadStore store = PayloadStore.forUri(dir.toUri().toString());
        store.requireWritable("run-a");
        try (var files = Files.list(dir.resolve("run-a"))) {
            assertEquals(0, files.count(), "the check leaves nothing behind");
        }
        Files.writeString(dir.resolve("run-b"), "a file where the run's directory goes");
        assertThrows(java.io.IOException.class, () -> store.requireWritable("run-b"));
    }

    @Test
    void aPayloadStaysInsideTheStoreWhateverTheCallerNamesIt(@TempDir Path dir) throws Exception {
        PayloadStore store = PayloadStore.forUri(dir.resolve("store").toUri().toString());
        for (String run : List.of("../x", "a..b", ".", "a/b")) {
            assertThrows(IllegalArgumentException.class, () -> store.put(run, run + "-e0001-abcd", new byte[] {1}));
            assertThrows(IllegalArgumentException.class, () -> store.requireWritable(run));
        }
        for (String id : List.of("../../x", "a/b", "/tmp/x")) {
            assertThrows(IllegalArgumentException.class, () -> store.put("run-a", id, new byte[] {1}));
        }
        try (var files = Files.walk(dir)) {
            assertEquals(List.of(dir), files.toList(), "nothing was written anywhere");
        }
    }
}
