package io.streamtrain.core.codec;

import java.nio.ByteBuffer;
import java.util.concurrent.ArrayBlockingQueue;

/**
 * The direct buffers that hold batches' features, kept for reuse. A new direct buffer of a
 * batch's size is memory the operating system maps and zeroes page by page and Java zeroes
 * again; at a batch every few milliseconds that was most of the feed thread's decoding time
 * (docs/benchmarks.md). The feed takes a buffer per batch; whoever is done with a batch (the
 * training thread, after its step) gives it back. A buffer never given back is freed by the
 * garbage collector as any other. Thread-safe.
 */
public final class FeatureBuffers {
    /** Keeps nothing: every buffer is new (tools, tests, batches that outlive a step). */
    public static final FeatureBuffers NONE = new FeatureBuffers(0, 0);

    private final ArrayBlockingQueue<ByteBuffer> free;
    private final long bytes;

    /**
     * @param kept how many free buffers to keep at most; those given back beyond it are left to the garbage collector
     * @param floats the size of the buffers kept (a full batch's features); other sizes (a partial batch's) are not kept
     */
    public FeatureBuffers(int kept, int floats) {
        this.free = kept > 0 ? new ArrayBlockingQueue<>(kept) : null;
        this.bytes = 4L * floats;
    }

    /** A direct buffer for {@code floats} float32 values in native order, position 0; its old content is to be overwritten whole. */
    public ByteBuffer take(int floats) {
        ByteBuffer b = free != null && 4L * floats == bytes ? free.poll() : null;
        return b != null ? b.clear() : Batch.nativeFloats(floats);
    }

    /**
     * Gives back a batch's features buffer ({@link Batch#x()}): nothing may read the batch
     * afterwards (the engine array made from it included, which the step makes and closes
     * inside its own scope).
     */
    public void give(ByteBuffer x) {
        if (free != null && x.isDirect() && x.capacity() == bytes) {
            free.offer(x);
        }
    }
}
