package io.streamtrain.core.logging;

import ch.qos.logback.classic.pattern.ThrowableHandlingConverter;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.IThrowableProxy;
import ch.qos.logback.classic.spi.StackTraceElementProxy;
import ch.qos.logback.core.CoreConstants;

/**
 * A logged exception's stack trace, as logback prints one, with each message's control
 * characters escaped ({@link Logs#neutralize}). An exception's message can quote what a record
 * held (a manifest's field, a spec's value, a Kafka error naming a topic): printed raw, a newline
 * in it would start a line that looks like the service's own. The text log format uses this
 * instead of logback's {@code %ex}; the JSON one writes every value as a JSON string already.
 */
public final class EscapedThrowableConverter extends ThrowableHandlingConverter {
    @Override
    public String convert(ILoggingEvent event) {
        IThrowableProxy thrown = event.getThrowableProxy();
        if (thrown == null) {
            return "";
        }
        StringBuilder out = new StringBuilder();
        append(out, "", "", thrown);
        return out.toString();
    }

    /** @param t logback's proxy of a throwable: a cause or suppressed one met again is a proxy marked cyclic */
    private static void append(StringBuilder out, String indent, String prefix, IThrowableProxy t) {
        out.append(indent).append(prefix);
        if (t.isCyclic()) {
            out.append("[CIRCULAR REFERENCE: ")
                    .append(t.getClassName())
                    .append(": ")
                    .append(Logs.neutralize(t.getMessage()))
                    .append(']')
                    .append(CoreConstants.LINE_SEPARATOR);
            return;
        }
        out.append(t.getClassName());
        if (t.getMessage() != null) {
            out.append(": ").append(Logs.neutralize(t.getMessage()));
        }
        out.append(CoreConstants.LINE_SEPARATOR);
        StackTraceElementProxy[] frames = t.getStackTraceElementProxyArray();
        int common = t.getCommonFrames();
        for (int i = 0; i < frames.length - common; i++) {
            out.append(indent).append('\t').append(frames[i].getSTEAsString()).append(CoreConstants.LINE_SEPARATOR);
        }
        if (common > 0) {
            out.append(indent)
                    .append("\t... ")
                    .append(common)
                    .append(" common frames omitted")
                    .append(CoreConstants.LINE_SEPARATOR);
        }
        for (IThrowableProxy suppressed : t.getSuppressed()) {
            append(out, indent + '\t', "Suppressed: ", suppressed);
        }
        if (t.getCause() != null) {
            append(out, indent, "Caused by: ", t.getCause());
        }
    }
}
