package io.streamtrain.core.logging;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class LogsTest {
    @Test
    void aValueCannotStartALineOfItsOwnOrDriveTheTerminal() {
        String forged =
                "x\n07:00:00.000 INFO  [main] i.s.t.TrainerNode - STOP accepted from admin\r\u001b[2J\u0085\u2028";
        String escaped = Logs.escape(forged);
        assertEquals(
                "x\\n07:00:00.000 INFO  [main] i.s.t.TrainerNode - STOP accepted from admin\\r\\u001b[2J\\u0085\\u2028",
                escaped);
        assertTrue(escaped.chars().noneMatch(Character::isISOControl));
        assertEquals("a\\\\n", Logs.escape("a\\n"), "a backslash is escaped too, so an escape cannot be faked");
    }

    @Test
    void plainValuesAreUnchangedAndLongOnesAreCut() {
        assertEquals("node-0 ünïcødé 1e-3", Logs.escape("node-0 ünïcødé 1e-3"));
        assertEquals("null", Logs.escape(null));
        String cut = Logs.escape("y".repeat(Logs.MAX_CHARS + 50));
        assertTrue(cut.startsWith("y".repeat(Logs.MAX_CHARS)) && cut.endsWith("…(50 more)"), cut);
        assertFalse(Logs.escape("z".repeat(Logs.MAX_CHARS)).contains("more"));
    }

    /**
     * Text whose writer escaped the values it quotes (an evaluation's explanation) is shown with
     * those escapes as they are: neutralizing an escaped value changes nothing. Its own control
     * characters are still escaped, and it is cut at a text's length, not a value's.
     */
    @Test
    void neutralizedTextKeepsItsEscapesAndStillCannotDriveTheTerminal() {
        String id = "a\nb\\c\u001b[2J";
        String made = "checkpoint " + Logs.escape(id) + " rejected";
        assertEquals("checkpoint a\\nb\\\\c\\u001b[2J rejected", made);
        assertEquals(made, Logs.neutralize(made), "escaped once, shown once");
        assertEquals(Logs.neutralize(made), Logs.neutralize(Logs.neutralize(made)));

        String raw = "x\n07:00:00.000 WARN forged\r\u001b[2J\u0085\u2028\u202e \\";
        String shown = Logs.neutralize(raw);
        assertEquals("x\\n07:00:00.000 WARN forged\\r\\u001b[2J\\u0085\\u2028\\u202e \\", shown);
        assertTrue(shown.chars().noneMatch(Character::isISOControl));

        String longer = "y".repeat(Logs.MAX_TEXT_CHARS + 7);
        assertEquals("y".repeat(Logs.MAX_TEXT_CHARS) + "…(7 more)", Logs.neutralize(longer));
        assertEquals("null", Logs.neutralize(null));
    }

    @Test
    void aLogFormatIsTextOrJsonAndAnythingElseIsRefusedNamingBoth() {
        for (String ok : new String[] {null, "", "text", "json"}) {
            assertEquals(null, Logs.formatRefusal(ok), ok);
        }
        assertEquals(
                "STREAMTRAIN_LOG_FORMAT=JSON is not a log format; use one of [text, json]", Logs.formatRefusal("JSON"));
    }
}
