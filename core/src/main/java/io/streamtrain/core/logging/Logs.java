package io.streamtrain.core.logging;

/**
 * Values read from a topic, on their way into a log line or a terminal. Anyone who may write
 * a topic writes them: a newline in a command id would forge a whole log line ("… STOP
 * accepted from admin"), an escape sequence would rewrite an operator's terminal. So every
 * control character is written as an escape, and a value is cut at a length a person reads.
 */
public final class Logs {
    /** The most characters of one value that reach a line. */
    public static final int MAX_CHARS = 200;
    /**
     * The most characters of a text made of several values that reach a line ({@link #neutralize}):
     * room for the longest the services make, each value in it cut at {@link #MAX_CHARS}.
     */
    public static final int MAX_TEXT_CHARS = 1000;

    /** Chooses the services' log format (deploy/image/logback.xml, the cli's logback.xml): text or json. */
    public static final String FORMAT_ENV = "STREAMTRAIN_LOG_FORMAT";
    /** The formats the log configurations have an appender for. */
    public static final java.util.List<String> FORMATS = java.util.List.of("text", "json");

    private Logs() {}

    /**
     * Why {@code value} of {@link #FORMAT_ENV} is refused, or null when it names a format (or is
     * unset): logback, asked for an appender it has not, would silently log nothing.
     */
    public static String formatRefusal(String value) {
        if (value == null || value.isEmpty() || FORMATS.contains(value)) {
            return null;
        }
        return FORMAT_ENV + "=" + escape(value) + " is not a log format; use one of " + FORMATS;
    }

    /**
     * What every command does first: says on {@code err} why {@code value} of {@link #FORMAT_ENV}
     * is refused, if it is. @return whether it was (the command then exits 2)
     */
    public static boolean refusedFormat(String value, java.io.PrintStream err) {
        String refusal = formatRefusal(value);
        if (refusal != null) {
            err.println("streamtrain: " + refusal);
        }
        return refusal != null;
    }

    /** {@code value} with control characters escaped ({@code \n}, {@code \u001b}, ...) and cut after {@link #MAX_CHARS}. */
    public static String escape(Object value) {
        return escape(value, MAX_CHARS, true);
    }

    /**
     * Text read from a topic whose writer escaped ({@link #escape}) the values it quotes where it
     * made the text (an evaluation's explanation names checkpoint ids and REGISTER sources so), on
     * its way to a line: its control characters escaped as {@link #escape} writes them, its
     * backslashes left as they are, cut after {@link #MAX_TEXT_CHARS}. So a value escaped once where
     * the text was made is shown escaped once, not with its backslashes doubled; and whatever the
     * record holds (anyone who may write the topic writes it), no control character reaches the
     * line. What this gives up is telling a writer's escape from a backslash the text had: a
     * hostile text can show {@code \n}, but it cannot start a line.
     */
    public static String neutralize(Object value) {
        return escape(value, MAX_TEXT_CHARS, false);
    }

    private static String escape(Object value, int max, boolean backslashes) {
        if (value == null) {
            return "null";
        }
        String s = value.toString();
        StringBuilder out = new StringBuilder(Math.min(s.length(), max) + 8);
        int shown = Math.min(s.length(), max);
        for (int i = 0; i < shown; i++) {
            char c = s.charAt(i);
            switch (c) {
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                case '\\' -> out.append(backslashes ? "\\\\" : "\\");
                default -> {
                    if (Character.isISOControl(c)
                            || c == '\u2028'
                            || c == '\u2029'
                            || Character.getType(c) == Character.FORMAT) {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        if (s.length() > shown) {
            out.append("…(").append(s.length() - shown).append(" more)");
        }
        return out.toString();
    }
}
