package io.streamtrain.core.djl;

import ai.djl.engine.Engine;

/**
 * The one way streamtrain gets its DJL engine: PyTorch, offline. The native library comes
 * from the {@code pytorch-native-cpu} and {@code pytorch-jni} jars on the class path and is
 * unpacked into DJL's cache directory ({@code DJL_CACHE_DIR}, default {@code ~/.djl.ai});
 * DJL is never allowed to download anything.
 */
public final class Engines {
    public static final String ENGINE = "PyTorch";

    private Engines() {}

    public static Engine pytorch() {
        // DJL would otherwise try the network when it finds no native library
        if (System.getProperty("ai.djl.offline") == null) {
            System.setProperty("ai.djl.offline", "true");
        }
        // the one engine we ship; keeps DJL from probing for others
        if (System.getProperty("ai.djl.default_engine") == null) {
            System.setProperty("ai.djl.default_engine", ENGINE);
        }
        try {
            return Engine.getEngine(ENGINE);
        } catch (RuntimeException | LinkageError e) {
            throw new NativeEngineException("cannot load the PyTorch native library for DJL: " + rootMessage(e)
                    + ". streamtrain needs ai.djl.pytorch:pytorch-native-cpu (classifier linux-x86_64) and "
                    + "ai.djl.pytorch:pytorch-jni on the class path (the build puts them there), and a writable "
                    + "cache directory (DJL_CACHE_DIR, now " + cacheDir() + ")", e);
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
