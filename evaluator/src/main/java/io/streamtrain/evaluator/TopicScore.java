package io.streamtrain.evaluator;

import io.streamtrain.core.checkpoint.Checkpoint;
import io.streamtrain.core.djl.Engines;
import io.streamtrain.core.spec.ModelSpec;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.Consumer;

/**
 * A checkpoint scored on any topic of batches — a test set never seen in training or early
 * stopping, or another domain's text — exactly as the evaluator scores it on the run's
 * validation topic: evaluation mode, data loss only, summed in (partition, offset) order.
 *
 * @param topic the topic scored, every record up to its end when it was read
 * @param loss the mean data loss per sample (per token for a causal-lm)
 * @param accuracy the share of labels (next bytes) predicted right; NaN for regression
 * @param perplexity {@code exp(loss)}; NaN for regression
 * @param samples samples scored
 * @param rejected records that did not decode for the model (not scored)
 */
public record TopicScore(String topic, double loss, double accuracy, double perplexity, long samples, int rejected) {

    /**
     * Scores {@code checkpoint} on every record of {@code topic}, read from its beginning to
     * its current end with {@code consumer} (outside any group).
     *
     * @throws IllegalArgumentException if the topic does not exist, holds no sample the model
     *     can read, or the checkpoint does not fit its own model
     */
    public static TopicScore of(
            Checkpoint checkpoint, Consumer<byte[], byte[]> consumer, String topic, Duration timeout) {
        return of(List.of(checkpoint), consumer, topic, timeout).get(0);
    }

    /**
     * Scores each checkpoint as {@link #of(Checkpoint, Consumer, String, Duration)} does, reading
     * the topic once per model (a run's every epoch on another domain's text).
     *
     * @return the scores in the order of {@code checkpoints}
     */
    public static List<TopicScore> of(
            List<Checkpoint> checkpoints, Consumer<byte[], byte[]> consumer, String topic, Duration timeout) {
        Map<ModelSpec, ValidationSet> read = new HashMap<>();
        CheckpointScorer scorer = new CheckpointScorer(Engines.pytorch());
        List<TopicScore> scores = new ArrayList<>();
        for (Checkpoint checkpoint : checkpoints) {
            ModelSpec model = checkpoint.manifest().runSpec().model();
            ValidationSet data = read.computeIfAbsent(model, m -> load(consumer, topic, m, timeout));
            Map<String, Double> m = scorer.score(
                    model,
                    checkpoint.payload(),
                    data,
                    consumer,
                    timeout,
                    "checkpoint " + checkpoint.manifest().checkpointId());
            scores.add(new TopicScore(
                    topic,
                    m.get(CheckpointScorer.VAL_LOSS),
                    m.getOrDefault(CheckpointScorer.VAL_ACCURACY, Double.NaN),
                    m.getOrDefault(CheckpointScorer.VAL_PERPLEXITY, Double.NaN),
                    data.samples(),
                    data.rejected().size()));
        }
        return scores;
    }

    /** The topic's records for this model. @throws IllegalArgumentException if none of them holds a sample it can read */
    private static ValidationSet load(
            Consumer<byte[], byte[]> consumer, String topic, ModelSpec model, Duration timeout) {
        ValidationSet data = ValidationSet.load(
                consumer, topic, model, null, timeout, EvaluatorService.DEFAULT_VALIDATION_MEMORY_BYTES);
        if (data.samples() == 0) {
            throw new IllegalArgumentException(
                    "topic " + topic + " holds no sample for this model (" + data.records() + " records, "
                            + data.rejected().size() + " of them not readable"
                            + (data.rejected().isEmpty()
                                    ? ""
                                    : ": " + data.rejected().get(0).reason().getMessage()) + ")");
        }
        return data;
    }
}
