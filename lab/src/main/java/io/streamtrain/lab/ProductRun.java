package io.streamtrain.lab;

import io.streamtrain.cli.Streamtrain;
import java.io.PrintWriter;
import java.io.StringWriter;

/**
 * One of the product's commands run in the lab's JVM (ingest, export): the lab adds data and
 * files the way a user would, through the command's own checks and messages, and keeps what it
 * printed to show or to explain a failure.
 *
 * @param exitCode the command's exit code
 * @param printed everything it printed, output and errors in order
 */
record ProductRun(int exitCode, String printed) {
    static ProductRun of(String... args) {
        StringWriter printed = new StringWriter();
        int code = Streamtrain.run(new PrintWriter(printed, true), args);
        return new ProductRun(code, printed.toString());
    }

    boolean succeeded() {
        return exitCode == 0;
    }
}
