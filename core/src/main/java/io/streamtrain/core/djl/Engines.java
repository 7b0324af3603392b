package io.streamtrain.core.djl;

import ai.djl.engine.Engine;
import ai.djl.pytorch.jni.JniUtils;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one way streamtrain gets its DJL engine: PyTorch, offline. The native library comes
 * from the {@code pytorch-native-cpu} and {@code pytorch-jni} jars on the class path and is
 * unpacked into DJL's cache directory ({@code DJL_CACHE_DIR}, default {@code ~/.djl.ai});
 * DJL is never allowed to download anything.
 */
public final class Engines {
    public static final String ENGINE = "PyTorch";

    /** PyTorch intra-op threads; DJL reads this property when the engine starts. */
    public static final String THREADS_PROPERTY = "ai.djl.pytorch.num_threads";
    /** Overrides the default of one thread fewer than the cores the JVM sees. */
    public static final String THREADS_ENV = "STREAMTRAIN_TORCH_THREADS";
    /** The library the launcher and the image preload (core/src/main/native/mkl_vendor_shim.c). */
    public static final String MKL_SHIM = "libstreamtrain-mkl-shim.so";

    private static final Logger log = LoggerFactory.getLogger(Engines.class);
    private static volatile boolean mklChecked;

    private Engines() {}

    /**
     * What to tell the operator about MKL's code path: MKL (linked into libtorch) runs its
     * generic kernels on a CPU that is not Intel's unless {@link #MKL_SHIM} is preloaded.
     *
     * @param cpuVendor {@code vendor_id} of /proc/cpuinfo, or null when unknown
     * @param shimLoaded whether the shim is mapped into the process (an {@code LD_PRELOAD} naming
     *     a missing file loads nothing)
     * @return a warning, or empty when MKL takes its fast path
     */
    static Optional<String> mklWarning(String cpuVendor, boolean shimLoaded) {
        if (cpuVendor == null || cpuVendor.equals("GenuineIntel") || shimLoaded) {
            return Optional.empty();
        }
        return Optional.of("this " + cpuVendor
                + " CPU runs PyTorch's MKL on its generic kernels (a training step about 1.7 x"
                + " slower on AMD EPYC): start streamtrain with its launcher or image, which preload " + MKL_SHIM
                + ", or set LD_PRELOAD to that file (the build writes it to core/target/native/)");
    }

    static boolean shimLoaded() {
        try {
            return Files.readString(Path.of("/proc/self/maps")).contains(MKL_SHIM);
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    static String cpuVendor() {
        try {
            return Files.readAllLines(Path.of("/proc/cpuinfo")).stream()
                    .filter(l -> l.startsWith("vendor_id"))
                    .map(l -> l.substring(l.indexOf(':') + 1).trim())
                    .findFirst()
                    .orElse(null);
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    /** {@code STREAMTRAIN_TORCH_THREADS} if set, else one thread per core but one (at least one). */
    public static int defaultThreads(String env, int cores) {
        if (env != null && !env.isBlank()) {
            try {
                int n = Integer.parseInt(env.trim());
                if (n >= 1) {
                    return n;
                }
            } catch (NumberFormatException e) {
                // fall through to the message below
            }
            throw new NativeEngineException(THREADS_ENV + " must be a whole number >= 1, got '" + env + "'", null);
        }
        return Math.max(1, cores - 1);
    }

    /** The PyTorch engine, with autograd off on the calling thread (call it on the thread that trains or evaluates). */
    public static Engine pytorch() {
        // DJL would otherwise try the network when it finds no native library
        if (System.getProperty("ai.djl.offline") == null) {
            System.setProperty("ai.djl.offline", "true");
        }
        // the one engine we ship; keeps DJL from probing for others
        if (System.getProperty("ai.djl.default_engine") == null) {
            System.setProperty("ai.djl.default_engine", ENGINE);
        }
        // PyTorch's intra-op pool spins at its barriers: sharing every core with the batch feed
        // and the Kafka clients slows a step far more than one fewer thread does (docs/benchmarks.md)
        if (System.getProperty(THREADS_PROPERTY) == null) {
            System.setProperty(
                    THREADS_PROPERTY,
                    Integer.toString(defaultThreads(
                            System.getenv(THREADS_ENV), Runtime.getRuntime().availableProcessors())));
        }
        try {
            Engine engine = Engine.getEngine(ENGINE);
            // autograd's mode is per thread and on by default, but DJL turns it off only on the thread that
            // loads the engine; with it on, PyTorch refuses the in-place weight updates and restores on any
            // other thread (a GradientCollector turns it on for its own scope only)
            JniUtils.setGradMode(false);
            if (!mklChecked) {
                mklChecked = true;
                mklWarning(cpuVendor(), shimLoaded()).ifPresent(log::warn);
            }
            return engine;
        } catch (RuntimeException | LinkageError e) {
            throw new NativeEngineException(
                    "cannot load the PyTorch native library for DJL: " + rootMessage(e)
                            + ". streamtrain needs ai.djl.pytorch:pytorch-native-cpu (classifier linux-x86_64) and "
                            + "ai.djl.pytorch:pytorch-jni on the class path (the build puts them there), and a writable "
                            + "cache directory (DJL_CACHE_DIR, now " + cacheDir() + ")",
                    e);
        }
    }

    static String cacheDir() {
        String dir = System.getProperty("DJL_CACHE_DIR", System.getenv("DJL_CACHE_DIR"));
        return dir != null ? dir : System.getProperty("user.home") + "/.djl.ai";
    }

    private static String rootMessage(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        return t == e ? String.valueOf(e.getMessage()) : e.getMessage() + " (" + t.getMessage() + ")";
    }
}
