package io.streamtrain.trainer;

import io.streamtrain.core.control.ControlMessage;

/** Whether a node was asked to stop, and by which STOP if by one. Set from any thread; read at step boundaries. */
final class StopSignal {
    private volatile boolean requested;
    private volatile ControlMessage.Stop command;

    /** SIGTERM, or {@link TrainerNode#requestStop()}. */
    void request() {
        requested = true;
    }

    /** A STOP on the control topic: takes effect at once, and is acknowledged when the node leaves. */
    void request(ControlMessage.Stop stop) {
        command = stop;
        requested = true;
    }

    boolean requested() {
        return requested;
    }

    /** The STOP that asked, or null when the node was stopped otherwise. */
    ControlMessage.Stop command() {
        return command;
    }
}
