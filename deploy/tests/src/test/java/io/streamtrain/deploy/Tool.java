package io.streamtrain.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs a command-line tool that the deployment tests need; a missing tool fails the test with how to install it. */
final class Tool {
    private Tool() {}

    /**
     * Runs {@code command} with {@code stdin} as its input and returns what it printed, after
     * checking that it exited 0 within a minute. {@code install} says how to get the tool.
     */
    static String run(String install, byte[] stdin, List<String> command) {
        String line = String.join(" ", command);
        Process p;
        try {
            p = new ProcessBuilder(command).start();
        } catch (IOException e) {
            throw new AssertionError("cannot run " + command.get(0) + " (" + e.getMessage() + "): " + install, e);
        }
        try {
            ByteArrayOutputStream stderr = new ByteArrayOutputStream();
            Thread drain = new Thread(() -> {
                try {
                    p.getErrorStream().transferTo(stderr);
                } catch (IOException ignored) {
                    // the process ended
                }
            });
            drain.start();
            // written from another thread, so that a tool printing before it has read all never blocks us both
            Thread feed = new Thread(() -> {
                try (OutputStream in = p.getOutputStream()) {
                    in.write(stdin);
                } catch (IOException ignored) {
                    // the process ended before reading all: its exit code says why
                }
            });
            feed.start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), line + " did not finish");
            feed.join();
            drain.join();
            assertEquals(0, p.exitValue(), line + " failed: " + stderr.toString(StandardCharsets.UTF_8));
            return out;
        } catch (IOException | InterruptedException e) {
            throw new AssertionError(line + ": " + e, e);
        }
    }
}
