package io.streamtrain.lab;

import io.streamtrain.cli.Streamtrain;
import io.streamtrain.lab.results.ResultsCommand;

/**
 * The {@code streamtrain} command as the {@code ./streamtrain} launcher runs it: the product's
 * commands and the lab's (demo, local, results, bench). The service image holds only the
 * product's.
 */
public final class StreamtrainLab {
    private StreamtrainLab() {}

    public static void main(String[] args) {
        System.exit(Streamtrain.execute(args, labCommands()));
    }

    /** The lab's commands, in the order {@code --help} lists them after the product's. */
    public static Object[] labCommands() {
        return new Object[] {new DemoCommand(), new LocalCommand(), new ResultsCommand(), new BenchCommand()};
    }
}
