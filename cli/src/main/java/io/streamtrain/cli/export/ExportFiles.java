package io.streamtrain.cli.export;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.streamtrain.core.checkpoint.Checkpoint;
import io.streamtrain.core.codec.SafeTensors;
import io.streamtrain.core.codec.Tensor;
import io.streamtrain.core.protocol.CheckpointCodec;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What an export writes, as pure functions: the safetensors file (the model parameters, or
 * the whole checkpoint payload) and the manifest JSON beside it with a section saying what
 * the file holds.
 */
final class ExportFiles {
    /** Metadata key naming the checkpoint a file was exported from. */
    static final String CHECKPOINT_METADATA = "streamtrain.checkpoint";

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private ExportFiles() {}

    /**
     * The tensors to export, in payload order: the model parameters (names as in the DJL
     * block, e.g. {@code 01Linear_weight}) or, with {@code everything}, also the optimizer
     * state ({@code optimizer.<slot>.<parameter>}), L2-SP anchors ({@code anchor.<parameter>})
     * and whatever else the payload holds. Metadata: the payload's ({@code format: pt}, run,
     * epoch) and the checkpoint id.
     */
    static byte[] safetensors(Checkpoint checkpoint, boolean everything) {
        List<Tensor> tensors = new ArrayList<>(
                everything
                        ? checkpoint.payload().tensors().values()
                        : checkpoint.parameters().values());
        Map<String, String> metadata = new LinkedHashMap<>(checkpoint.payload().metadata());
        metadata.put(CHECKPOINT_METADATA, checkpoint.manifest().checkpointId());
        return SafeTensors.write(tensors, metadata);
    }

    /**
     * The manifest as the trainer published it (every field kept, pretty-printed) plus an
     * {@code exported} section: the file, its SHA-256 and size, and what it holds. The
     * manifest's {@code payload.sha256} stays that of the checkpoint payload it was verified
     * against.
     */
    static byte[] manifestJson(byte[] manifestRecord, Path file, byte[] fileBytes, boolean everything)
            throws IOException {
        ObjectNode root = (ObjectNode) JSON.readTree(manifestRecord);
        ObjectNode exported = root.putObject("exported");
        exported.put("file", file.getFileName().toString());
        exported.put("sha256", CheckpointCodec.sha256(fileBytes));
        exported.put("size", fileBytes.length);
        exported.put("contents", everything ? "the whole checkpoint payload" : "model parameters");
        return JSON.writeValueAsBytes(root);
    }

    /** {@code model.safetensors} → {@code model.json}, in the same directory. */
    static Path manifestPath(Path output) {
        String name = output.getFileName().toString();
        String base = name.endsWith(".safetensors") ? name.substring(0, name.length() - ".safetensors".length()) : name;
        return output.resolveSibling(base + ".json");
    }

    /**
     * Writes through a temporary file and a rename, so a reader never sees half a file. The
     * file gets the permissions the umask gives a new file (not a temp file's owner-only ones).
     */
    static void write(Path target, byte[] bytes) throws IOException {
        Path dir = target.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        Path tmp = dir.resolve(
                "." + target.getFileName() + "." + ProcessHandle.current().pid() + ".tmp");
        try {
            Files.write(
                    tmp,
                    bytes,
                    StandardOpenOption.CREATE,
                    StandardOpenOption.TRUNCATE_EXISTING,
                    StandardOpenOption.WRITE);
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }
}
