package io.streamtrain.cli.it;

import io.streamtrain.cli.Streamtrain;
import java.io.PrintWriter;
import java.io.StringWriter;

/** Runs the {@code streamtrain} command line in-process, as {@code main} would, keeping what it printed. */
record CommandRun(int exitCode, String out, String err) {

    static CommandRun of(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Streamtrain.commandLine()
                .setOut(new PrintWriter(out, true))
                .setErr(new PrintWriter(err, true))
                .execute(args);
        return new CommandRun(code, out.toString(), err.toString());
    }

    @Override
    public String toString() {
        return "exit " + exitCode + "\n--- stdout\n" + out + "--- stderr\n" + err;
    }
}
