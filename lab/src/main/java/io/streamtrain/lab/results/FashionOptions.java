package io.streamtrain.lab.results;

import java.nio.file.Path;
import picocli.CommandLine.Option;

/** The options of the experiments on Fashion-MNIST: where its files are, and the runs' seed. */
final class FashionOptions {
    @Option(names = "--data", paramLabel = "DIR", description = "The Fashion-MNIST files (default: ${DEFAULT-VALUE}).")
    Path data = FashionData.DEFAULT_DIR;

    @Option(
            names = "--seed",
            defaultValue = "42",
            paramLabel = "N",
            description = "init.seed of every run (default: ${DEFAULT-VALUE}).")
    long seed;
}
