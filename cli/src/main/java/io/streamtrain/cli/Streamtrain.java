package io.streamtrain.cli;

import io.streamtrain.cli.ingest.IngestCommand;
import io.streamtrain.evaluator.EvaluatorCommand;
import io.streamtrain.trainer.TrainerCommand;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code streamtrain} command. */
@Command(name = "streamtrain", mixinStandardHelpOptions = true, version = "streamtrain 0.1.0",
        description = "Distributed streaming trainer: Kafka batches in, DJL (PyTorch) training, checkpoints out.",
        subcommands = {DemoCommand.class, TrainerCommand.class, EvaluatorCommand.class, CtlCommand.class, IngestCommand.class, BenchCommand.class, CommandLine.HelpCommand.class})
public final class Streamtrain {
    private Streamtrain() {}

    public static void main(String[] args) {
        System.exit(new CommandLine(new Streamtrain()).execute(args));
    }
}
