package io.streamtrain.cli;

import io.streamtrain.cli.export.ExportCommand;
import io.streamtrain.cli.ingest.IngestCommand;
import io.streamtrain.evaluator.EvaluatorCommand;
import io.streamtrain.trainer.TrainerCommand;
import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code streamtrain} command. */
@Command(name = "streamtrain", mixinStandardHelpOptions = true, version = "streamtrain 0.1.0",
        description = "Distributed streaming trainer: Kafka batches in, DJL (PyTorch) training, checkpoints out.",
        subcommands = {DemoCommand.class, LocalCommand.class, TrainerCommand.class, EvaluatorCommand.class, CtlCommand.class, IngestCommand.class,
            ExportCommand.class, BenchCommand.class, CommandLine.HelpCommand.class})
public final class Streamtrain {
    private Streamtrain() {}

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    /** The command line as {@link #main} runs it: a usage mistake is one line and a pointer to --help, not the whole help. */
    public static CommandLine commandLine() {
        return new CommandLine(new Streamtrain()).setParameterExceptionHandler((e, args) -> {
            CommandLine cmd = e.getCommandLine();
            PrintWriter err = cmd.getErr();
            err.println("streamtrain: " + e.getMessage());
            CommandLine.UnmatchedArgumentException.printSuggestions(e, err);
            err.println("See '" + cmd.getCommandSpec().qualifiedName() + " --help'.");
            return cmd.getCommandSpec().exitCodeOnInvalidInput();
        });
    }
}
