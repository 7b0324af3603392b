package io.streamtrain.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** Every command's --help renders as written: no picocli format warning, an example, exit 0. */
class HelpTest {
    @Test
    void everyCommandsHelpRendersWithoutFormatWarnings() {
        List<List<String>> commands = new ArrayList<>();
        collect(Streamtrain.commandLine(), new ArrayList<>(), commands);
        assertTrue(commands.size() > 20, commands.toString());
        for (List<String> path : commands) {
            List<String> args = new ArrayList<>(path);
            args.add("--help");
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            PrintStream previous = System.err;
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            java.io.StringWriter help = new java.io.StringWriter();
            int code;
            try {
                CommandLine cmd = Streamtrain.commandLine();
                cmd.setOut(new java.io.PrintWriter(help, true));
                cmd.setErr(new java.io.PrintWriter(help, true));
                code = cmd.execute(args.toArray(String[]::new));
            } finally {
                System.setErr(previous);
            }
            String all = help + err.toString(StandardCharsets.UTF_8);
            assertEquals(0, code, path + ": " + all);
            assertFalse(all.contains("picocli WARN"), path + ": " + all);
            assertTrue(all.startsWith("Usage: streamtrain"), path + ": " + all);
        }
    }

    private static void collect(CommandLine cmd, List<String> path, List<List<String>> out) {
        out.add(List.copyOf(path));
        cmd.getSubcommands().forEach((name, sub) -> {
            if (!name.equals("help")) {
                List<String> p = new ArrayList<>(path);
                p.add(name);
                collect(sub, p, out);
            }
        });
    }
}
