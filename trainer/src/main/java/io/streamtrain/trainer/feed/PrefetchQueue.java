package io.streamtrain.trainer.feed;

import java.util.ArrayDeque;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A FIFO between the decoding thread and the training step, bounded by the bytes it holds
 * rather than by a count (records vary in size). One item larger than the bound is still
 * accepted when the queue is empty, so progress never stops.
 */
final class PrefetchQueue<T> {
    private record Entry<T>(T item, long bytes) {}

    private final long maxBytes;
    private final ArrayDeque<Entry<T>> items = new ArrayDeque<>();
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition notEmpty = lock.newCondition();
    private final Condition notFull = lock.newCondition();
    private long bytes;

    PrefetchQueue(long maxBytes) {
        if (maxBytes <= 0) {
            throw new IllegalArgumentException("maxBytes must be > 0");
        }
        this.maxBytes = maxBytes;
    }

    /**
     * Waits up to {@code timeout} for room; returns false if there was none (the caller
     * re-checks whether it should stop and tries again).
     */
    boolean offer(T item, long itemBytes, long timeout, TimeUnit unit) throws InterruptedException {
        long nanos = unit.toNanos(timeout);
        lock.lock();
        try {
            while (!items.isEmpty() && bytes + itemBytes > maxBytes) {
                if (nanos <= 0) {
                    return false;
                }
                nanos = notFull.awaitNanos(nanos);
            }
            items.addLast(new Entry<>(item, itemBytes));
            bytes += itemBytes;
            notEmpty.signal();
            return true;
        } finally {
            lock.unlock();
        }
    }

    /** The next item, or null after {@code timeout}. */
    T poll(long timeout, TimeUnit unit) throws InterruptedException {
        long nanos = unit.toNanos(timeout);
        lock.lock();
        try {
            while (items.isEmpty()) {
                if (nanos <= 0) {
                    return null;
                }
                nanos = notEmpty.awaitNanos(nanos);
            }
            Entry<T> e = items.removeFirst();
            bytes -= e.bytes();
            notFull.signalAll();
            return e.item();
        } finally {
            lock.unlock();
        }
    }

    long bytes() {
        lock.lock();
        try {
            return bytes;
        } finally {
            lock.unlock();
        }
    }

    int size() {
        lock.lock();
        try {
            return items.size();
        } finally {
            lock.unlock();
        }
    }
}
