package io.streamtrain.trainer;

import io.streamtrain.core.checkpoint.CheckpointManifest;
import io.streamtrain.core.kafka.StartupException;
import io.streamtrain.core.protocol.RoundSums;
import io.streamtrain.core.spec.DataSpec;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.trainer.feed.FeedItem;
import io.streamtrain.trainer.sync.RoundState;
import io.streamtrain.trainer.sync.SyncLog;

/** The node's decisions about the run as a whole: pure, so they are tested without a broker. */
final class RunChecks {
    private RunChecks() {}

    /**
     * A run's checkpoints are of one model trained on one topic: a spec that changes either
     * needs a new run id.
     *
     * @return whether anything else in the spec differs (the node continues with the new one)
     */
    static boolean requireSameModel(RunSpec spec, CheckpointManifest m) {
        RunSpec previous = m.runSpec();
        if (!previous.data().train().equals(spec.data().train())) {
            throw new StartupException(
                    StartupException.BAD_CONFIGURATION,
                    "run " + spec.run() + " was trained on topic "
                            + previous.data().train() + ", this spec names "
                            + spec.data().train()
                            + " (data.train). A run's epochs are passes over one topic: use a new run id for other data");
        }
        if (previous.data().continuous()
                && spec.data().continuous()
                && (previous.data().windowRecords() != spec.data().windowRecords()
                        || previous.data().window().millis()
                                != spec.data().window().millis())) {
            throw new StartupException(
                    StartupException.BAD_CONFIGURATION,
                    "run " + spec.run() + " cuts its windows at " + cutText(previous) + ", this spec says "
                            + cutText(spec) + " (data.window.records, data.window.minutes)."
                            + " Every node derives where each window ends from it, so it cannot change within a run: use a new run id (init.from: run:"
                            + spec.run() + "@promoted starts it from this run's promoted model)");
        }
        if (previous.data().continuous()
                && spec.data().continuous()
                && (previous.data().window().replayShare()
                                != spec.data().window().replayShare()
                        || previous.data().window().horizon()
                                != spec.data().window().horizon())) {
            throw new StartupException(
                    StartupException.BAD_CONFIGURATION,
                    "run " + spec.run() + " replays " + replayText(previous) + ", this spec says "
                            + replayText(spec) + " (data.window.replay, data.window.replayHorizon)."
                            + " Where a window's reading stands counts its replayed records, so they cannot change"
                            + " within a run: use a new run id (init.from: run:" + spec.run()
                            + "@promoted starts it from this run's promoted model)");
        }
        if (spec.data().continuous()
                && spec.data().window().replayShare() > 0
                && previous.init().seed() != spec.init().seed()) {
            throw new StartupException(
                    StartupException.BAD_CONFIGURATION,
                    "run " + spec.run() + " draws its windows' replays with init.seed "
                            + previous.init().seed()
                            + ", this spec says " + spec.init().seed()
                            + ". A window's replay must be the same on every node and after every resume, so the seed"
                            + " cannot change within a run that replays: use the run's seed, or a new run id");
        }
        if (previous.data().continuous() != spec.data().continuous()) {
            throw new StartupException(
                    StartupException.BAD_CONFIGURATION,
                    "run " + spec.run() + " was trained with data.mode "
                            + previous.data().mode() + ", this spec says "
                            + spec.data().mode() + ". A run's epochs are either passes over a"
                            + " bounded topic or windows of a live one: use a new run id (init.from: run:" + spec.run()
                            + " starts it from"
                            + " this run's weights)");
        }
        if (!previous.model().equals(spec.model())) {
            throw new StartupException(
                    StartupException.BAD_CONFIGURATION,
                    "run " + spec.run()
                            + " already has checkpoints of a different model (" + previous.model() + "; this spec has "
                            + spec.model()
                            + "). Use a new run id, or the old model spec");
        }
        return !previous.equals(spec);
    }

