package io.streamtrain.core.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.Dropout;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

/**
 * Multi-head self-attention in which a position sees itself and the positions before it,
 * never those after: the scores of later keys get {@link #MASKED} added, so their softmax
 * weight is exactly 0 and a later token cannot change an earlier position's output.
 *
 * <p>Input: the residual stream {@code [B, T, width]} and the mask {@link #mask} of
 * {@code [T, T]}; output {@code [B, T, width]}. Parameters: {@code query}, {@code key},
 * {@code value} and {@code output} projections (weight and bias each).
 */
final class CausalSelfAttention extends AbstractBlock {
    /** Far below any score; exp of it underflows to 0 in float32. */
    static final float MASKED = -1e9f;

    private final int width;
    private final int heads;
    private final float attentionDropout;
    private final Linear query;
    private final Linear key;
    private final Linear value;
    private final Linear output;

    CausalSelfAttention(int width, int heads, float attentionDropout) {
        this.width = width;
        this.heads = heads;
        this.attentionDropout = attentionDropout;
        this.query = addChildBlock("query", Linear.builder().setUnits(width).build());
        this.key = addChildBlock("key", Linear.builder().setUnits(width).build());
        this.value = addChildBlock("value", Linear.builder().setUnits(width).build());
        this.output = addChildBlock("output", Linear.builder().setUnits(width).build());
    }

    /** {@code [T, T]}: 0 where key position &lt;= query position, {@link #MASKED} where it is later. */
    static NDArray mask(NDManager manager, long positions) {
        NDArray p = manager.arange((int) positions);
        NDArray later = p.reshape(1, positions).gt(p.reshape(positions, 1));
        return later.toType(DataType.FLOAT32, false).mul(MASKED);
    }

    @Override
    protected NDList forwardInternal(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        NDArray x = inputs.get(0);
        NDArray mask = inputs.get(1);
        long b = x.getShape().get(0);
        long t = x.getShape().get(1);
        long d = width / heads;
        NDArray q = split(query.forward(ps, new NDList(x), training).singletonOrThrow(), b, t, d);
        NDArray k = split(key.forward(ps, new NDList(x), training).singletonOrThrow(), b, t, d);
        NDArray v = split(value.forward(ps, new NDList(x), training).singletonOrThrow(), b, t, d);
        NDArray scores =
                q.matMul(k.transpose(0, 1, 3, 2)).mul(1.0 / Math.sqrt(d)).add(mask);
        NDArray weights =
                Dropout.dropout(scores.softmax(-1), attentionDropout, training).singletonOrThrow();
        NDArray joined = weights.matMul(v).transpose(0, 2, 1, 3).reshape(b, t, width);
        return output.forward(ps, new NDList(joined), training);
    }

    /** {@code [B, T, width]} to {@code [B, heads, T, width/heads]}. */
    private NDArray split(NDArray a, long b, long t, long d) {
        return a.reshape(b, t, heads, d).transpose(0, 2, 1, 3);
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {inputShapes[0]};
    }

    @Override
    protected void initializeChildBlocks(NDManager manager, DataType dataType, Shape... inputShapes) {
        for (Linear l : new Linear[] {query, key, value, output}) {
            l.initialize(manager, dataType, inputShapes[0]);
        }
    }
}
