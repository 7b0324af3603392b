package io.streamtrain.core.model;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import io.streamtrain.core.djl.Engines;
import io.streamtrain.core.spec.ModelSpec;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The classifier's cross-entropy and its gradient against the formula, in doubles. */
class LossesTest {
    private static final ModelSpec CLASSIFIER = new ModelSpec("mlp", 4, List.of(), "relu", 5, 1, 0.0);

    @Test
    void crossEntropyAndItsGradientAreTheFormulas() {
        Engine engine = Engines.pytorch();
        int n = 7;
        int classes = 5;
        Random r = new Random(3);
        float[] scores = new float[n * classes];
        for (int i = 0; i < scores.length; i++) {
            scores[i] = (float) (3 * r.nextGaussian());
        }
        long[] labels = {0, 4, 2, 2, 1, 3, 4};
        double expected = 0;
        double[] gradient = new double[n * classes];
        for (int i = 0; i < n; i++) {
            double z = 0;
            for (int c = 0; c < classes; c++) {
                z += Math.exp(scores[i * classes + c]);
            }
            expected -= (scores[i * classes + (int) labels[i]] - Math.log(z)) / n;
            for (int c = 0; c < classes; c++) {
                double p = Math.exp(scores[i * classes + c]) / z;
                gradient[i * classes + c] = (p - (c == labels[i] ? 1 : 0)) / n;
            }
        }
        try (NDManager m = NDManager.newBaseManager(Engines.ENGINE)) {
            NDArray x = m.create(scores, new Shape(n, classes));
            x.setRequiresGradient(true);
            double loss;
            try (GradientCollector collector = engine.newGradientCollector()) {
                NDArray l = Losses.dataLoss(CLASSIFIER, x, m.create(labels));
                collector.backward(l);
                loss = l.toType(DataType.FLOAT64, false).getDouble();
            }
            assertEquals(expected, loss, 1e-5);
            float[] g = x.getGradient().toFloatArray();
            for (int i = 0; i < g.length; i++) {
                assertEquals(gradient[i], g[i], 1e-6, "d loss / d score[" + i + "]");
            }
        }
    }
}
