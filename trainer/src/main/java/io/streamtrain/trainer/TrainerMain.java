package io.streamtrain.trainer;

import picocli.CommandLine;

/** The trainer image's entry point: {@code java -cp ... io.streamtrain.trainer.TrainerMain --spec run.yaml}. */
public final class TrainerMain {
    private TrainerMain() {}

    public static void main(String[] args) {
        System.exit(new CommandLine(new TrainerCommand())
                .setExecutionExceptionHandler(
                        (e, cmd, parsed) -> io.streamtrain.core.kafka.StartupException.report(e, cmd.getErr()))
                .execute(args));
    }
}
