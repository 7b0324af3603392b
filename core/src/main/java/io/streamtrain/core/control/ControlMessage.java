package io.streamtrain.core.control;

import io.streamtrain.core.evaluation.BestCheckpoint;

/**
 * A message on {@code streamtrain.<run>.control}: a small JSON document with a
 * {@code type}, the run, a unique id and a timestamp (ISO-8601). Commands come from the
 * evaluator and from operators ({@code streamtrain ctl}); trainers answer each with an
 * {@link Ack}.
 */
public sealed interface ControlMessage {
    String run();

    String id();

    String time();

    /**
     * Stop training: every trainer of the run stops at its next step boundary, acknowledges,
     * leaves the group and exits 0. A run with a STOP on its control topic is never restarted.
     *
     * @param reason a stable code, e.g. {@code patience-exhausted} or {@code operator}
     * @param explanation one human sentence
     * @param best the run's best checkpoint: its result; null if none was evaluated
     * @param source who decided ({@code evaluator}, or the operator's name)
     */
    record Stop(
            String run, String id, String time, String reason, String explanation, BestCheckpoint best, String source)
            implements ControlMessage {}

    /** Stop consuming and training at the next step boundary, until {@link Resume}. */
    record Pause(String run, String id, String time, String source) implements ControlMessage {}

    /** Take up training after a {@link Pause}. */
    record Resume(String run, String id, String time, String source) implements ControlMessage {}

    /**
     * Change training settings from the next step on; the next checkpoint's manifest records
     * them. Keys: {@code learningRate}, {@code weightDecay}, {@code l1}, {@code l2},
     * {@code l2sp} (see {@code Settings} in the trainer for what each sets).
     */
    record Set(String run, String id, String time, java.util.Map<String, Double> values, String source)
            implements ControlMessage {}

    /**
     * Take a SET back from the next step on: the settings are again what they would be without
     * it (other SETs stay). The SET keeps its effect on the steps before.
     *
     * @param command the id of the SET revoked
     */
    record Revoke(String run, String id, String time, String command, String source) implements ControlMessage {}

    /**
     * Return the trainers to a checkpoint's weights (a continuous run's promoted model, when
     * its windows degrade: {@code evaluation.onDegrade: rollback}). The owner of train
     * partition 0 hands the checkpoint's state in as its share of its next round, and that
     * round's state becomes it on every node (the round's records still count as trained); it
     * acknowledges the command once that round closed.
     *
     * @param checkpointId the checkpoint of this run to return to
     * @param reason why, in a few words (e.g. {@code degrading: patience-exhausted})
     */
    record Rollback(String run, String id, String time, String checkpointId, String reason, String source)
            implements ControlMessage {}

    /**
     * Fix the run's contract before its first checkpoint: its validation data, model and
     * stopping policy are those of {@code spec} ({@link io.streamtrain.core.spec.RunContract}).
     * The run's first registration counts; the evaluator rejects checkpoints whose spec changes
     * it, and a trainer started with such a spec exits 2. Without one, the run's first accepted
     * checkpoint fixes the contract.
     *
     * @param spec the run spec, as the spec's JSON ({@code RunSpecParser.toJson})
     */
    record Register(String run, String id, String time, com.fasterxml.jackson.databind.JsonNode spec, String source)
            implements ControlMessage {
        /**
         * The registered spec, checked as a spec file is.
         *
         * @throws io.streamtrain.core.spec.SpecException when it is not a valid spec, or is another run's
         */
        public io.streamtrain.core.spec.RunSpec runSpec() {
            io.streamtrain.core.spec.RunSpec parsed = io.streamtrain.core.spec.RunSpecParser.parse(spec);
            if (!parsed.run().equals(run)) {
                throw new io.streamtrain.core.spec.SpecException(
                        "run", "the registered spec is run " + parsed.run() + "'s, not " + run + "'s");
            }
            return parsed;
        }

        /** Why this is no valid registration of its run (its spec does not parse, or is another run's); null when it is one. */
        public String invalidity() {
            try {
                runSpec();
                return null;
            } catch (io.streamtrain.core.spec.SpecException | IllegalArgumentException e) {
                return e.getMessage();
            }
        }
    }

    /**
     * Publish a checkpoint now, mid-epoch: a snapshot of the current weights (the manifest's
     * {@code kind} is {@code snapshot}) that the evaluator scores, but
     * that a run never resumes from.
     */
    record Checkpoint(String run, String id, String time, String source) implements ControlMessage {}

    /**
     * A trainer applied (or refused) a command.
     *
     * @param command the id of the command acknowledged
     * @param node the trainer's node id
     * @param step the trainer's step when it applied the command
     * @param outcome {@code applied}, or why not
     * @param signer the id of the key that signed the command, as the trainer verified it;
     *     null when the trainer checks no signatures
     */
    record Ack(
            String run, String id, String time, String command, String node, long step, String outcome, String signer)
            implements ControlMessage {
        /** The outcome of a command carried out; anything else says why it was not. */
        public static final String APPLIED = "applied";
        /**
         * The outcome of a SET that took effect and made training fail (its steps were not
         * finite): it is revoked from the step it took effect, and a node that reads the
         * control topic again does not replay it.
         */
        public static final String FAILED = "failed";

        /** An acknowledgement that names no signer. */
        public Ack(String run, String id, String time, String command, String node, long step, String outcome) {
            this(run, id, time, command, node, step, outcome, null);
        }

        public boolean applied() {
            return APPLIED.equals(outcome);
        }

        /** Whether the command was carried out and then failed (see {@link #FAILED}). */
        public boolean failed() {
            return outcome != null && (outcome.equals(FAILED) || outcome.startsWith(FAILED + ":"));
        }
    }
}
