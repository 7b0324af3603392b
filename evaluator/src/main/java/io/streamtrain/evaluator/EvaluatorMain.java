package io.streamtrain.evaluator;

import picocli.CommandLine;

/** The evaluator image's entry point: {@code java -cp ... io.streamtrain.evaluator.EvaluatorMain}. */
public final class EvaluatorMain {
    private EvaluatorMain() {}

    public static void main(String[] args) {
        System.exit(new CommandLine(new EvaluatorCommand())
                .setExecutionExceptionHandler(
                        (e, cmd, parsed) -> io.streamtrain.core.kafka.StartupException.report(e, cmd.getErr()))
                .execute(args));
    }
}
