package io.streamtrain.core.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.Dropout;
import ai.djl.nn.norm.LayerNorm;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import java.util.function.UnaryOperator;

/**
 * One pre-norm transformer block, as GPT-2's: {@code h + drop(attention(norm(h)))}, then
 * {@code h + drop(mlp(norm(h)))} with a two-layer MLP. Input: the residual stream
 * {@code [B, T, width]} and the causal mask; output: the stream.
 */
final class DecoderLayer extends AbstractBlock {
    private final float dropout;
    private final UnaryOperator<NDArray> activation;
    private final LayerNorm attentionNorm;
    private final CausalSelfAttention attention;
    private final LayerNorm mlpNorm;
    private final Linear mlpExpand;
    private final Linear mlpProject;

    DecoderLayer(
            int width,
            int heads,
            int mlpWidth,
            float dropout,
            float attentionDropout,
            UnaryOperator<NDArray> activation) {
        this.dropout = dropout;
        this.activation = activation;
        this.attentionNorm =
                addChildBlock("attentionNorm", LayerNorm.builder().axis(2).build());
        this.attention = addChildBlock("attention", new CausalSelfAttention(width, heads, attentionDropout));
        this.mlpNorm = addChildBlock("mlpNorm", LayerNorm.builder().axis(2).build());
        this.mlpExpand =
                addChildBlock("mlpExpand", Linear.builder().setUnits(mlpWidth).build());
        this.mlpProject =
                addChildBlock("mlpProject", Linear.builder().setUnits(width).build());
    }

    @Override
    protected NDList forwardInternal(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        NDArray h = inputs.get(0);
        NDArray mask = inputs.get(1);
        NDArray normed = attentionNorm.forward(ps, new NDList(h), training).singletonOrThrow();
        NDArray attended =
                attention.forward(ps, new NDList(normed, mask), training).singletonOrThrow();
        h = h.add(Dropout.dropout(attended, dropout, training).singletonOrThrow());
        normed = mlpNorm.forward(ps, new NDList(h), training).singletonOrThrow();
        NDArray expanded = activation.apply(
                mlpExpand.forward(ps, new NDList(normed), training).singletonOrThrow());
        NDArray projected =
                mlpProject.forward(ps, new NDList(expanded), training).singletonOrThrow();
        return new NDList(h.add(Dropout.dropout(projected, dropout, training).singletonOrThrow()));
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {inputShapes[0]};
    }

    @Override
    protected void initializeChildBlocks(NDManager manager, DataType dataType, Shape... inputShapes) {
        Shape stream = inputShapes[0];
        attentionNorm.initialize(manager, dataType, stream);
        attention.initialize(manager, dataType, stream, inputShapes[1]);
        mlpNorm.initialize(manager, dataType, stream);
        mlpExpand.initialize(manager, dataType, stream);
        Shape hidden = mlpExpand.getOutputShapes(new Shape[] {stream})[0];
        mlpProject.initialize(manager, dataType, hidden);
    }
}
