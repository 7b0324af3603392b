package io.streamtrain.core.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Embedding;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.Dropout;
import ai.djl.nn.norm.LayerNorm;
import ai.djl.training.ParameterStore;
import ai.djl.training.initializer.NormalInitializer;
import ai.djl.util.PairList;
import io.streamtrain.core.spec.ModelSpec;
import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;

/**
 * A decoder-only transformer over bytes (GPT-2's layout, small): input {@code [B, T]} token
 * ids (any numeric type; {@code T <= context}), output {@code [B, T, 256]} scores of the
 * token that follows each position. Parameters: {@code tokenEmbedding} {@code [256, width]},
 * {@code positionEmbedding} {@code [context, width]}, the layers
 * ({@code 01layer_01attentionNorm_gamma}, {@code 01layer_02attention_01query_weight}, ...),
 * {@code NNfinalNorm_gamma}/{@code _beta} and, unless the head is tied to the token
 * embedding, {@code NNhead_weight} {@code [256, width]}. Weights start as N(0, 0.02).
 */
final class CausalLanguageModel extends AbstractBlock {
    private static final float INIT_SIGMA = 0.02f;

    private final ModelSpec.Transformer spec;
    private final float dropout;
    private final Parameter tokenEmbedding;
    private final Parameter positionEmbedding;
    private final List<DecoderLayer> layers = new ArrayList<>();
    private final LayerNorm finalNorm;
    private final Linear head;

    CausalLanguageModel(ModelSpec model, UnaryOperator<NDArray> activation) {
        this.spec = model.transformer();
        this.dropout = (float) model.dropout();
        this.tokenEmbedding = addParameter(Parameter.builder()
                .setName("tokenEmbedding")
                .setType(Parameter.Type.WEIGHT)
                .optShape(new Shape(model.classes(), spec.width()))
                .build());
        this.positionEmbedding = addParameter(Parameter.builder()
                .setName("positionEmbedding")
                .setType(Parameter.Type.WEIGHT)
                .optShape(new Shape(spec.context(), spec.width()))
                .build());
        for (int i = 0; i < spec.layers(); i++) {
            layers.add(addChildBlock(
                    "layer",
                    new DecoderLayer(
                            spec.width(),
                            spec.heads(),
                            spec.mlpWidth(),
                            dropout,
                            (float) spec.attentionDropout(),
                            activation)));
        }
        this.finalNorm = addChildBlock("finalNorm", LayerNorm.builder().axis(2).build());
        this.head = spec.tieEmbeddings()
                ? null
                : addChildBlock(
                        "head",
                        Linear.builder()
                                .setUnits(model.classes())
                                .optBias(false)
                                .build());
        setInitializer(new NormalInitializer(INIT_SIGMA), Parameter.Type.WEIGHT);
    }

    @Override
    protected NDList forwardInternal(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        NDArray x = inputs.singletonOrThrow();
        long positions = x.getShape().get(1);
        if (positions > spec.context()) {
            throw new IllegalArgumentException(
                    positions + " positions, the model has " + spec.context() + " (model.context)");
        }
        NDArray tokens = ps.getValue(tokenEmbedding, x.getDevice(), training);
        NDArray where = ps.getValue(positionEmbedding, x.getDevice(), training).get(new NDIndex("0:{}", positions));
        NDArray h = Embedding.embedding(x.toType(DataType.INT64, false), tokens, SparseFormat.DENSE)
                .singletonOrThrow()
                .add(where);
        h = Dropout.dropout(h, dropout, training).singletonOrThrow();
        NDArray mask = CausalSelfAttention.mask(x.getManager(), positions);
        for (DecoderLayer layer : layers) {
            h = layer.forward(ps, new NDList(h, mask), training).singletonOrThrow();
        }
        h = finalNorm.forward(ps, new NDList(h), training).singletonOrThrow();
        return head == null ? new NDList(h.matMul(tokens.transpose())) : head.forward(ps, new NDList(h), training);
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {inputShapes[0].add(tokenEmbedding.getShape().get(0))};
    }

    @Override
    protected void initializeChildBlocks(NDManager manager, DataType dataType, Shape... inputShapes) {
        Shape stream = inputShapes[0].add(spec.width());
        Shape mask = new Shape(inputShapes[0].get(1), inputShapes[0].get(1));
        for (DecoderLayer layer : layers) {
            layer.initialize(manager, dataType, stream, mask);
        }
        finalNorm.initialize(manager, dataType, stream);
        if (head != null) {
            head.initialize(manager, dataType, stream);
        }
    }
}
