package io.streamtrain.core.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.core.evaluation.BestCheckpoint;
import io.streamtrain.core.evaluation.EvaluationRecord;
import io.streamtrain.core.kafka.StartupException;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** Choosing a checkpoint of a run (to export, or to start another run from), and what the refusals say, without a broker. */
class CheckpointChoiceTest {
    static CheckpointManifest manifest(String id, int epoch, String kind) {
        return new CheckpointManifest(
                1,
                "checkpoint",
                "r",
                id,
                epoch,
                0,
                0,
                null,
                List.of(),
                null,
                List.of(),
                Map.of(),
                "n",
                "t",
                kind,
                null,
                null,
                null);
    }

    static EvaluationRecord evaluation(int epoch, BestCheckpoint best) {
        return new EvaluationRecord(
                "evaluation",
                "r",
                "id",
                "t",
                best == null ? "rejected" : "evaluated",
                epoch,
                "r-e" + epoch,
                Map.of(),
                null,
                best,
                0,
                3,
                "continue",
                null,
                "",
                0,
                null);
    }

    static final List<CheckpointManifest> RUN = List.of(
            manifest("r-e1", 1, "epoch"),
            manifest("r-e2", 2, "epoch"),
            manifest("r-e2-s9", 2, "snapshot"),
            manifest("r-e3", 3, "epoch"),
            manifest("r-e5", 5, "epoch"));

    @Test
    void bestIsTheLatestEvaluationsBestElseTheStopsAndNeverAGuess() {
        BestCheckpoint e1 = new BestCheckpoint(1, "r-e1", "val_loss", 0.5);
        BestCheckpoint e3 = new BestCheckpoint(3, "r-e3", "val_loss", 0.4);
        CheckpointChoice.Chosen chosen = CheckpointChoice.best(
                "r",
                RUN,
                List.of(evaluation(1, e1), evaluation(3, e3), evaluation(5, null)),
                Optional.of(e1),
                "--epoch E");
        assertEquals(
                "r-e3", chosen.manifest().checkpointId(), "the latest evaluation that names a best wins over the STOP");
        assertTrue(chosen.why().contains("val_loss 0.4") && chosen.why().contains("latest evaluation"), chosen.why());

        assertEquals(
                "r-e1",
                CheckpointChoice.best("r", RUN, List.of(), Optional.of(e1), "--epoch E")
                        .manifest()
                        .checkpointId());

        StartupException none = assertThrows(
                StartupException.class,
                () -> CheckpointChoice.best("r", RUN, List.of(), Optional.empty(), "--epoch E"));
        assertEquals(StartupException.BAD_CONFIGURATION, none.exitCode());
        assertTrue(
                none.getMessage().contains("no evaluations yet")
                        && none.getMessage().contains("--epoch E")
                        && none.getMessage().contains("epochs 1-3, 5 (and 1 snapshot)"),
                none.getMessage());

        BestCheckpoint gone = new BestCheckpoint(9, "r-e9", "val_loss", 0.1);
        StartupException missing = assertThrows(
                StartupException.class,
                () -> CheckpointChoice.best("r", RUN, List.of(evaluation(9, gone)), Optional.empty(), "--epoch E"));
        assertTrue(
                missing.getMessage().contains("r-e9")
                        && missing.getMessage().contains("is not on streamtrain.r.checkpoints"),
                missing.getMessage());
    }

    @Test
    void anEpochIsItsEpochCheckpointNeverASnapshot() {
        assertEquals("r-e2", CheckpointChoice.epoch("r", RUN, 2).manifest().checkpointId());
        StartupException e = assertThrows(StartupException.class, () -> CheckpointChoice.epoch("r", RUN, 4));
        assertEquals(
                "run r has no checkpoint of epoch 4; its checkpoints are of epochs 1-3, 5 (and 1 snapshot)",
                e.getMessage());
        assertEquals(
                "r-e2-s9", CheckpointChoice.id("r", RUN, "r-e2-s9").manifest().checkpointId());
        assertTrue(assertThrows(StartupException.class, () -> CheckpointChoice.id("r", RUN, "r-e7"))
                .getMessage()
                .contains("ctl status"));
        assertTrue(CheckpointChoice.epochsHint(List.of()).contains("no epoch checkpoint yet"));
    }

    @Test
    void latestIsTheHighestEpochsLastCheckpointNeverASnapshot() {
        assertEquals("r-e5", CheckpointChoice.latest("r", RUN).manifest().checkpointId());
        List<CheckpointManifest> snapshotsOnly = List.of(manifest("r-e1-s4", 1, "snapshot"));
        StartupException e = assertThrows(StartupException.class, () -> CheckpointChoice.latest("r", snapshotsOnly));
        assertEquals(StartupException.BAD_CONFIGURATION, e.exitCode());
        assertEquals(
                "run r has no epoch checkpoint yet (and 1 snapshot): its trainers publish one at the end of every epoch",
                e.getMessage());
    }
}
