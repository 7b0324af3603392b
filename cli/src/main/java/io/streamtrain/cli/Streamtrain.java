package io.streamtrain.cli;

import io.streamtrain.cli.export.ExportCommand;
import io.streamtrain.cli.ingest.IngestCommand;
import io.streamtrain.cli.results.ResultsCommand;
import io.streamtrain.core.kafka.StartupException;
import io.streamtrain.core.logging.Logs;
import io.streamtrain.evaluator.EvaluatorCommand;
import io.streamtrain.trainer.TrainerCommand;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code streamtrain} command. */
@Command(name = "streamtrain", mixinStandardHelpOptions = true, version = "streamtrain 0.1.0",
        description = "Distributed streaming trainer: Kafka batches in, DJL (PyTorch) training, checkpoints out.",
        subcommands = {DemoCommand.class, LocalCommand.class, TrainerCommand.class, EvaluatorCommand.class, CtlCommand.class, KeysCommand.class, IngestCommand.class,
            ExportCommand.class, ScoreCommand.class, ResultsCommand.class, BenchCommand.class, CommandLine.HelpCommand.class})
public final class Streamtrain {
    private Streamtrain() {}

    public static void main(String[] args) {
        if (Logs.refusedFormat(System.getenv(Logs.FORMAT_ENV), System.err)) { // every command: logback would log nothing
            System.exit(StartupException.BAD_CONFIGURATION);
        }
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
        }).setExecutionExceptionHandler((e, cmd, parsed) -> StartupException.report(e, cmd.getErr()));
    }

    /** Runs another streamtrain command in this JVM; returns its exit code and what it printed. */
    static String[] inProcess(String... args) {
        ByteArrayOutputStream printed = new ByteArrayOutputStream();
        PrintStream stream = new PrintStream(printed, true, StandardCharsets.UTF_8);
        CommandLine cmd = commandLine();
        cmd.setOut(new PrintWriter(stream, true));
        cmd.setErr(new PrintWriter(stream, true));
        PrintStream previousOut = System.out;
        PrintStream previousErr = System.err;
        synchronized (Streamtrain.class) {
            System.setOut(stream);
            System.setErr(stream);
            try {
                int code = cmd.execute(args);
                return new String[] {Integer.toString(code), printed.toString(StandardCharsets.UTF_8)};
            } finally {
                System.setOut(previousOut);
                System.setErr(previousErr);
            }
        }
    }
}
