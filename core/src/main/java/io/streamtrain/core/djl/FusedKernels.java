package io.streamtrain.core.djl;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import java.io.IOException;
import java.io.InputStream;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.net.URL;
import java.nio.ByteBuffer;
import java.nio.file.DirectoryIteratorException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.time.Instant;
import java.util.Locale;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinWorkerThread;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.stream.IntStream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The training step's elementwise work on a parameter in one pass over its memory, in native code
 * that this project builds (core/src/main/native/fused_kernels.c): libtorch does the same work as a
 * dozen operations, each a pass and most with a temporary the size of the parameter.
 *
 * <ul>
 *   <li>{@link #penalize}: adds the penalties' gradients to a gradient and returns the sums the
 *       step reports (the penalty terms, the weight and gradient norms);
 *   <li>{@link #adam}: Adam's update of a weight and both moments, the gradient clipped and the
 *       weight decayed on the way.
 * </ul>
 *
 * The kernels read and write the tensors' own memory (a direct buffer over a contiguous float32
 * tensor on the CPU) and take only such tensors ({@link #fits}): given any other, they change
 * nothing and say so, and the caller keeps libtorch's operations, as it does for everything when
 * the library is missing (a build without a C compiler, a CPU that is not x86-64) or when
 * {@value #DISABLE_PROPERTY} is {@code true}.
 * Large parameters are cut into chunks of {@value #CHUNK} values that run on {@code threads}
 * threads; sums are added up chunk by chunk in order, so a result does not depend on the thread
 * count.
 */
public final class FusedKernels {
    /**
     * Set to {@code true} to train with libtorch's operations only (for comparisons): read when a
     * step or an optimizer is made.
     */
    public static final String DISABLE_PROPERTY = "streamtrain.fusedKernels.disabled";

    static final String LIBRARY = "libstreamtrain-kernels.so";
    static final int CHUNK = 1 << 16;
    static final String COPY_PREFIX = "streamtrain-kernels";
    static final String COPY_SUFFIX = ".so";
    /** A copy of the library older than this is one a process that died before loading it left. */
    static final Duration STALE = Duration.ofMinutes(10);

    private static final Logger log = LoggerFactory.getLogger(FusedKernels.class);
    private static final AtomicLong CALLS = new AtomicLong();
    private static final Method IS_CONTIGUOUS;
    private static final Field TORCH;
    private static final String UNAVAILABLE;

    static {
        String why = null;
        Method contiguous = null;
        Field torch = null;
        try {
            // DJL copies a tensor that is not contiguous into a new one when asked for its buffer: writing there
            // would change nothing, so contiguity is checked first (DJL keeps that check package-private; the
            // class is not initialized here, only once a tensor exists)
            Class<?> library =
                    Class.forName("ai.djl.pytorch.jni.PyTorchLibrary", false, FusedKernels.class.getClassLoader());
            torch = library.getDeclaredField("LIB");
            torch.setAccessible(true);
            contiguous = library.getDeclaredMethod("torchIsContiguous", long.class);
            contiguous.setAccessible(true);
            load();
        } catch (IOException | ReflectiveOperationException | LinkageError | RuntimeException e) {
            why = e.toString();
            log.warn(
                    "the training step's elementwise work runs as libtorch's separate operations (slower): the fused kernels are unavailable: {}",
                    why);
        }
        TORCH = torch;
        IS_CONTIGUOUS = contiguous;
        UNAVAILABLE = why;
    }

    private static volatile FusedKernels shared;
    private final ForkJoinPool pool;

    /**
     * The kernels on as many threads as PyTorch's intra-op pool ({@link Engines#THREADS_PROPERTY},
     * set when the engine starts), or null when they are unavailable.
     */
    public static FusedKernels forEngine() {
        if (!available() || Boolean.getBoolean(DISABLE_PROPERTY)) {
            return null;
        }
        FusedKernels k = shared;
        if (k == null) {
            synchronized (FusedKernels.class) {
                if (shared == null) {
                    int threads = 1;
                    try {
                        threads = Integer.parseInt(System.getProperty(Engines.THREADS_PROPERTY, "1"));
                    } catch (NumberFormatException e) {
                        // Engines validates the setting it writes; anything else trains on one thread
                    }
                    shared = new FusedKernels(threads);
                    log.debug(
                            "the step's elementwise work runs in streamtrain's fused kernels on {} thread(s)", threads);
                }
                k = shared;
            }
        }
        return k;
    }

    /**
     * @param threads the threads a large parameter's chunks run on (PyTorch's intra-op threads)
     */
    public FusedKernels(int threads) {
        if (!available()) {
            throw new IllegalStateException("the fused kernels are unavailable: " + UNAVAILABLE);
        }
        this.pool = threads > 1 ? pool(threads) : null;
    }

    /**
     * The pool a large parameter's chunks run on, its threads named for thread dumps and
     * profiles. It is never shut down, and need not be: a ForkJoinPool's workers are daemon
     * threads, so they keep no JVM alive, and an idle one ends after the pool's keep-alive
     * (60 s), to be started again when a step needs it.
     */
    private static ForkJoinPool pool(int threads) {
        AtomicInteger started = new AtomicInteger();
        ForkJoinPool.ForkJoinWorkerThreadFactory named = p -> {
            ForkJoinWorkerThread t = ForkJoinPool.defaultForkJoinWorkerThreadFactory.newThread(p);
            t.setName("streamtrain-fused-kernels-" + started.incrementAndGet());
            return t;
        };
        return new ForkJoinPool(threads, named, null, false);
    }

    /** Whether the native kernels loaded; when not, {@link #unavailableReason()} says why. */
    public static boolean available() {
        return UNAVAILABLE == null;
    }

    public static String unavailableReason() {
        return UNAVAILABLE;
    }

    /** Whether the kernels can work on every one of these arrays in place. */
    public static boolean fits(NDArray... arrays) {
        if (!available()) {
            return false;
        }
        for (NDArray a : arrays) {
            if (a != null && !fitsOne(a)) {
                return false;
            }
        }
        return true;
    }

    private static boolean fitsOne(NDArray a) {
        // DJL hands out no direct buffer of 2 GiB or more, and copies any tensor that is not a dense, contiguous
        // one on the CPU (MKL-DNN's layout, 2, counts as not dense)
        if (!(a instanceof PtNDArray pt)
                || a.getDataType() != DataType.FLOAT32
                || !Device.cpu().equals(a.getDevice())
                || a.isSparse()
                || a.size() >= Integer.MAX_VALUE / Float.BYTES
                || JniUtils.getLayout(pt) != 0) {
            return false;
        }
        try {
            return (boolean) IS_CONTIGUOUS.invoke(TORCH.get(null), pt.getHandle());
        } catch (ReflectiveOperationException e) {
            return false;
        }
    }

    /**
     * Adds {@code l1·sign(w) + 2·l2·w + 2·l2sp·(w − w0)} to {@code g} in place and returns
     * {@code [Σ|w|, Σw², Σ(w − w0)², Σg²]}, the last of the gradient with the penalties added.
     *
     * @param g the gradient, or null for a parameter that is not trained (only the weight's sums)
     * @param w0 the L2-SP anchor, or null (then the third sum is 0 and l2sp must be 0)
     * @return the sums, or null when an array does not {@link #fits fit} the kernels (nothing changed)
     * @throws IllegalArgumentException when the arrays hold different numbers of values
     */
    public double[] penalize(NDArray w, NDArray g, NDArray w0, double l1, double l2, double l2sp) {
        if (!fits(w, g, w0)) {
            return null;
        }
        long n = w.size();
        ByteBuffer wb = buffer(w, n);
        ByteBuffer gb = g == null ? null : buffer(g, n);
        ByteBuffer ab = w0 == null ? null : buffer(w0, n);
        CALLS.incrementAndGet();
        int chunks = chunks(n);
        double[][] parts = new double[chunks][4];
        run(
                chunks,
                c -> penalize(
                        wb, gb, ab, from(c), to(c, n), (float) l1, (float) (2 * l2), (float) (2 * l2sp), parts[c]));
        double[] sums = new double[4];
        for (double[] p : parts) {
            for (int k = 0; k < 4; k++) {
                sums[k] += p[k];
            }
        }
        return sums;
    }

    /**
     * Adam's step on one parameter: {@code g' = scale·g + coupled·w}, the moments
     * {@code m = b1·m + (1 − b1)·g'} and {@code v = b2·v + (1 − b2)·g'²}, then
     * {@code w = keep·w − stepSize·m / (√v + eps)}; the gradient is only read.
     *
     * @param scale the gradient clipping's factor (1 without clipping)
     * @param coupled the coupled weight decay (torch's Adam), 0 for none
     * @param keep {@code 1 − lr·wd} for decoupled decay (torch's AdamW), 1 for none
     * @return false when an array does not {@link #fits fit} the kernels (nothing changed)
     * @throws IllegalArgumentException when the arrays hold different numbers of values
     */
    public boolean adam(
            NDArray w,
            NDArray g,
            NDArray m,
            NDArray v,
            double scale,
            double coupled,
            double keep,
            double b1,
            double b2,
            double stepSize,
            double eps) {
        if (!fits(w, g, m, v)) {
            return false;
        }
        long n = w.size();
        ByteBuffer wb = buffer(w, n);
        ByteBuffer gb = buffer(g, n);
        ByteBuffer mb = buffer(m, n);
        ByteBuffer vb = buffer(v, n);
        CALLS.incrementAndGet();
        run(
                chunks(n),
                c -> adam(
                        wb,
                        gb,
                        mb,
                        vb,
                        from(c),
                        to(c, n),
                        (float) scale,
                        (float) coupled,
                        (float) keep,
                        (float) b1,
                        (float) b2,
                        (float) stepSize,
                        (float) eps));
        return true;
    }

    /**
     * The memory of a tensor that {@link #fits}, which must hold exactly {@code n} values: a
     * gradient, an anchor or a moment of another shape than its weight (a corrupt checkpoint, say)
     * is refused here rather than read or written past its end.
     */
    private static ByteBuffer buffer(NDArray a, long n) {
        if (a.size() != n) {
            throw new IllegalArgumentException("the fused kernels need arrays of one size: " + a.getShape() + " has "
                    + a.size() + " values, not " + n);
        }
        return ((PtNDArray) a).toByteBuffer(true);
    }

    /** Kernel calls this process made: tests check that a step took the kernels' path. */
    public static long calls() {
        return CALLS.get();
    }

    private static int chunks(long n) {
        return (int) Math.max(1, (n + CHUNK - 1) / CHUNK);
    }

    private static long from(int chunk) {
        return (long) chunk * CHUNK;
    }

    private static long to(int chunk, long n) {
        return Math.min(n, from(chunk) + CHUNK);
    }

    private void run(int chunks, java.util.function.IntConsumer chunk) {
        if (pool == null || chunks == 1) {
            for (int c = 0; c < chunks; c++) {
                chunk.accept(c);
            }
        } else {
            pool.submit(() -> IntStream.range(0, chunks).parallel().forEach(chunk))
                    .join();
        }
    }

    private static native void penalize(
            ByteBuffer w,
            ByteBuffer g,
            ByteBuffer w0,
            long from,
            long to,
            float l1,
            float l2x2,
            float l2spx2,
            double[] sums);

    private static native void adam(
            ByteBuffer w,
            ByteBuffer g,
            ByteBuffer m,
            ByteBuffer v,
            long from,
            long to,
            float scale,
            float coupled,
            float keep,
            float b1,
            float b2,
            float stepSize,
            float eps);

    /**
     * A new file in DJL's cache directory, where libtorch is unpacked and so loads from (a
     * {@code /tmp} mounted {@code noexec} would refuse a library); the temporary directory when
     * that is not writable.
     */
    private static Path copyTarget() throws IOException {
        try {
            return newCopy(Files.createDirectories(Path.of(Engines.cacheDir())));
        } catch (IOException | RuntimeException e) {
            return newCopy(Path.of(System.getProperty("java.io.tmpdir")));
        }
    }

    /**
     * A new, empty file for a copy of the library in {@code dir}, once the copies that processes
     * which died between unpacking and loading left there are gone. A copy is a temporary file
     * (a name no one can guess, readable by its owner only) rather than one stable name to reuse,
     * since whoever else may write the directory could plant a library there under that name.
     */
    static Path newCopy(Path dir) throws IOException {
        removeStaleCopies(dir, Instant.now());
        return Files.createTempFile(dir, COPY_PREFIX, COPY_SUFFIX);
    }

    /**
     * Removes the copies in {@code dir} older than {@link #STALE}: a live process holds its copy
     * for the milliseconds between unpacking and loading, so an older one is a dead process's.
     * Best effort: what cannot be listed or removed stays.
     */
    static void removeStaleCopies(Path dir, Instant now) {
        try (DirectoryStream<Path> copies = Files.newDirectoryStream(dir, COPY_PREFIX + "*" + COPY_SUFFIX)) {
            for (Path copy : copies) {
                try {
                    if (Files.getLastModifiedTime(copy, LinkOption.NOFOLLOW_LINKS)
                            .toInstant()
                            .isBefore(now.minus(STALE))) {
                        Files.deleteIfExists(copy);
                        log.debug("removed a stale copy of the fused kernels: {}", copy);
                    }
                } catch (IOException e) {
                    log.debug("a stale copy of the fused kernels stays: {}: {}", copy, e.toString());
                }
            }
        } catch (IOException | DirectoryIteratorException e) {
            log.debug("stale copies of the fused kernels in {} were not looked for: {}", dir, e.toString());
        }
    }

    /**
     * Copies the library at {@code url} to {@code copy} and has {@code load} load it. The copy
     * goes either way: once loaded the mapping stays, and a copy that did not load is of no use.
     */
    static void loadCopy(URL url, Path copy, Consumer<String> load) throws IOException {
        try (InputStream in = url.openStream()) {
            Files.copy(in, copy, StandardCopyOption.REPLACE_EXISTING);
            load.accept(copy.toString());
        } finally {
            try {
                Files.deleteIfExists(copy);
            } catch (IOException e) {
                // the library may have loaded: not a reason to train without it
                copy.toFile().deleteOnExit();
            }
        }
    }

    /**
     * The library is a resource next to this class (the build compiles it into the class
     * directory); from a jar it is copied to a temporary file first, since a library loads only
     * from a file.
     */
    private static void load() throws IOException {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "");
        if (!os.contains("linux") || !(arch.equals("amd64") || arch.equals("x86_64"))) {
            throw new UnsupportedOperationException("built for Linux on x86-64 only, not " + os + " on " + arch);
        }
        URL url = FusedKernels.class.getResource(LIBRARY);
        if (url == null) {
            throw new IOException(LIBRARY + " is not on the class path (the build needs a C compiler: cc)");
        }
        if (url.getProtocol().equals("file")) {
            System.load(Path.of(java.net.URI.create(url.toString())).toString());
            return;
        }
        loadCopy(url, copyTarget(), System::load);
    }
}
