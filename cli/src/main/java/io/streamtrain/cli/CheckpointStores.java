package io.streamtrain.cli;

import io.streamtrain.core.checkpoint.PayloadSources;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import picocli.CommandLine.Option;

/**
 * The claim-check stores a command that reads checkpoints may read payloads from: those in
 * {@value PayloadSources#ENV} and those given with {@code --checkpoint-store}. A manifest's
 * payload URI is untrusted, so nothing outside them is read.
 */
public final class CheckpointStores {
    @Option(
            names = "--checkpoint-store",
            paramLabel = "URI",
            description = "A file:///dir claim-check store to read checkpoint payloads from (repeatable; also $"
                    + PayloadSources.ENV + "): needed for runs whose checkpoints.store is a directory.")
    List<String> stores = new ArrayList<>();

    /**
     * @param err where a bad store is explained, {@code prefix} first
     * @return the stores, or empty when one is not a {@code file:///} directory (the command then exits 2)
     */
    public Optional<PayloadSources> sources(PrintWriter err, String prefix) {
        try {
            PayloadSources s = PayloadSources.fromEnvironment();
            for (String store : stores) {
                try {
                    s = s.with(store);
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException("--checkpoint-store: " + e.getMessage(), e);
                }
            }
            return Optional.of(s);
        } catch (IllegalArgumentException e) {
            err.println(prefix + e.getMessage());
            return Optional.empty();
        }
    }
}
