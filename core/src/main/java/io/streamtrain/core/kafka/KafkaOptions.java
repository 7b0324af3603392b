package io.streamtrain.core.kafka;

import picocli.CommandLine.Option;

/**
 * Where Kafka is, as every command that talks to it takes it (a picocli mixin); the rest of
 * the connection comes from the environment ({@link KafkaSettings#fromEnvironment}).
 */
public final class KafkaOptions {
    @Option(
            names = "--bootstrap-servers",
            paramLabel = "HOST:PORT",
            description = "Kafka bootstrap servers (default: $" + KafkaSettings.BOOTSTRAP_ENV + ", else "
                    + KafkaSettings.DEFAULT_BOOTSTRAP + ").")
    String bootstrapServers;

    /** The settings of this process's Kafka clients: its environment, with --bootstrap-servers over it. */
    public KafkaSettings settings() {
        return KafkaSettings.fromEnvironment(System.getenv(), bootstrapServers);
    }
}
