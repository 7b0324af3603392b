package io.streamtrain.evaluator;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;
import io.streamtrain.core.codec.Batch;
import io.streamtrain.core.codec.SafeTensors;
import io.streamtrain.core.djl.BatchArrays;
import io.streamtrain.core.model.Losses;
import io.streamtrain.core.model.ModelFactory;
import io.streamtrain.core.model.Weights;
import io.streamtrain.core.spec.ModelSpec;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Validation metrics of one checkpoint, in evaluation mode: no dropout, no regularization
 * terms. {@code val_loss} is the data loss alone (sample-weighted mean over the validation
 * set), the same quantity the trainer reports as {@code data_loss}; classifiers add
 * {@code val_accuracy} and {@code val_perplexity} ({@code exp(val_loss)}). For a causal-lm
 * every sample has {@code context} tokens, so these are per token: the mean cross-entropy of
 * the next byte, its perplexity, and the share of next bytes predicted right.
 */
final class CheckpointScorer {
    static final String VAL_LOSS = "val_loss";
    static final String VAL_ACCURACY = "val_accuracy";
    static final String VAL_PERPLEXITY = "val_perplexity";

    private final Engine engine;

    CheckpointScorer(Engine engine) {
        this.engine = engine;
    }

    /**
     * @throws IllegalArgumentException if the payload does not fit the model (nothing is
     *     half-loaded: the model is discarded)
     */
    Map<String, Double> score(
            ModelSpec model,
            SafeTensors.Document payload,
            ValidationSet data,
            org.apache.kafka.clients.consumer.Consumer<byte[], byte[]> reader,
            java.time.Duration timeout,
            String source) {
        try (NDManager manager = engine.newBaseManager()) {
            Block block = ModelFactory.create(model);
            block.initialize(manager, DataType.FLOAT32, ModelFactory.inputShape(model));
            // evaluation needs no gradients; with them PyTorch refuses to overwrite the weights in place
            block.freezeParameters(true);
            Weights.load(block, payload, source);
            ParameterStore store = new ParameterStore(manager, false);
            // per record, then summed in (partition, offset) order: the same figure however the records arrived
            java.util.TreeMap<String, double[]> parts = new java.util.TreeMap<>();
            data.forEach(reader, timeout, item -> {
                Batch b = item.batch();
                try (NDScope scope = new NDScope();
                        NDManager step = manager.newSubManager()) {
                    NDArray x = BatchArrays.x(step, b);
                    NDArray y = BatchArrays.y(step, b);
                    NDArray out = block.forward(store, new NDList(x), false).singletonOrThrow();
                    double loss = Losses.dataLoss(model, out, y)
                                    .toType(DataType.FLOAT64, false)
                                    .getDouble()
                            * b.samples();
                    double right = model.classification() ? Losses.correct(out, y) : 0;
                    parts.put(
                            String.format("%010d:%020d", item.partition(), item.offset()),
                            new double[] {loss, right, b.samples()});
                }
            });
            double lossSum = 0;
            long correct = 0;
            long samples = 0;
            for (double[] p : parts.values()) {
                lossSum += p[0];
                correct += (long) p[1];
                samples += (long) p[2];
            }
            Map<String, Double> metrics = new LinkedHashMap<>();
            metrics.put(VAL_LOSS, samples == 0 ? Double.NaN : lossSum / samples);
            if (model.classification()) {
                metrics.put(
                        VAL_ACCURACY,
                        samples == 0 ? Double.NaN : (double) correct / ((double) samples * model.yWidth()));
                // the perplexity of the predicted class distribution: exp of the mean cross-entropy
                metrics.put(VAL_PERPLEXITY, Math.exp(metrics.get(VAL_LOSS)));
            }
            metrics.put("val_samples", (double) samples);
            return metrics;
        }
    }
}
