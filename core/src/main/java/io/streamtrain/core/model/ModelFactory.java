package io.streamtrain.core.model;

import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.Dropout;
import ai.djl.ndarray.types.Shape;
import io.streamtrain.core.spec.ModelSpec;
import io.streamtrain.core.spec.SpecException;
import java.util.Map;
import java.util.function.Function;

/**
 * Builds the DJL block for a {@link ModelSpec}. A new model type is one more entry in
 * {@link #BUILDERS} (and its keys in the spec parser); nothing else changes.
 */
public final class ModelFactory {
    private static final Map<String, Function<ModelSpec, Block>> BUILDERS = Map.of("mlp", ModelFactory::mlp);

    private ModelFactory() {}

    public static Block create(ModelSpec spec) {
        Function<ModelSpec, Block> builder = BUILDERS.get(spec.type());
        if (builder == null) {
            throw new SpecException("model.type", "'" + spec.type() + "' is not a known model; allowed: " + BUILDERS.keySet());
        }
        return builder.apply(spec);
    }

    /** The shape the block is initialized with: one sample of the model's inputs. */
    public static Shape inputShape(ModelSpec spec) {
        return new Shape(1, spec.inputs());
    }

    private static Block mlp(ModelSpec spec) {
        SequentialBlock net = new SequentialBlock();
        for (int width : spec.hidden()) {
            net.add(Linear.builder().setUnits(width).build());
            net.add(activation(spec.activation()));
            if (spec.dropout() > 0) {
                net.add(Dropout.builder().optRate((float) spec.dropout()).build());
            }
        }
        net.add(Linear.builder().setUnits(spec.outputWidth()).build());
        return net;
    }

    private static Block activation(String name) {
        return switch (name) {
            case "relu" -> Activation.reluBlock();
            case "gelu" -> Activation.geluBlock();
            case "tanh" -> Activation.tanhBlock();
            case "sigmoid" -> Activation.sigmoidBlock();
            default -> throw new SpecException("model.activation", "'" + name + "' is not allowed; allowed: relu, gelu, tanh, sigmoid");
        };
    }
}
