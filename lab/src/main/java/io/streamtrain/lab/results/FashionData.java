package io.streamtrain.lab.results;

import io.streamtrain.lab.Lab;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Fashion-MNIST (Debian package {@code dataset-fashion-mnist}) on the lab's broker: the 60,000
 * training images split into a train and a validation topic, and the 10,000 test images in
 * a topic of their own that no run trains or stops on. Pixels in [0, 1], flattened: the MLP
 * reads them as they are, the CNN as [1, 28, 28].
 */
final class FashionData {
    static final Path DEFAULT_DIR = Path.of("/usr/share/datasets/fashion-mnist");
    static final String TRAIN = "fashion.train";
    static final String VALIDATION = "fashion.validation";
    static final String TEST = "fashion.test";
    static final int PARTITIONS = 4;
    private static final List<String> FILES = List.of(
            "train-images-idx3-ubyte.gz",
            "train-labels-idx1-ubyte.gz",
            "t10k-images-idx3-ubyte.gz",
            "t10k-labels-idx1-ubyte.gz");

    /** The training split's size, validation's and the test topic's, and what ingest wrote. */
    record Loaded(long train, long validation, long test, List<String> wrote) {
        /** One markdown sentence: where the samples came from and where they went. */
        String describe(Path dir) {
            return String.format(
                    Locale.ROOT,
                    "Data: Fashion-MNIST from `%s`: %,d training images (shuffled, seed 42) split into %,d for "
                            + "training (`%s`, %d partitions) and %,d for validation (`%s`, the evaluator's: early stopping and the best "
                            + "checkpoint); %,d test images (`%s`) that no run trains or stops on.",
                    dir,
                    train + validation,
                    train,
                    TRAIN,
                    PARTITIONS,
                    validation,
                    VALIDATION,
                    test,
                    TEST);
        }
    }

    private FashionData() {}

    /** What is missing from {@code dir}; null when it has every file. */
    static String problem(Path dir) {
        List<String> missing =
                FILES.stream().filter(f -> !Files.isReadable(dir.resolve(f))).toList();
        return missing.isEmpty()
                ? null
                : "Fashion-MNIST is not in " + dir + " (missing " + String.join(", ", missing)
                        + "): install the Debian package dataset-fashion-mnist (sudo apt-get install dataset-fashion-mnist) or give --data DIR";
    }

    /**
     * Loads the data.
     *
     * @param limit training images to use (of 60,000), 0 for all
     * @param validationFraction of those, the share that goes to validation
     * @param testLimit test images to use (of 10,000), 0 for all
     */
    static Loaded load(Lab lab, Path dir, int limit, double validationFraction, int testLimit) {
        int all = limit > 0 ? Math.min(limit, 60_000) : 60_000;
        long validation = Math.max(1, Math.round(all * validationFraction));
        List<String> wrote = new ArrayList<>();
        wrote.addAll(Experiment.wrote(lab.ingest(List.of(
                "idx",
                dir.resolve(FILES.get(0)).toString(),
                dir.resolve(FILES.get(1)).toString(),
                "--topic",
                TRAIN,
                "--validation-topic",
                VALIDATION,
                "--validation-fraction",
                Double.toString(validationFraction),
                "--limit",
                Integer.toString(limit),
                "--partitions",
                Integer.toString(PARTITIONS)))));
        wrote.addAll(Experiment.wrote(lab.ingest(List.of(
                "idx",
                dir.resolve(FILES.get(2)).toString(),
                dir.resolve(FILES.get(3)).toString(),
                "--topic",
                TEST,
                "--limit",
                Integer.toString(testLimit),
                "--partitions",
                "1"))));
        return new Loaded(all - validation, validation, testLimit > 0 ? Math.min(testLimit, 10_000) : 10_000, wrote);
    }

    /**
     * A run spec over these topics.
     *
     * @param model the model mapping, e.g. {@code { type: mlp, inputs: 784, hidden: [512, 256], classes: 10, dropout: 0.3 }}
     * @param optimizer the optimizer mapping
     * @param regularization the regularization mapping
     * @param earlyStopping the early-stopping mapping
     */
    static String spec(
            String run,
            String model,
            long seed,
            int maxEpochs,
            String optimizer,
            String regularization,
            String earlyStopping) {
        return """
                run: %s
                data: { train: %s, validation: %s }
                model: %s
                init: { seed: %d }
                batchSize: 64
                maxEpochs: %d
                optimizer: %s
                regularization: %s
                earlyStopping: %s
                """.formatted(run, TRAIN, VALIDATION, model, seed, maxEpochs, optimizer, regularization, earlyStopping);
    }
}
