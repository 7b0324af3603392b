package io.streamtrain.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.joran.JoranConfigurator;
import io.streamtrain.testkit.Repo;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The services' text logs (the cli's logback.xml, and the image's in deploy/image): a logged
 * exception's message cannot start a line of its own.
 */
class LogConfigurationTest {
    private static final String FORGED = "\n12:00:00.000 INFO  [main] i.s.t.TrainerNode - forged line";

    static List<URL> configurations() throws Exception {
        return List.of(
                LogConfigurationTest.class.getResource("/logback.xml"),
                Repo.path("deploy", "image", "logback.xml").toUri().toURL());
    }

    @ParameterizedTest
    @MethodSource("configurations")
    void anExceptionsMessagesAreEscapedAndItsStackTraceIsWhole(URL configuration) throws Exception {
        IllegalStateException thrown =
                new IllegalStateException("outer" + FORGED, new RuntimeException("inner" + FORGED));
        thrown.addSuppressed(new IllegalArgumentException("suppressed" + FORGED));
        List<String> lines = logged(configuration, thrown).lines().toList();

        assertTrue(lines.stream().noneMatch(l -> l.startsWith("12:00:00.000")), String.join("\n", lines));
        assertTrue(lines.get(0).endsWith(" ERROR [main] test - it failed"), lines.get(0));
        assertEquals(
                "java.lang.IllegalStateException: outer\\n12:00:00.000 INFO  [main] i.s.t.TrainerNode - forged line",
                lines.get(1));
        assertTrue(lines.get(2).startsWith("\tat io.streamtrain.cli.LogConfigurationTest."), lines.get(2));
        assertTrue(
                lines.contains(
                        "\tSuppressed: java.lang.IllegalArgumentException: suppressed\\n12:00:00.000 INFO  [main]"
                                + " i.s.t.TrainerNode - forged line"),
                String.join("\n", lines));
        assertTrue(
                lines.contains("Caused by: java.lang.RuntimeException: inner\\n12:00:00.000 INFO  [main]"
                        + " i.s.t.TrainerNode - forged line"),
                String.join("\n", lines));
        assertTrue(
                lines.stream().anyMatch(l -> l.matches("\t\\.\\.\\. \\d+ common frames omitted")),
                String.join("\n", lines));
    }

    @ParameterizedTest
    @MethodSource("configurations")
    void anExceptionMetTwiceIsNamedOnceMoreEscaped(URL configuration) throws Exception {
        RuntimeException inner = new RuntimeException("inner" + FORGED);
        IllegalStateException thrown = new IllegalStateException("outer", inner);
        thrown.addSuppressed(inner);
        List<String> lines = logged(configuration, thrown).lines().toList();

        assertTrue(lines.stream().noneMatch(l -> l.startsWith("12:00:00.000")), String.join("\n", lines));
        assertTrue(
                lines.contains(
                        "\tSuppressed: [CIRCULAR REFERENCE: java.lang.RuntimeException: inner\\n12:00:00.000 INFO "
                                + " [main] i.s.t.TrainerNode - forged line]"),
                String.join("\n", lines));
    }

    @ParameterizedTest
    @MethodSource("configurations")
    void aLineWithoutAnExceptionIsJustTheLine(URL configuration) throws Exception {
        List<String> lines = logged(configuration, null).lines().toList();
        assertEquals(1, lines.size(), lines.toString());
    }

    /** What the services' logging configuration prints for one ERROR with this exception. */
    private static String logged(URL configuration, Throwable thrown) throws Exception {
        LoggerContext context = new LoggerContext();
        context.setMDCAdapter(new ch.qos.logback.classic.util.LogbackMDCAdapter());
        PrintStream err = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        System.setErr(new PrintStream(out, true, StandardCharsets.UTF_8));
        try {
            JoranConfigurator configurator = new JoranConfigurator();
            configurator.setContext(context);
            configurator.doConfigure(configuration);
            // a warning of its own makes logback print its whole configuration status at every start
            assertEquals(
                    List.of(),
                    context.getStatusManager().getCopyOfStatusList().stream()
                            .filter(s -> s.getLevel() >= ch.qos.logback.core.status.Status.WARN)
                            .toList());
            String name = Thread.currentThread().getName();
            Thread.currentThread().setName("main");
            try {
                context.getLogger("test").error("it failed", thrown);
            } finally {
                Thread.currentThread().setName(name);
            }
        } finally {
            context.stop();
            System.setErr(err);
        }
        return out.toString(StandardCharsets.UTF_8);
    }
}
