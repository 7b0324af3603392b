package io.streamtrain.lab.results;

import picocli.CommandLine.Command;

/** {@code streamtrain results}: the reference experiments of docs/results.md, one command each. */
@Command(
        name = "results",
        mixinStandardHelpOptions = true,
        description = {
            "Reference experiments: each loads real data onto an embedded Kafka broker, trains its runs one after another (a "
                    + "trainer JVM and the evaluator, as `streamtrain local`), scores their checkpoints on held-out topics with "
                    + "`streamtrain score`, and writes its section of docs/results.md with plots and a CSV of every number. "
                    + "Each run's own report goes to runs/results/<run>/."
        },
        footer = {
            "",
            "Examples:",
            "  ./streamtrain results fashion-mnist",
            "  ./streamtrain results fashion-mnist --fast --out /tmp/r"
        },
        subcommands = {FashionMnist.class, Ablation.class, Court.class, SyncModes.class})
public final class ResultsCommand {}
