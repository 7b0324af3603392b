package io.streamtrain.trainer;

import io.streamtrain.core.spec.EvaluationSpec;
import io.streamtrain.trainer.sync.SyncLog;
import java.util.function.IntSupplier;

/**
 * {@code evaluation.maxLag}: how many of the run's epoch checkpoints the evaluator has not dealt
 * with yet, and whether that holds a node back. Constant within an epoch but for the
 * evaluator's progress, so a node is only ever held where an epoch begins.
 */
final class EvaluationLag {
    private final EvaluationSpec evaluation;
    private final SyncLog syncLog;
    private final IntSupplier lastEvaluated;

    /** @param lastEvaluated the highest epoch the evaluator has scored or rejected, as far as the node has read (0: none) */
    EvaluationLag(EvaluationSpec evaluation, SyncLog syncLog, IntSupplier lastEvaluated) {
        this.evaluation = evaluation;
        this.syncLog = syncLog;
        this.lastEvaluated = lastEvaluated;
    }

    /** Checkpoints not evaluated yet; 0 when the run does not hold trainers back. */
    int ahead() {
        if (!evaluation.holdsTrainers()) {
            return 0;
        }
        return Math.max(0, syncLog.lastClosed().epoch() - lastEvaluated.getAsInt());
    }

    /** Whether the node must wait before its next epoch. */
    boolean holds() {
        return ahead() > evaluation.maxLag();
    }

    /** The log line of a node that begins to wait. */
    String waiting() {
        int evaluated = lastEvaluated.getAsInt();
        return "waiting for the evaluator before epoch " + (syncLog.lastClosed().epoch() + 1) + ": " + ahead()
                + " of the run's"
                + " checkpoints are not evaluated yet ("
                + (evaluated == 0 ? "none is yet" : "the last evaluated is epoch " + evaluated)
                + "), more than evaluation.maxLag " + evaluation.maxLag()
                + "; the node goes on when the evaluator catches up";
    }

    /** The log line of a node that goes on. */
    String caughtUp() {
        return "the evaluator has evaluated epoch " + lastEvaluated.getAsInt() + ": training epoch "
                + (syncLog.lastClosed().epoch() + 1);
    }
}
