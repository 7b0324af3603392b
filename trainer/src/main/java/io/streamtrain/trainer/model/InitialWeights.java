package io.streamtrain.trainer.model;

import io.streamtrain.core.checkpoint.Checkpoint;
import io.streamtrain.core.codec.SafeTensors;
import io.streamtrain.core.codec.SafeTensorsException;
import io.streamtrain.core.codec.Tensor;
import io.streamtrain.core.spec.SpecException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * Pretrained weights a run starts from ({@code init.from}), by parameter name.
 *
 * @param source what they are, for messages and the log: the file, or the checkpoint and how it was chosen
 */
public record InitialWeights(String source, Map<String, Tensor> tensors) {

    /** A {@code .safetensors} file: model parameters under their DJL names (as {@code streamtrain export} writes them). */
    public static InitialWeights read(String file) {
        try {
            SafeTensors.Document doc = SafeTensors.read(Files.readAllBytes(Path.of(file)));
            return new InitialWeights("pretrained weights " + file, doc.tensors());
        } catch (java.nio.file.NoSuchFileException e) {
            throw new SpecException(
                    "init.from",
                    "pretrained weights " + file + " do not exist (a path, or run:NAME for another run's checkpoint)");
        } catch (IOException | SafeTensorsException e) {
            throw new SpecException("init.from", "cannot read pretrained weights " + file + ": " + e.getMessage());
        }
    }

    /** The model parameters of a verified checkpoint (its optimizer state and anchors are not carried over). */
    public static InitialWeights of(Checkpoint checkpoint, String how) {
        return new InitialWeights(
                "checkpoint " + checkpoint.manifest().checkpointId() + " (" + how + ")", checkpoint.parameters());
    }
}
