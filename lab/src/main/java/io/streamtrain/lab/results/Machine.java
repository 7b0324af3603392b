package io.streamtrain.lab.results;

import ai.djl.engine.Engine;
import io.streamtrain.core.djl.Engines;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/** What a result was measured on, said beside every figure. */
final class Machine {
    private Machine() {}

    /** e.g. "2 cores (Intel Xeon ...), 23.5 GiB, Linux 6.1, Java 17.0.13, PyTorch 2.7.1 on CPU (DJL 0.36.0)". */
    static String describe() {
        Engine engine = Engines.pytorch();
        return String.format(
                Locale.ROOT,
                "%d cores (%s), %s, %s %s, Java %s, PyTorch %s on CPU (DJL %s)",
                Runtime.getRuntime().availableProcessors(),
                cpuModel(),
                memory(),
                System.getProperty("os.name"),
                System.getProperty("os.version"),
                System.getProperty("java.version"),
                engine.getVersion(),
                Engine.getDjlVersion());
    }

    private static String cpuModel() {
        try {
            return Files.readAllLines(Path.of("/proc/cpuinfo")).stream()
                    .filter(l -> l.startsWith("model name"))
                    .map(l -> l.substring(l.indexOf(':') + 1).strip())
                    .findFirst()
                    .orElse("CPU model unknown");
        } catch (IOException e) {
            return "CPU model unknown";
        }
    }

    private static String memory() {
        try {
            return Files.readAllLines(Path.of("/proc/meminfo")).stream()
                    .filter(l -> l.startsWith("MemTotal:"))
                    .map(l ->
                            String.format(Locale.ROOT, "%.1f GiB", Long.parseLong(l.replaceAll("\\D", "")) / 1048576.0))
                    .findFirst()
                    .orElse("memory unknown");
        } catch (IOException | NumberFormatException e) {
            return "memory unknown";
        }
    }
}
