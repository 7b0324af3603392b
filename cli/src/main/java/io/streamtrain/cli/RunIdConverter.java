package io.streamtrain.cli;

import io.streamtrain.core.logging.Logs;
import io.streamtrain.core.topics.Topics;
import picocli.CommandLine;

/**
 * A {@code --run} value, checked as a spec's run id is: Kafka allows dots in topic names, so
 * {@code streamtrain.a..b.checkpoints} may exist, but no trainer writes it, and a command given
 * {@code a..b} must not read or write the topics such a name reaches (a prefix ACL of run
 * {@code a} covers {@code a.b}'s), nor a path {@code ../x} climbs to. Refused while the command
 * line is parsed: exit 2, naming what is allowed.
 */
public final class RunIdConverter implements CommandLine.ITypeConverter<String> {
    @Override
    public String convert(String value) {
        if (!Topics.isRunId(value)) {
            throw new CommandLine.TypeConversionException(
                    "'" + Logs.escape(value) + "' is not a run id; allowed: " + Topics.RUN_ID_RULE);
        }
        return value;
    }
}
