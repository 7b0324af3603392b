package io.streamtrain.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.core.checkpoint.CheckpointRejectedException;
import io.streamtrain.core.evaluation.EvaluationRecord;
import io.streamtrain.core.logging.Logs;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The line {@code ctl status} prints for an evaluation. Anyone who may write the checkpoint topic
 * names a checkpoint, and anyone who may write the evaluations topic writes a whole record: the
 * evaluator escaped the ids it quotes where it made the explanation, so the line shows them
 * escaped once; and whatever a record says, no control character reaches the terminal.
 */
class CtlStatusLineTest {
    static final String HOSTILE_ID = "r-e0001-x\nWARN forged \\ line";

    @Test
    void aRejectionsExplanationShowsTheIdsTheEvaluatorEscapedOnce() {
        // what the evaluator records for a checkpoint whose payload does not verify: the assembler's message
        String explanation = new CheckpointRejectedException(HOSTILE_ID, "SHA-256 mismatch").getMessage();
        String line = CtlCommand.Status.line(
                EvaluationRecord.rejected("r", 1, HOSTILE_ID, "checkpoint-rejected", explanation, null));

        String once = "r-e0001-x\\nWARN forged \\\\ line";
        assertEquals(once, Logs.escape(HOSTILE_ID));
        assertEquals("      1  " + once + "  rejected: checkpoint " + once + " rejected: SHA-256 mismatch", line);
    }

    /** A forged record's explanation, raw: it may not start a line, clear the screen, or fill the terminal. */
    @Test
    void aForgedExplanationReachesTheTerminalWithoutControlCharactersAndCut() {
        String forged = "x\n07:00:00.000 WARN forged\r\u001b[2J\u0085\u2028\u202e" + "y".repeat(Logs.MAX_TEXT_CHARS);
        for (EvaluationRecord e : new EvaluationRecord[] {
            EvaluationRecord.rejected("r", 1, "r-e0001", "checkpoint-rejected", forged, null),
            EvaluationRecord.snapshot("r", 1, "r-e0001", Map.of("val_loss", 0.5), null, forged, 0.1, null)
        }) {
            String line = CtlCommand.Status.line(e);
            assertTrue(
                    line.chars()
                            .noneMatch(c -> Character.isISOControl(c)
                                    || c == '\u2028'
                                    || Character.getType(c) == Character.FORMAT),
                    line);
            assertTrue(
                    line.contains("x\\n07:00:00.000 WARN forged\\r\\u001b[2J\\u0085\\u2028\\u202e"),
                    "control characters are escaped as Logs.escape writes them: " + line);
            int kept = Logs.MAX_TEXT_CHARS - "x\n07:00:00.000 WARN forged\r\u001b[2J\u0085\u2028\u202e".length();
            assertTrue(
                    line.endsWith("y".repeat(kept) + "…(" + (forged.length() - Logs.MAX_TEXT_CHARS) + " more)"),
                    "cut where it says so: " + line);
        }
    }
}
