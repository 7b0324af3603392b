package io.streamtrain.cli;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import org.slf4j.LoggerFactory;

/** Log levels set by a command at run time (the cli ships logback; the services do not depend on it). */
public final class Logs {
    private Logs() {}

    /** For commands that print their own lines: streamtrain's logs show warnings, Kafka's (the embedded broker's too) errors. */
    public static void quiet() {
        setLevel("io.streamtrain", "WARN");
        setLevel("streamtrain", "WARN");
        setLevel("org.apache.kafka", "ERROR");
        setLevel("kafka", "ERROR");
    }

    private static void setLevel(String logger, String level) {
        if (LoggerFactory.getLogger(logger) instanceof Logger l) {
            l.setLevel(Level.toLevel(level));
        }
    }
}
