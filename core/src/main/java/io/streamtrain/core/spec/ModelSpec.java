package io.streamtrain.core.spec;

import java.util.List;

/**
 * The model to train. {@code classes > 0} makes it a classifier (softmax cross-entropy);
 * otherwise {@code outputs} regression targets are fitted with the mean squared error.
 *
 * @param type the model family; {@code mlp} is the only one so far
 * @param inputs features per sample (a sample's {@code x} is flattened to this many)
 * @param hidden widths of the hidden layers, in order
 * @param activation {@code relu}, {@code gelu} or {@code tanh}
 * @param classes number of classes, or 0 for regression
 * @param outputs regression targets per sample (1 when classes &gt; 0)
 * @param dropout dropout rate after every hidden activation, in [0, 1)
 */
public record ModelSpec(
        String type,
        int inputs,
        List<Integer> hidden,
        String activation,
        int classes,
        int outputs,
        double dropout) {

    public ModelSpec {
        hidden = List.copyOf(hidden);
    }

    public boolean classification() {
        return classes > 0;
    }

    /** Width of the last layer: the class scores or the regression targets. */
    public int outputWidth() {
        return classification() ? classes : outputs;
    }
}
