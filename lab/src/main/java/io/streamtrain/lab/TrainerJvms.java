package io.streamtrain.lab;

import io.streamtrain.cli.Logs;
import io.streamtrain.core.djl.Engines;
import io.streamtrain.core.kafka.KafkaSettings;
import io.streamtrain.testkit.EmbeddedKafka;
import io.streamtrain.testkit.ServiceProcess;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Deque;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Trainer nodes of the benches, each in a child JVM running {@code TrainerMain} as in
 * production: DJL allows one training model per JVM, so the nodes of a run are processes.
 * Each node gets one PyTorch thread ({@code STREAMTRAIN_TORCH_THREADS=1}), so several nodes
 * on one machine do not fight over the same cores. Closing kills the nodes still running and
 * removes their spec files; a bench interrupted by Ctrl-C or SIGTERM does the same, and
 * closes the broker it was given, so nothing outlives it.
 */
final class TrainerJvms implements AutoCloseable {
    static final String TRAINER_MAIN = "io.streamtrain.trainer.TrainerMain";
    /** A warning or error in the nodes' log pattern (cli's logback.xml): shown even when not verbose. */
    private static final Pattern TROUBLE_LINE = Pattern.compile("^\\S+ (WARN|ERROR) ");
    /** Lines of a node's output kept to show when it fails. */
    private static final int TAIL_LINES = 40;

    private final Path dir;
    private final boolean verbose;
    private final Set<Node> running = ConcurrentHashMap.newKeySet();
    private final Thread interrupted;
    private volatile EmbeddedKafka broker;
    private volatile boolean kafkaEnvironment;
    private volatile int torchThreads = 1;

    /**
     * @param name names the temp dir of the spec files
     * @param verbose show every line the nodes log; otherwise their warnings and errors only
     */
    TrainerJvms(String name, boolean verbose) throws IOException {
        this.dir = Files.createTempDirectory("streamtrain-" + name + "-");
        this.verbose = verbose;
        this.interrupted = new Thread(
                () -> {
                    killAll();
                    EmbeddedKafka b = broker;
                    try {
                        if (b != null) {
                            b.close();
                        }
                    } catch (RuntimeException alreadyClosing) {
                        // the bench was closing it itself
                    }
                    deleteTree(dir);
                },
                "bench-" + name + "-interrupted");
        Runtime.getRuntime().addShutdownHook(interrupted);
    }

    /** A bench's measurements, given the JVMs to start its nodes in; returns the exit code. */
    interface Bench {
        int run(TrainerJvms jvms) throws Exception;
    }

    /**
     * Runs a bench that starts trainer JVMs, with quiet logs: a failure ({@link BenchFailedException})
     * is printed as {@code <name>: <why>} and exits 1; whatever happens, no node outlives it.
     *
     * @param name the bench's command, e.g. {@code bench stop}
     */
    static int run(String name, boolean verbose, Bench bench) throws Exception {
        Logs.quiet();
        try (TrainerJvms jvms = new TrainerJvms(name.replace(' ', '-'), verbose)) {
            return bench.run(jvms);
        } catch (BenchFailedException e) {
            System.out.flush();
            System.err.println(name + ": " + e.getMessage());
            return 1;
        }
    }

    /** The broker an interrupted bench closes too, so its data does not stay behind; null once closed. */
    void broker(EmbeddedKafka broker) {
        this.broker = broker;
    }

    /**
     * Passes this process's {@code STREAMTRAIN_KAFKA_*} client settings (security, ...) on to
     * the nodes: for a real cluster. By default they are left out, the embedded broker being
     * plain and local.
     */
    void passKafkaEnvironment() {
        kafkaEnvironment = true;
    }

    /**
     * PyTorch intra-op threads of the nodes started from now on (default 1): more only when
     * one node has the machine to itself.
     */
    void torchThreads(int threads) {
        this.torchThreads = threads;
    }

    /** Writes a run spec for the nodes to read. */
    Path spec(String run, String yaml) throws IOException {
        return Files.writeString(dir.resolve(run + ".yaml"), yaml);
    }

    /**
     * Starts a node of the run in {@code spec}, serving its metrics on a free port chosen here
     * ({@link Node#metricsPort}). Its output is shown when verbose (its warnings always) and its
     * last lines kept for when it fails; what it did is read from the run's topics and its
     * metrics, never from its log lines.
     */
    Node start(Path spec, String bootstrap, String nodeId) throws IOException {
        Node node = new Node(spec, bootstrap, nodeId, freePort());
        running.add(node);
        return node;
    }

