package io.streamtrain.evaluator;

import io.streamtrain.core.control.ControlMessage;
import io.streamtrain.core.evaluation.EvaluationRecord;
import io.streamtrain.core.evaluation.ValidationPlan;
import io.streamtrain.core.logging.Logs;
import io.streamtrain.core.spec.RunContract;
import io.streamtrain.evaluator.policy.Evaluation;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * What the evaluator knows of one run: the evaluations so far (the early-stopping history),
 * the validation data they were scored on, and whether the run is stopped. Rebuilt from the
 * run's evaluations and control topics by {@link RunStateLoader}.
 */
final class RunState {
    final String run;
    final List<Evaluation> history = new ArrayList<>();
    /** The validation data of every evaluation of the run: fixed by the first, null until then. */
    ValidationPlan plan;
    /**
     * What the run's checkpoints may not change, fixed by the first one the evaluator accepted
     * (after a restart, read back from the evaluations' {@code contract}; for runs evaluated
     * before records carried it, by the first checkpoint scored again, and until then the plan
     * fixes the validation topic).
     */
    RunContract contract;

    ValidationSet validation;
    boolean deadLettersWritten;
    boolean stopped;
    /** The run's first STOP on its control topic, the evaluator's or an operator's; null if none was read. */
    ControlMessage.Stop stop;
    /** The metadata of the group offset last committed on the run's checkpoint topic: kept by a commit with no evaluation. */
    String committedMetadata = "";

    RunState(String run) {
        this.run = run;
    }

    boolean evaluated(int epoch) {
        return history.stream().anyMatch(e -> e.epoch() == epoch);
    }

    /** What a committed outcome adds: an epoch to the history (and the run stopped if it said so), dead letters written. */
    void committed(EvaluationStep.Outcome outcome) {
        promoted(outcome.evaluation());
        if (outcome.counted() != null) {
            history.add(outcome.counted());
            stopped |= outcome.stop().isPresent();
        }
        String status = outcome.evaluation().status();
        if (EvaluationRecord.EVALUATED.equals(status) || EvaluationRecord.SNAPSHOT.equals(status)) {
            deadLettersWritten = true;
        }
    }

    /** A continuous run's promoted window and checkpoint (from its evaluations), and its payload once read; none yet: 0 and null. */
    int promotedEpoch;

    String promotedCheckpointId;
    io.streamtrain.core.checkpoint.Checkpoint promotedCheckpoint;
    /** The promoted checkpoint that could not be read back, if any: not tried again for every window. */
    String promotedUnreadable;

    /**
     * The decision of the run's last evaluated window ({@code promote}, {@code continue},
     * {@code degrading}): a PAUSE or ROLLBACK goes out at the first degrading window of a
     * stretch only. Read from the evaluations, not recomputed: on a sliding validation set the
     * windows' values are of different records.
     */
    String lastWindowDecision;

    /**
     * On a sliding validation set, the promoted model's value on the records each window was
     * scored on, by window: a window's margin over the promoted model stays known when later
     * windows are scored on other records.
     */
    final Map<Integer, Double> promotedScores = new HashMap<>();

    /** An evaluation promoted its window: the run's promoted model is now that one. */
    void promoted(EvaluationRecord e) {
        if (e.evaluated()) {
            lastWindowDecision = e.decision();
            Double promotedScore = EvaluationStep.promotedScore(e);
            if (promotedScore != null) {
                promotedScores.putIfAbsent(e.epoch(), promotedScore); // an epoch counts once: its first evaluation
            }
        }
        if (EvaluationRecord.PROMOTE.equals(e.decision())) {
            promotedEpoch = e.epoch();
            promotedCheckpointId = e.checkpointId();
        }
    }

    /** Who fixed the contract: the first accepted checkpoint, unless a registration did. */
    String contractSource = "the run's first accepted checkpoint";

    /**
     * The run's registration fixes its contract, unless the run's evaluations already carry one
     * (then the registration came after the run's first checkpoint, and the history stands).
     */
    @SuppressWarnings("ReferenceEquality") // the same message object, handed again with every checkpoint
    void registered(ControlMessage.Register register) {
        if (register == registration) {
            return; // taken (or warned about) at an earlier checkpoint
        }
        registration = register;
        RunContract registered = RunContract.of(register.runSpec());
        if (contract == null) {
            contract = registered;
            contractSource =
                    "the spec registered for the run (REGISTER " + register.id() + " by " + register.source() + ")";
        } else if (contract.changedBy(registered) != null) {
            org.slf4j.LoggerFactory.getLogger(RunState.class)
                    .warn(
                            "run {}: REGISTER {} came after the run's first accepted checkpoint"
                                    + " and changes its contract ({}); the run keeps the contract its checkpoints had",
                            run,
                            Logs.escape(register.id()),
                            Logs.escape(contract.changedBy(registered)));
        }
    }

    /** The run's registration this state has taken into account, if any. */
    private ControlMessage.Register registration;

    /** @return what {@code spec} would change of the run's contract, or null when it keeps it */
    String brokenBy(io.streamtrain.core.spec.RunSpec spec) {
        if (contract != null) {
            return contract.changedBy(RunContract.of(spec));
        }
        if (plan != null && !plan.topic().equals(spec.data().validation())) {
            return "data.validation " + plan.topic() + " (the run's evaluations were scored on it) → "
                    + spec.data().validation();
        }
        return null;
    }

    /** A checkpoint with this spec was scored and committed: if it is the first, its spec is the run's contract. */
    void accepted(io.streamtrain.core.spec.RunSpec spec) {
        if (contract == null) {
            contract = RunContract.of(spec);
        }
    }

    /** The contract an evaluation of a checkpoint with {@code spec} records: the run's, or this spec's if it is the first accepted. */
    com.fasterxml.jackson.databind.JsonNode contractFor(io.streamtrain.core.spec.RunSpec spec) {
        return (contract != null ? contract : RunContract.of(spec)).fixed();
    }

    /**
     * The contract an evaluation record names, on a rebuild: the first one read fixes the run's.
     *
     * @throws IllegalArgumentException when it is not a contract
     */
    void restoreContract(com.fasterxml.jackson.databind.JsonNode fixed) {
        if (contract == null && fixed != null) {
            contract = RunContract.parse(fixed);
        }
    }

    /** Who stopped the run, for the log: the STOP's words escaped, since anyone who may write the control topic writes them. */
    String stoppedBy() {
        return stop == null
                ? "the evaluator"
                : Logs.escape(stop.source()) + " (" + Logs.escape(stop.reason())
                        + (stop.explanation() == null ? "" : ": " + Logs.escape(stop.explanation())) + ")";
    }
}
