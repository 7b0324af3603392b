package io.streamtrain.core.metrics;

import java.time.Duration;

/**
 * What {@code /healthz} and {@code /readyz} answer. A service calls {@link #beat()} from its
 * work loop and {@link #ready(boolean)} when it is connected and initialized (and no
 * longer, when it stops). Live means the loop beat within {@code stallAfter}, or has not
 * started yet (a JVM loading PyTorch is the startup probe's business, not liveness's).
 */
public final class Health {
    private final long stallAfterNanos;
    private volatile long lastBeat;
    private volatile boolean beating;
    private volatile boolean ready;
    private volatile String state = "starting";

    public Health(Duration stallAfter) {
        this.stallAfterNanos = stallAfter.toNanos();
    }

    /** The work loop went round once. */
    public void beat() {
        lastBeat = System.nanoTime();
        beating = true;
    }

    /** Connected and initialized (or, with false, stopping). */
    public void ready(boolean ready) {
        this.ready = ready;
    }

    /** One word on what the service is doing, shown by both endpoints (e.g. {@code training}, {@code stopping}). */
    public void state(String state) {
        this.state = state;
    }

    public boolean live() {
        return !beating || System.nanoTime() - lastBeat < stallAfterNanos;
    }

    public boolean isReady() {
        return ready;
    }

    /** A line a person reads in a probe's output. */
    public String describe() {
        String loop = beating
                ? "work loop beat " + (System.nanoTime() - lastBeat) / 1_000_000 + " ms ago"
                : "work loop not started";
        return state + "; " + loop + (live() ? "" : " (stalled: more than " + stallAfterNanos / 1_000_000_000 + " s)");
    }
}