    /**
     * Why a checkpoint cannot be one of a registered run's: its spec does not parse, or it
     * changes the registered contract, the train topic or the model; null when it keeps them.
     */
    static String breaksRegistration(RunSpec registered, CheckpointManifest m) {
        RunSpec spec;
        try {
            spec = m.runSpec();
        } catch (RuntimeException e) {
            return "its spec does not parse (" + e.getMessage() + ")";
        }
        String changed = io.streamtrain.core.spec.RunContract.of(registered)
                .changedBy(io.streamtrain.core.spec.RunContract.of(spec));
        if (changed != null) {
            return "its spec changes the run's registered contract: " + changed;
        }
        if (!registered.data().train().equals(spec.data().train())) {
            return "its spec names train topic " + spec.data().train() + ", the registered spec "
                    + registered.data().train();
        }
        return null;
    }

    /**
     * Without a registration, what a run's checkpoints may not change is fixed by the first one
     * read (in topic order) whose spec parses, as the evaluator's contract is by the first it
     * accepts: the returned refusal, given the checkpoints of one read of the topic in order,
     * answers why a later one is not the run's (its spec does not parse, or {@link
     * #requireSameModel} would refuse it against the first: another model, train topic, data
     * mode, windows, replay or replay seed), or null. Without signatures anyone who may write
     * the topic can copy a genuine payload under a manifest of a later epoch naming another
     * model or topic; taken as the latest, every start of the run would exit 2 on it for good.
     * A run whose first checkpoint is forged is not protected: that needs a registration.
     */
    static java.util.function.Function<CheckpointManifest, String> keepsTheFirst() {
        CheckpointManifest[] first = {null};
        return m -> {
            RunSpec spec;
            try {
                spec = m.runSpec();
            } catch (RuntimeException e) {
                return "its spec does not parse (" + e.getMessage() + ")";
            }
            if (first[0] == null) {
                first[0] = m;
                return null;
            }
            try {
                requireSameModel(spec, first[0]);
                return null;
            } catch (StartupException e) {
                // short: a log line shows 200 characters of it, and the specs' model descriptions are long
                RunSpec fixed = first[0].runSpec();
                String other = !fixed.data().train().equals(spec.data().train())
                        ? "train topic (" + spec.data().train() + ")"
                        : !fixed.model().equals(spec.model()) ? "model" : "data mode, windows or replay";
                return "its spec names another " + other + " than the run's first checkpoint " + first[0].checkpointId()
                        + ", which fixes them";
            }
        };
    }

    /** A first epoch in which every record was rejected means the spec does not fit the data. */
    static void requireSomethingTrained(RunSpec spec, RoundState closed, String dlqTopic) {
        RoundSums s = closed.epochSums();
        if (closed.epoch() == 1 && s.samples() == 0 && s.rejected() > 0) {
            throw new StartupException(
                    StartupException.BAD_CONFIGURATION,
                    "every one of the " + s.rejected()
                            + " records of epoch 1 was rejected (the reasons are in " + dlqTopic
                            + "). Does the spec's model ("
                            + spec.model().type() + ", inputs " + spec.model().inputs() + ", classes "
                            + spec.model().classes()
                            + ") match the data?");
        }
    }

    /**
     * A record is dead-lettered once: when it is first read (a bounded run's first epoch, any
     * window of a continuous run, but not its replay of earlier windows), unless some node's
     * round already covered it.
     */
    static boolean deadLetterDue(FeedItem.Rejected r, SyncLog syncLog, RunSpec spec) {
        return (r.epoch() == 1 || (spec.data().continuous() && !r.replayed()))
                && r.record().offset() >= syncLog.deadLettersThrough(r.record().partition());
    }

    /** The run is done when a closed round ends its last epoch. */
    static boolean finished(RunSpec spec, RoundState at) {
        return at.epochEnd() && at.epoch() >= spec.maxEpochs();
    }

    private static String cutText(RunSpec spec) {
        DataSpec.Window w = spec.data().window();
        return w.minutes() != null ? w.minutes() + " minutes of record timestamps" : w.records() + " records";
    }

    private static String replayText(RunSpec spec) {
        DataSpec.Window w = spec.data().window();
        return w.replayShare() == 0
                ? "no earlier records"
                : "a share " + w.replayShare() + " of each window from its last " + w.horizon() + " windows";
    }
}
