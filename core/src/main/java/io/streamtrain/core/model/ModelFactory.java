package io.streamtrain.core.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.Blocks;
import ai.djl.nn.LambdaBlock;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.Dropout;
import ai.djl.nn.pooling.Pool;
import io.streamtrain.core.spec.ModelSpec;
import io.streamtrain.core.spec.SpecException;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.function.UnaryOperator;

/**
 * Builds the DJL block for a {@link ModelSpec}. A new model type is one more entry in
 * {@link #BUILDERS} (and its keys in the spec parser); nothing else changes.
 *
 * <p>Every block takes {@code [B, inputs]}: the trainer and the evaluator hand over a batch's
 * {@code x} flattened per sample, and a {@code cnn} reshapes it to {@code [B, C, H, W]}
 * itself (row-major, so a record's {@code [B, C, H, W]} comes back unchanged).
 */
public final class ModelFactory {
    private static final Map<String, Function<ModelSpec, Block>> BUILDERS = Map.of(
            ModelSpec.MLP, ModelFactory::mlp,
            ModelSpec.CNN, ModelFactory::cnn,
            ModelSpec.CAUSAL_LM, spec -> new CausalLanguageModel(spec, activation(spec.activation())));

    private ModelFactory() {}

    public static Block create(ModelSpec spec) {
        Function<ModelSpec, Block> builder = BUILDERS.get(spec.type());
        if (builder == null) {
            throw new SpecException(
                    "model.type", "'" + spec.type() + "' is not a known model; allowed: " + BUILDERS.keySet());
        }
        return builder.apply(spec);
    }

    /** The shape the block is initialized with: one sample of the model's inputs. */
    public static Shape inputShape(ModelSpec spec) {
        return new Shape(1, spec.inputs());
    }

    private static Block mlp(ModelSpec spec) {
        SequentialBlock net = new SequentialBlock();
        addDense(net, spec);
        return net;
    }

    /** Conv/pool stages, then the dense layers of an mlp on the flattened feature maps. */
    private static Block cnn(ModelSpec spec) {
        ModelSpec.Conv conv = spec.conv();
        List<Integer> chw = conv.inputShape();
        int k = conv.kernel();
        int p = conv.pool();
        SequentialBlock net = new SequentialBlock();
        net.add(LambdaBlock.singleton(x -> x.reshape(-1, chw.get(0), chw.get(1), chw.get(2)), "image"));
        for (int channels : conv.channels()) {
            net.add(Conv2d.builder()
                    .setKernelShape(new Shape(k, k))
                    .optPadding(new Shape(k / 2, k / 2))
                    .setFilters(channels)
                    .build());
            net.add(activationBlock(spec.activation()));
            if (p > 1) {
                net.add(Pool.maxPool2dBlock(new Shape(p, p), new Shape(p, p)));
            }
            if (conv.dropout() > 0) {
                net.add(Dropout.builder().optRate((float) conv.dropout()).build());
            }
        }
        net.add(Blocks.batchFlattenBlock());
        addDense(net, spec);
        return net;
    }

    /** The hidden layers (activation, dropout when configured) and the output layer. */
    private static void addDense(SequentialBlock net, ModelSpec spec) {
        for (int width : spec.hidden()) {
            net.add(Linear.builder().setUnits(width).build());
            net.add(activationBlock(spec.activation()));
            if (spec.dropout() > 0) {
                net.add(Dropout.builder().optRate((float) spec.dropout()).build());
            }
        }
        net.add(Linear.builder().setUnits(spec.outputWidth()).build());
    }

    private static Block activationBlock(String name) {
        return switch (name) {
            case "relu" -> Activation.reluBlock();
            case "gelu" -> Activation.geluBlock();
            case "tanh" -> Activation.tanhBlock();
            case "sigmoid" -> Activation.sigmoidBlock();
            default -> throw unknownActivation(name);
        };
    }

    private static UnaryOperator<NDArray> activation(String name) {
        return switch (name) {
            case "relu" -> Activation::relu;
            case "gelu" -> Activation::gelu;
            case "tanh" -> Activation::tanh;
            case "sigmoid" -> Activation::sigmoid;
            default -> throw unknownActivation(name);
        };
    }

    private static SpecException unknownActivation(String name) {
        return new SpecException(
                "model.activation", "'" + name + "' is not allowed; allowed: relu, gelu, tanh, sigmoid");
    }
}
