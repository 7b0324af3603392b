package io.streamtrain.cli.it;

import io.streamtrain.trainer.TrainerNode;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicReference;

/** A trainer node run on a thread of its own, as a test drives one: its outcome, or what it threw. */
final class NodeThread {
    private final Thread thread;
    private final AtomicReference<Object> outcome = new AtomicReference<>();

    private NodeThread(TrainerNode node, String name) {
        thread = new Thread(
                () -> {
                    try {
                        outcome.set(node.run());
                    } catch (Throwable t) {
                        outcome.set(t);
                    }
                },
                name);
    }

    /** Starts {@code node}'s run on a thread named {@code name}. */
    static NodeThread start(TrainerNode node, String name) {
        NodeThread t = new NodeThread(node, name);
        t.thread.start();
        return t;
    }

    boolean alive() {
        return thread.isAlive();
    }

    /** What the run returned ({@link TrainerNode.Outcome}) or threw; null while it runs. */
    Object outcome() {
        return outcome.get();
    }

    /** Waits up to {@code timeout} for the run to end. @return {@link #outcome()} */
    Object await(Duration timeout) throws InterruptedException {
        thread.join(timeout.toMillis());
        return outcome.get();
    }
}
