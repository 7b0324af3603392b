package io.streamtrain.lab;

import picocli.CommandLine.Command;

/** {@code streamtrain bench}: measurements printed as they are made. */
@Command(
        footer = {
            "",
            "Examples:",
            "  streamtrain bench trainer",
            "  streamtrain bench stop --nodes 1,2",
            "  streamtrain bench nodes --every-steps 50",
            "  streamtrain bench freshness --rate 50 --window 50",
            "  streamtrain bench replay --replay 0.5"
        },
        name = "bench",
        mixinStandardHelpOptions = true,
        description = "Benchmarks that print their figures; see docs/benchmarks.md for recorded results.",
        subcommands = {TrainerBench.class, StopBench.class, NodesBench.class, FreshnessBench.class, ReplayBench.class})
public final class BenchCommand {}
