package io.streamtrain.core.spec;

import com.fasterxml.jackson.annotation.JsonValue;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The model to train. {@code classes > 0} makes it a classifier (softmax cross-entropy);
 * otherwise {@code outputs} regression targets are fitted with the mean squared error. A
 * causal language model is a classifier of the next byte at every position.
 *
 * @param type {@code mlp}, {@code cnn} or {@code causal-lm}
 * @param inputs values of {@code x} per sample: given for an mlp, {@code C·H·W} for a cnn,
 *     {@code context} token ids for a causal-lm
 * @param hidden widths of the hidden (dense) layers, in order: the mlp, or the cnn's head
 * @param activation {@code relu}, {@code gelu}, {@code tanh} or {@code sigmoid}
 * @param classes number of classes, or 0 for regression; the vocabulary (256) for a causal-lm
 * @param outputs regression targets per sample (1 when classes &gt; 0)
 * @param dropout dropout rate in [0, 1): after every hidden dense layer (mlp, cnn), on the
 *     residual stream (causal-lm: embeddings, attention and MLP outputs)
 * @param conv the convolutional stages of a cnn; null for other types
 * @param transformer the decoder of a causal-lm; null for other types
 */
public record ModelSpec(
        String type,
        int inputs,
        List<Integer> hidden,
        String activation,
        int classes,
        int outputs,
        double dropout,
        Conv conv,
        Transformer transformer) {

    public static final String MLP = "mlp";
    public static final String CNN = "cnn";
    public static final String CAUSAL_LM = "causal-lm";
    /** Byte-level tokens: no tokenizer to download, every text has a vocabulary of 256. */
    public static final int BYTE_VOCABULARY = 256;

    public ModelSpec {
        hidden = List.copyOf(hidden);
    }

    /** An mlp. */
    public ModelSpec(
            String type,
            int inputs,
            List<Integer> hidden,
            String activation,
            int classes,
            int outputs,
            double dropout) {
        this(type, inputs, hidden, activation, classes, outputs, dropout, null, null);
    }

    /**
     * Conv/pool stages: each is a {@code kernel×kernel} convolution with "same" padding to
     * {@code channels[i]} channels, the activation, a {@code pool×pool} max-pool of stride
     * {@code pool} (none when 1), and dropout at {@code dropout}.
     *
     * @param inputShape {@code [C, H, W]} of one sample
     */
    public record Conv(List<Integer> inputShape, List<Integer> channels, int kernel, int pool, double dropout) {
        public Conv {
            inputShape = List.copyOf(inputShape);
            channels = List.copyOf(channels);
        }

        /** {@code [C, H, W]} after the last stage. */
        public List<Integer> outputShape() {
            int h = inputShape.get(1);
            int w = inputShape.get(2);
            for (int ignored : channels) {
                h = h / pool;
                w = w / pool;
            }
            return List.of(channels.get(channels.size() - 1), h, w);
        }
    }

    /**
     * A decoder-only transformer (pre-norm, as GPT-2): token and learned position
     * embeddings, {@code layers} blocks of causal multi-head self-attention and an MLP, each
     * behind a layer norm and added to the residual stream, a final layer norm and the output
     * head over the byte vocabulary.
     *
     * @param context tokens per sample; {@code x} and {@code y} are {@code [B, context]}
     * @param width embedding width (the residual stream)
     * @param mlpWidth hidden width of each block's MLP
     * @param attentionDropout dropout on the attention probabilities
     * @param tieEmbeddings the output head is the token embedding, transposed (no head of its own)
     */
    public record Transformer(
            int context,
            int layers,
            int heads,
            int width,
            int mlpWidth,
            double attentionDropout,
            boolean tieEmbeddings) {}

    public boolean classification() {
        return classes > 0;
    }

    /**
     * At least how many parameters the model has, from the spec alone (no model is built): its
     * weight matrices and embeddings, without biases and norms. A checkpoint whose payload holds
     * fewer values than this was not trained with this spec: a reader refuses it before it
     * builds the model, so a forged spec cannot make it allocate a huge one (saturates at
     * {@link Long#MAX_VALUE}).
     */
    public long parametersAtLeast() {
        long n;
        long in;
        if (CAUSAL_LM.equals(type)) {
            long width = transformer.width();
            n = Math.addExact(
                    Math.multiplyExact((long) classes, width), Math.multiplyExact((long) transformer.context(), width));
            long perLayer = Math.addExact(
                    Math.multiplyExact(4, Math.multiplyExact(width, width)),
                    Math.multiplyExact(2, Math.multiplyExact(width, (long) transformer.mlpWidth())));
            n = Math.addExact(n, Math.multiplyExact((long) transformer.layers(), perLayer));
            return transformer.tieEmbeddings() ? n : Math.addExact(n, Math.multiplyExact(width, (long) classes));
        }
        if (CNN.equals(type)) {
            n = 0;
            long channelsIn = conv.inputShape().get(0);
            for (int c : conv.channels()) {
                n = Math.addExact(
                        n, Math.multiplyExact(Math.multiplyExact((long) conv.kernel() * conv.kernel(), channelsIn), c));
                channelsIn = c;
            }
            List<Integer> out = conv.outputShape();
            in = Math.multiplyExact(Math.multiplyExact((long) out.get(0), out.get(1)), out.get(2));
        } else {
            n = 0;
            in = inputs;
        }
        for (int width : hidden) {
            n = Math.addExact(n, Math.multiplyExact(in, width));
            in = width;
        }
        return Math.addExact(n, Math.multiplyExact(in, (long) outputWidth()));
    }

    /** {@link #parametersAtLeast()}, or {@link Long#MAX_VALUE} when it does not fit in a long. */
    public long parametersAtLeastSaturated() {
        try {
            return parametersAtLeast();
        } catch (ArithmeticException e) {
            return Long.MAX_VALUE;
        }
    }

    /** Width of the last layer: the class scores or the regression targets. */
    public int outputWidth() {
        return classification() ? classes : outputs;
    }

    /**
     * Values of {@code y} per sample: one class id (a classifier), the next token at every
     * position (a causal-lm), or the regression targets.
     */
    public int yWidth() {
        if (transformer != null) {
            return transformer.context();
        }
        return classification() ? 1 : outputs;
    }

    /**
     * The spec as it is written: exactly the keys of its type, so that
     * {@link RunSpecParser#parse} reads it back to an equal spec (checkpoint manifests carry it).
     */
    @JsonValue
    public Map<String, Object> asDocument() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("type", type);
        switch (type) {
            case CNN -> {
                m.put("inputShape", conv.inputShape());
                m.put("conv", conv.channels());
                m.put("kernel", conv.kernel());
                m.put("pool", conv.pool());
                m.put("convDropout", conv.dropout());
                putDense(m);
            }
            case CAUSAL_LM -> {
                m.put("context", transformer.context());
                m.put("layers", transformer.layers());
                m.put("heads", transformer.heads());
                m.put("width", transformer.width());
                m.put("mlpWidth", transformer.mlpWidth());
                m.put("activation", activation);
                m.put("dropout", dropout);
                m.put("attentionDropout", transformer.attentionDropout());
                m.put("tieEmbeddings", transformer.tieEmbeddings());
            }
            default -> {
                m.put("inputs", inputs);
                putDense(m);
            }
        }
        return m;
    }

    /** The keys of the dense layers an mlp is and a cnn ends with. */
    private void putDense(Map<String, Object> m) {
        m.put("hidden", hidden);
        m.put("activation", activation);
        m.put("classes", classes);
        m.put("outputs", outputs);
        m.put("dropout", dropout);
    }
}
