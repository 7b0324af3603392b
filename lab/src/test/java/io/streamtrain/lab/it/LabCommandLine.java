package io.streamtrain.lab.it;

import io.streamtrain.cli.Streamtrain;
import io.streamtrain.lab.StreamtrainLab;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

/** The {@code ./streamtrain} command line (product and lab commands) run in the test's JVM. */
final class LabCommandLine {
    private LabCommandLine() {}

    /** Runs the command; returns its exit code and what it printed on standard output, as a user sees them. */
    static synchronized String[] streamtrain(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrintStream previous = System.out;
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        try {
            int code = Streamtrain.commandLine(StreamtrainLab.labCommands()).execute(args);
            return new String[] {Integer.toString(code), out.toString(StandardCharsets.UTF_8)};
        } finally {
            System.setOut(previous);
        }
    }
}