    /**
     * Waits until every node has exited 0; the first to exit otherwise, or a timeout, fails
     * the bench with the nodes' last lines.
     *
     * @param meanwhile called about every 100 ms while the nodes run
     */
    static void awaitExit(List<Node> nodes, Duration timeout, Runnable meanwhile)
            throws InterruptedException, BenchFailedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            boolean alive = false;
            for (Node n : nodes) {
                n.requireHealthy();
                alive |= n.process.isAlive();
            }
            if (!alive) {
                nodes.forEach(Node::drain);
                return;
            }
            if (System.nanoTime() > deadline) {
                StringBuilder tails = new StringBuilder();
                nodes.forEach(n -> tails.append("--- ")
                        .append(n.nodeId)
                        .append(":\n")
                        .append(n.tail())
                        .append('\n'));
                throw new BenchFailedException("the nodes did not finish within " + timeout.toSeconds()
                        + " s; the last lines of their output:\n" + tails);
            }
            meanwhile.run();
            Thread.sleep(100);
        }
    }

    /** Kills the nodes still running and removes the spec files. */
    @Override
    public void close() {
        killAll();
        broker = null;
        try {
            Runtime.getRuntime().removeShutdownHook(interrupted);
        } catch (IllegalStateException shuttingDown) {
            // the hook is running: it cleans up
        }
        deleteTree(dir);
    }

    private void killAll() {
        for (Node n : running) {
            n.process.destroyForcibly();
        }
        for (Node n : running) {
            try {
                n.process.waitFor(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
        running.clear();
    }

    private static void deleteTree(Path dir) {
        try (Stream<Path> files = Files.walk(dir)) {
            files.sorted(Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
        } catch (IOException e) {
            // a temp dir left behind is harmless
        }
    }

    /**
     * A port nothing listens on now, for a node to serve its metrics on, below the system's
     * ephemeral range where it can: between this check and the node's bind, an outbound
     * connection of this JVM or the broker could otherwise be given the same port.
     */
    private static int freePort() throws IOException {
        int ephemeralLow = 32768; // Linux's default, where the range cannot be read
        try {
            ephemeralLow = Integer.parseInt(Files.readString(Path.of("/proc/sys/net/ipv4/ip_local_port_range"))
                    .trim()
                    .split("\\s+")[0]);
        } catch (IOException | RuntimeException e) {
            // not Linux, or not readable: the default range
        }
        java.util.Random random = new java.util.Random();
        for (int attempt = 0; attempt < 50 && ephemeralLow > 11_000; attempt++) {
            int port = 10_000 + random.nextInt(ephemeralLow - 10_000);
            try (ServerSocket socket = new ServerSocket(port, 1, InetAddress.getLoopbackAddress())) {
                return socket.getLocalPort();
            } catch (IOException taken) {
                // another one
            }
        }
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort();
        }
    }

    /** A trainer node in a child JVM; the last lines of its output are kept to show when it fails. */
    final class Node {
        final String nodeId;
        /** Where the node serves /metrics, /healthz and /readyz. */
        final int metricsPort;

        final Process process;
        /** {@link System#nanoTime()} when the process was seen to end; 0 while it runs. */
        private volatile long exitedAt;

        private final Deque<String> tail = new ArrayDeque<>();
        private final Thread reader;

        private Node(Path spec, String bootstrap, String nodeId, int metricsPort) throws IOException {
            this.nodeId = nodeId;
            this.metricsPort = metricsPort;
            String java = ProcessHandle.current()
                    .info()
                    .command()
                    .orElse(Path.of(System.getProperty("java.home"), "bin", "java")
                            .toString());
            List<String> cmd = new ArrayList<>(List.of(java, "-Dai.djl.offline=true"));
            cmd.addAll(ServiceProcess.childJvmOptions());
            cmd.addAll(List.of(
                    "-cp",
                    System.getProperty("java.class.path"),
                    TRAINER_MAIN,
                    "--spec",
                    spec.toString(),
                    "--bootstrap-servers",
                    bootstrap,
                    "--node-id",
                    nodeId,
                    "--log-every",
                    "0",
                    "--metrics-port",
                    Integer.toString(metricsPort)));
            ProcessBuilder builder = new ProcessBuilder(cmd).redirectErrorStream(true);
            // one intra-op thread per node (unless told): several
            // nodes on one machine must not fight over the same cores
            builder.environment().put(Engines.THREADS_ENV, Integer.toString(torchThreads));
            if (!kafkaEnvironment) {
                // the embedded broker is plain and local: client settings and signing keys meant for a real cluster do
                // not apply
                // (the run's other roles here, in this JVM, neither sign nor check)
                builder.environment()
                        .keySet()
                        .removeIf(k -> k.startsWith(KafkaSettings.PASSTHROUGH_ENV_PREFIX)
                                || k.equals(io.streamtrain.core.signing.Signing.KEY_ENV)
                                || k.equals(io.streamtrain.core.signing.Signing.TRUSTED_ENV));
            }
            process = builder.start();
            // completed by the JDK's process reaper as soon as the child is gone
            var unused = process.onExit().thenRun(() -> exitedAt = System.nanoTime());
            reader = new Thread(this::read, "bench-output-" + nodeId);
            reader.setDaemon(true);
            reader.start();
        }

        private void read() {
            try (BufferedReader r =
                    new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = r.readLine()) != null) {
                    synchronized (tail) {
                        tail.addLast(line);
                        if (tail.size() > TAIL_LINES) {
                            tail.removeFirst();
                        }
                    }
                    if (verbose || TROUBLE_LINE.matcher(line).find()) {
                        System.out.println("      [" + nodeId + "] " + line);
                    }
                }
            } catch (IOException ended) {
                // the process ended
            }
        }

        /** Waits for the process to end; returns when it was seen to end ({@link System#nanoTime()}). */
        long awaitExitedAt() throws InterruptedException {
            process.waitFor();
            while (exitedAt == 0) {
                Thread.sleep(1); // the reaper's callback is on its way
            }
            return exitedAt;
        }

        /** @throws BenchFailedException if the node has exited non-zero */
        void requireHealthy() throws BenchFailedException {
            if (!process.isAlive() && process.exitValue() != 0) {
                drain();
                throw new BenchFailedException("trainer node " + nodeId + " exited " + process.exitValue()
                        + "; the last lines of its output:\n" + tail());
            }
        }

        /** Lets the reader take the output's last lines from the pipe. */
        void drain() {
            try {
                reader.join(5_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }

        String tail() {
            synchronized (tail) {
                return String.join("\n", tail);
            }
        }

        void kill() {
            process.destroyForcibly();
            running.remove(this);
        }
    }

    /** A node exited non-zero or hung, or a run did not leave what it should have. */
    static final class BenchFailedException extends Exception {
        BenchFailedException(String message) {
            super(message);
        }
    }
}
