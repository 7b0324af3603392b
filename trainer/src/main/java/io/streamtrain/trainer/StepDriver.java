package io.streamtrain.trainer;

import ai.djl.engine.Engine;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.trainer.feed.BatchFeed;
import io.streamtrain.trainer.feed.FeedItem;
import io.streamtrain.trainer.model.ModelState;
import io.streamtrain.trainer.model.StepReport;
import io.streamtrain.trainer.model.StepRunner;
import java.util.List;
import java.util.function.Consumer;

/**
 * A node's training step: each batch is trained at the settings in force at its step (a SET
 * applies from the step it names), the time the step waited for data is measured, and the
 * step's report goes to the epoch's meter and the listeners.
 *
 * <p>Apart from {@link NodeLoop} so that the step stays short and readable, with everything
 * else (rounds, checkpoints, control) around it rather than in it.
 */
final class StepDriver {
    private final Engine engine;
    private final ModelState state;
    private final Commands commands;
    private final BatchFeed feed;
    private final ControlEffects effects;
    private final EpochMeter meter;
    private final List<TrainingListener> listeners;

    private RunSpec settings;
    private StepRunner runner;
    /** Since the last step (or round, or rollback, or pause): the time the next step waited for data. */
    private long idleSince = System.nanoTime();

    StepDriver(
            Engine engine,
            ModelState state,
            Commands commands,
            BatchFeed feed,
            ControlEffects effects,
            EpochMeter meter,
            List<TrainingListener> listeners) {
        this.engine = engine;
        this.state = state;
        this.commands = commands;
        this.feed = feed;
        this.effects = effects;
        this.meter = meter;
        this.listeners = listeners;
    }

    /** A new runner at the settings in force at the model's step: at the start, and after every rollback. */
    void restart() {
        settings = commands.settingsAt(state.step());
        runner = new StepRunner(state, engine, settings);
    }

    /** The node (re)starts training: waiting for a round, a member or a RESUME is not waiting for data. */
    void resetIdle() {
        idleSince = System.nanoTime();
    }

    /** Trains one batch, and gives its features buffer back to the feed. */
    @SuppressWarnings("ReferenceEquality") // settingsAt hands back the same spec object until a SET takes effect
    void train(FeedItem.Samples s) {
        RunSpec now = commands.settingsAt(state.step());
        if (now != settings) {
            settings = now;
            runner = runner.withSettings(settings);
        }
        long waited = System.nanoTime() - idleSince;
        meter.addDataWait(waited);
        emit(l -> l.onDataWait(waited));
        StepReport report;
        try {
            report = runner.train(s.batch());
        } catch (StepRunner.NonFiniteTrainingException e) {
            throw effects.failedBy(e);
        }
        feed.recycle(s.batch());
        idleSince = System.nanoTime();
        meter.add(report);
        emit(l -> l.onStep(s.epoch(), report));
    }

    private void emit(Consumer<TrainingListener> event) {
        listeners.forEach(event);
    }
}
