package io.streamtrain.lab.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class LiveViewTest {
    private static final LiveView.NodeStatus TRAINING =
            new LiveView.NodeStatus(3, 40, 0.5, 120, 812.4, 0.41234, "training");

    @Test
    void withoutATerminalItPrintsPlainLinesWithoutEscapes() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        LiveView view = new LiveView(new PrintStream(bytes, true, StandardCharsets.UTF_8), false, 3600);
        view.node("node-0", TRAINING);
        view.node("node-0", TRAINING); // within the interval: not repeated
        view.line("epoch 3 evaluated");
        view.node("node-0", new LiveView.NodeStatus(4, 40, 0, 160, 800, 0.4, "stopped"));
        String out = bytes.toString(StandardCharsets.UTF_8);
        assertFalse(out.contains("\u001b"), "no escape sequences in a log: " + out);
        String[] lines = out.split("\n");
        assertEquals(3, lines.length, out);
        assertEquals(
                "  node-0         epoch   3/40  [##########..........] step    120     812 samples/s  loss 0.4123  training",
                lines[0]);
        assertEquals("epoch 3 evaluated", lines[1]);
        assertTrue(lines[2].endsWith("stopped"), lines[2]);
    }

    @Test
    void onATerminalTheNodeLinesStayAtTheBottom() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        LiveView view = new LiveView(new PrintStream(bytes, true, StandardCharsets.UTF_8), true, 10);
        view.node("a", TRAINING);
        view.node("b", TRAINING);
        bytes.reset();
        view.line("event");
        String out = bytes.toString(StandardCharsets.UTF_8);
        // up over the two node lines, clear them, print the event, draw the two node lines again
        assertTrue(out.startsWith("\u001b[2A\u001b[2K\r\n\u001b[2K\r\n\u001b[2Aevent\n\u001b[2K\r  a "), out);
        assertTrue(out.endsWith("training\n"), out);
        assertEquals(2, out.split("\u001b\\[2K\r  ", -1).length - 1, "both node lines redrawn once");
    }
}
