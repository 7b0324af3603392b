package io.streamtrain.core.checkpoint;

import io.streamtrain.core.codec.SafeTensors;
import io.streamtrain.core.codec.SafeTensorsException;
import io.streamtrain.core.codec.Tensor;
import io.streamtrain.core.protocol.CheckpointCodec;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A verified checkpoint: its manifest and the decoded payload. Only
 * {@link CheckpointCodec#verify} makes one, so holding a {@code Checkpoint} means the hash,
 * size and parameter list matched.
 */
public record Checkpoint(CheckpointManifest manifest, SafeTensors.Document payload) {

    /** The model parameters only (the payload also holds optimizer state). */
    public Map<String, Tensor> parameters() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (CheckpointManifest.ParameterInfo p : manifest.parameters()) {
            out.put(p.name(), payload.tensor(p.name()));
        }
        return out;
    }

    public static SafeTensors.Document decode(String id, byte[] bytes) throws CheckpointRejectedException {
        try {
            return SafeTensors.read(bytes);
        } catch (SafeTensorsException e) {
            throw new CheckpointRejectedException(
                    id, "payload is not safetensors: " + io.streamtrain.core.logging.Logs.escape(e.getMessage()));
        }
    }
}
