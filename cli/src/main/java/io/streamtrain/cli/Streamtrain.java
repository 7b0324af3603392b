package io.streamtrain.cli;

import io.streamtrain.cli.export.ExportCommand;
import io.streamtrain.cli.ingest.IngestCommand;
import io.streamtrain.core.kafka.StartupException;
import io.streamtrain.core.logging.Logs;
import io.streamtrain.evaluator.EvaluatorCommand;
import io.streamtrain.trainer.TrainerCommand;
import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code streamtrain} command: the product's commands. The lab module runs the same command
 * with its own (demo, local, results, bench) added through {@link #execute(String[], Object...)}.
 */
@Command(
        name = "streamtrain",
        mixinStandardHelpOptions = true,
        version = "streamtrain 0.1.0",
        description = "Distributed streaming trainer: Kafka batches in, DJL (PyTorch) training, checkpoints out.",
        subcommands = {
            TrainerCommand.class,
            EvaluatorCommand.class,
            CtlCommand.class,
            KeysCommand.class,
            IngestCommand.class,
            ExportCommand.class,
            ScoreCommand.class
        })
public final class Streamtrain {
    private Streamtrain() {}

    public static void main(String[] args) {
        System.exit(execute(args));
    }

    /**
     * Runs the command as {@code main} does, with {@code more} commands (picocli command objects)
     * added after the product's; returns the exit code.
     */
    public static int execute(String[] args, Object... more) {
        if (Logs.refusedFormat(
                System.getenv(Logs.FORMAT_ENV), System.err)) { // every command: logback would log nothing
            return StartupException.BAD_CONFIGURATION;
        }
        return commandLine(more).execute(args);
    }

    /**
     * The command line as {@link #main} runs it, with {@code more} commands added: a usage mistake
     * is one line and a pointer to --help, not the whole help.
     */
    public static CommandLine commandLine(Object... more) {
        CommandLine commandLine = new CommandLine(new Streamtrain());
        for (Object command : more) {
            commandLine.addSubcommand(command);
        }
        commandLine.addSubcommand(new CommandLine.HelpCommand());
        return commandLine
                .setParameterExceptionHandler((e, args) -> {
                    CommandLine cmd = e.getCommandLine();
                    PrintWriter err = cmd.getErr();
                    err.println("streamtrain: " + e.getMessage());
                    CommandLine.UnmatchedArgumentException.printSuggestions(e, err);
                    err.println("See '" + cmd.getCommandSpec().qualifiedName() + " --help'.");
                    return cmd.getCommandSpec().exitCodeOnInvalidInput();
                })
                .setExecutionExceptionHandler((e, cmd, parsed) -> StartupException.report(e, cmd.getErr()));
    }

    /**
     * Runs one of the product's commands in this JVM, everything it prints going to {@code out}
     * (the commands print through picocli's writers, never {@code System.out}); returns its exit
     * code. Its log lines go where the JVM's logging sends them.
     */
    public static int run(PrintWriter out, String... args) {
        return commandLine().setOut(out).setErr(out).execute(args);
    }
}
