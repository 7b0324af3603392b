package io.streamtrain.cli.it;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/** A trainer node in a child JVM, as it runs in a pod: so the tests can SIGKILL and SIGTERM it. */
final class TrainerProcess implements AutoCloseable {
    private final Process process;
    private final List<String> lines = new CopyOnWriteArrayList<>();

    TrainerProcess(Path spec, String bootstrap, String nodeId, String... extra) throws IOException {
        String classpath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        List<String> cmd = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Dai.djl.offline=true", "-cp", classpath, "io.streamtrain.trainer.TrainerMain",
                "--spec", spec.toString(), "--bootstrap-servers", bootstrap, "--node-id", nodeId));
        cmd.addAll(List.of(extra));
        process = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        Thread reader = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = r.readLine()) != null) {
                    lines.add(line);
                }
            } catch (IOException ignored) {
                // the process ended
            }
        }, "trainer-process-output");
        reader.setDaemon(true);
        reader.start();
    }

    /** Waits until an output line matches; fails the test with the output so far if none does. */
    void awaitLine(Predicate<String> match, long seconds) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (System.nanoTime() < deadline) {
            if (lines.stream().anyMatch(match)) {
                return;
            }
            if (!process.isAlive() && lines.stream().noneMatch(match)) {
                Thread.sleep(200); // let the reader drain
                if (lines.stream().anyMatch(match)) {
                    return;
                }
                throw new AssertionError("trainer exited (" + process.exitValue() + ") before the expected line; output:\n" + output());
            }
            Thread.sleep(20);
        }
        throw new AssertionError("no expected line within " + seconds + " s; output:\n" + output());
    }

    int awaitExit(long seconds) throws InterruptedException {
        if (!process.waitFor(seconds, TimeUnit.SECONDS)) {
            throw new AssertionError("trainer still running after " + seconds + " s; output:\n" + output());
        }
        return process.exitValue();
    }

    void sigkill() {
        process.destroyForcibly();
    }

    void sigterm() {
        process.destroy();
    }

    String output() {
        return String.join("\n", lines);
    }

    @Override
    public void close() {
        process.destroyForcibly();
    }
}
