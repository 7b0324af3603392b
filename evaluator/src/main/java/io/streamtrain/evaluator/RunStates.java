package io.streamtrain.evaluator;

import io.streamtrain.core.control.ControlMessage;
import io.streamtrain.core.spec.RunSpec;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.function.BiConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The runs this evaluator instance holds, and what it knows of each ({@link RunState}): a run
 * is taken up when its first checkpoint arrives (its topics made sure of, its state rebuilt by
 * {@link RunStateLoader}), dropped when its partition goes to another instance, and stopped
 * when a STOP is read on its control topic. {@link CheckpointHandler} alone uses it, on the
 * service thread: not thread-safe.
 */
final class RunStates {
    private static final Logger progress = LoggerFactory.getLogger("streamtrain.progress");

    private final RunStateLoader loader;
    private final StopFeed stops;
    private final BiConsumer<String, RunSpec> runTopics;
    private final EvaluatorEvents events;
    private final Duration timeout;
    private final Map<String, RunState> states = new HashMap<>();

    /**
     * @param runTopics makes sure a run's evaluations, control and dead-letter topics exist (and a continuous run's
     *     models topic), given the run and its spec
     * @param timeout how long a read of the control topic may take
     */
    RunStates(
            RunStateLoader loader,
            StopFeed stops,
            BiConsumer<String, RunSpec> runTopics,
            EvaluatorEvents events,
            Duration timeout) {
        this.loader = loader;
        this.stops = stops;
        this.runTopics = runTopics;
        this.events = events;
        this.timeout = timeout;
    }

    /** The state of {@code run}, or null when no checkpoint of it was taken up (or its partition went). */
    RunState get(String run) {
        return states.get(run);
    }

    /** The state of {@code run}, taken up now (its topics made sure of, its state rebuilt) if it was not held. */
    RunState take(String run, RunSpec spec) {
        RunState known = states.get(run);
        if (known != null) {
            return known;
        }
        runTopics.accept(run, spec);
        RunState s = loader.load(run, spec.earlyStopping().monitor());
        states.put(run, s);
        return s;
    }

    /** What is known of {@code run} is rebuilt when it is needed again. */
    void forget(String run) {
        states.remove(run);
        stops.forget(run);
    }

    /** The run's registration on its control topic, if one was read, fixes what its checkpoints may not change. */
    void noteRegistration(RunState state) {
        stops.registration(state.run).ifPresent(state::registered);
    }

    /**
     * STOPs written since the last look, to runs this instance holds: a run an operator
     * stops is over for the evaluator at once, as it is after a rebuild.
     */
    void noticeStops() {
        for (ControlMessage.Stop stop : stops.poll()) {
            RunState state = states.get(stop.run());
            if (state != null) {
                stopped(state, stop);
            }
        }
    }

    /**
     * Reads the run's control topic to its end now (a checkpoint was scored meanwhile).
     *
     * @return whether the run is stopped
     */
    boolean stoppedNow(RunState state) {
        stops.readToEnd(state.run, timeout).ifPresent(stop -> stopped(state, stop));
        return state.stopped;
    }

    /** Records a STOP read on the run's control topic; says so once, when it is news. */
    private void stopped(RunState state, ControlMessage.Stop stop) {
        boolean news = !state.stopped;
        events.stopped(state.run, stop.reason());
        state.stop = state.stop == null ? stop : state.stop;
        state.stopped = true;
        if (news) {
            progress.info(
                    "run {}: stopped by {}; its later checkpoints are not evaluated", state.run, state.stoppedBy());
        }
    }
}
