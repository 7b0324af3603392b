package io.streamtrain.core.spec;

/**
 * Where the initial weights come from.
 *
 * @param seed seeds weight initialization and dropout masks
 * @param from a {@code .safetensors} file to start from (pretrained weights), or null
 */
public record InitSpec(long seed, String from) {}
