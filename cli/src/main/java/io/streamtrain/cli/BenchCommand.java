package io.streamtrain.cli;

import picocli.CommandLine.Command;

/** {@code streamtrain bench}: throughput measurements printed side by side. */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Benchmarks that print their figures; see docs/benchmarks.md for recorded results.",
        subcommands = {TrainerBench.class})
public final class BenchCommand {}
