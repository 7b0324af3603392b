package io.streamtrain.testkit;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/** A service (a trainer node, the evaluator) in a child JVM, as it runs in a pod: so the tests can SIGKILL and SIGTERM it. */
public final class ServiceProcess implements AutoCloseable {
    private final Process process;
    private final List<String> lines = new CopyOnWriteArrayList<>();
    private final Thread reader;

    public static final String TRAINER = "io.streamtrain.trainer.TrainerMain";
    public static final String EVALUATOR = "io.streamtrain.evaluator.EvaluatorMain";

    private static final String LOGBACK_CONFIGURATION = "logback.configurationFile";
    /**
     * The system property with options for every service JVM a test or the lab starts, separated
     * by spaces. The build sets {@code -XX:TieredStopAtLevel=1} for the integration tests: their
     * services live seconds, and C2's compilations cost them a quarter of their CPU time on 2 cores.
     */
    public static final String CHILD_JVM_OPTIONS = "streamtrain.childJvmOptions";

    /** The options {@link #CHILD_JVM_OPTIONS} names; none when it is not set. */
    public static List<String> childJvmOptions() {
        String options = System.getProperty(CHILD_JVM_OPTIONS, "").strip();
        return options.isEmpty() ? List.of() : List.of(options.split("\\s+"));
    }

    /** A trainer node of the run in {@code spec}. */
    public ServiceProcess(Path spec, String bootstrap, String nodeId, String... extra) throws IOException {
        this(args(spec, bootstrap, nodeId, extra));
    }

    /** A trainer started with exactly these command-line arguments. */
    public ServiceProcess(List<String> args) throws IOException {
        this(TRAINER, args);
    }

    /** {@code mainClass} started with exactly these command-line arguments. */
    public ServiceProcess(String mainClass, List<String> args) throws IOException {
        this(mainClass, args, Map.of());
    }

    /** {@code mainClass} started with these arguments and these extra environment variables. */
    public ServiceProcess(String mainClass, List<String> args, Map<String, String> env) throws IOException {
        String classpath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        List<String> cmd = new ArrayList<>(
                List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Dai.djl.offline=true"));
        String logging = System.getProperty(LOGBACK_CONFIGURATION);
        if (logging != null) { // the test's logging, where its module names one
            cmd.add("-D" + LOGBACK_CONFIGURATION + "=" + logging);
        }
        cmd.addAll(childJvmOptions());
        cmd.addAll(List.of("-cp", classpath, mainClass));
        cmd.addAll(args);
        ProcessBuilder builder = new ProcessBuilder(cmd).redirectErrorStream(true);
        // several services on one machine: each serves its metrics on a free port (it logs which)
        builder.environment().put("STREAMTRAIN_METRICS_PORT", "0");
        builder.environment().putAll(env);
        process = builder.start();
        reader = new Thread(
                () -> {
                    try (BufferedReader r = new BufferedReader(
                            new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                        String line;
                        while ((line = r.readLine()) != null) {
                            lines.add(line);
                        }
                    } catch (IOException ignored) {
                        // the process ended
                    }
                },
                "service-process-output");
        reader.setDaemon(true);
        reader.start();
    }

    private static List<String> args(Path spec, String bootstrap, String nodeId, String... extra) {
        List<String> args = new ArrayList<>(
                List.of("--spec", spec.toString(), "--bootstrap-servers", bootstrap, "--node-id", nodeId));
        args.addAll(List.of(extra));
        return args;
    }

    /** Waits until an output line matches; fails the test with the output so far if none does. */
    public void awaitLine(Predicate<String> match, long seconds) throws InterruptedException {
        awaitLineAfter(0, match, seconds);
    }

    /** Like {@link #awaitLine}, looking only at lines from index {@code from} on (see {@link #lineCount()}). */
    public void awaitLineAfter(int from, Predicate<String> match, long seconds) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (System.nanoTime() < deadline) {
            if (matches(from, match)) {
                return;
            }
            if (!process.isAlive()) {
                reader.join(5_000); // let the reader drain
                if (matches(from, match)) {
                    return;
                }
                throw new AssertionError(
                        "trainer exited (" + process.exitValue() + ") before the expected line; output:\n" + output());
            }
            Thread.sleep(20);
        }
        throw new AssertionError("no expected line within " + seconds + " s; output:\n" + output());
    }

    private boolean matches(int from, Predicate<String> match) {
        List<String> now = List.copyOf(lines);
        return from < now.size() && now.subList(from, now.size()).stream().anyMatch(match);
    }

    /** Lines of output so far. */
    public int lineCount() {
        return lines.size();
    }

    public int awaitExit(long seconds) throws InterruptedException {
        if (!process.waitFor(seconds, TimeUnit.SECONDS)) {
            throw new AssertionError("trainer still running after " + seconds + " s; output:\n" + output());
        }
        // the output's last lines may still be in the pipe
        reader.join(5_000);
        return process.exitValue();
    }

    public boolean alive() {
        return process.isAlive();
    }

    public void sigkill() {
        process.destroyForcibly();
    }

    /**
     * Sends SIGTERM through the process handle: {@code Process.destroy()} would also close our
     * end of its output pipe, losing whatever the trainer says on its way out.
     */
    public void sigterm() {
        process.toHandle().destroy();
    }

    /** Freezes the whole process (SIGSTOP): a node that hangs without dying, heartbeats included. */
    public void freeze() throws IOException, InterruptedException {
        signal("STOP");
    }

    /** Lets a frozen process go on (SIGCONT). */
    public void thaw() throws IOException, InterruptedException {
        signal("CONT");
    }

    private void signal(String name) throws IOException, InterruptedException {
        Process kill = new ProcessBuilder("kill", "-" + name, Long.toString(process.pid()))
                .inheritIO()
                .start();
        if (kill.waitFor() != 0) {
            throw new AssertionError("kill -" + name + " " + process.pid() + " failed");
        }
    }

    public String output() {
        return String.join("\n", lines);
    }

    @Override
    public void close() {
        process.destroyForcibly();
    }
}
