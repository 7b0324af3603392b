package io.streamtrain.core.protocol;

import com.fasterxml.jackson.annotation.JsonInclude;
import io.streamtrain.core.checkpoint.CheckpointManifest.OffsetRange;
import java.util.List;

/**
 * The records of a run's sync topic ({@code streamtrain.<run>.sync}, one partition, so every
 * node reads them in the same order). JSON values, with the type in the
 * {@code streamtrain.type} header; a contribution's payload travels in chunk records before it.
 */
public sealed interface SyncMessage {
    /** Unique per record: how a node finds its own record in the log. */
    String id();

    /** The consumer-group generation the sender was in when it wrote this. */
    int generation();

    String node();

    /**
     * A node has been assigned partitions in a new generation and is about to roll back to
     * the last closed round. The first record of a generation ends the previous one: its
     * unfinished round is abandoned.
     *
     * @param partitions the train-topic partitions assigned to the node
     * @param plan the epoch plan as this node would start it (offsets of every partition);
     *     the first join of a run without checkpoints decides the run's plan
     */
    record Join(String id, int generation, String node, List<Integer> partitions, List<OffsetRange> plan)
            implements SyncMessage {}

    /**
     * A node's share of a round: what it trained since the last round closed.
     *
     * @param round the round this closes (the last closed round + 1)
     * @param epoch the epoch being trained (1-based)
     * @param steps local steps trained in this round
     * @param ranges the offsets trained in this round, one range per assigned partition
     *     ({@code from == to} for a partition with nothing left in the epoch)
     * @param sums the round's training sums (the epoch's metrics add these up)
     * @param payload the node's state after its steps (parameters and optimizer state), or
     *     null when it trained no samples in the round (it then weighs nothing)
     * @param ended in a window of time ({@code data.window.minutes}), the partitions of {@code
     *     ranges} whose share of the window ends at their range's {@code to}: the node met their
     *     first record of the next window. Empty (left out of the JSON) in any other run, whose
     *     windows' ends follow from the plan
     */
    record Contribution(
            String id,
            int generation,
            String node,
            long round,
            int epoch,
            long steps,
            List<OffsetRange> ranges,
            RoundSums sums,
            PayloadRef payload,
            @JsonInclude(JsonInclude.Include.NON_EMPTY) List<Integer> ended)
            implements SyncMessage {
        public Contribution {
            ended = ended == null ? List.of() : List.copyOf(ended);
        }
    }

    /**
     * @param crc32c CRC32C of the safetensors payload, as hex: a check that the chunks were
     *     joined into the payload that was written. Not SHA-256 like a checkpoint's: a
     *     contribution is read by the nodes of its run, within moments or when one resumes
     *     from the checkpoint before it, never exported or kept (Kafka's per-batch CRCs
     *     already cover each record); and it is checked on every node in every round, where
     *     SHA-256 cost 1.6 ms per 2.8 MB payload against CRC32C's 0.04 ms.
     * @param size payload bytes
     * @param chunks chunk records that precede the contribution
     * @param sha256 SHA-256 of the payload as hex, written only when contributions are signed:
     *     the signature covers the record, and through this digest the payload (a CRC is no
     *     protection against a forger); null otherwise
     */
    record PayloadRef(String crc32c, long size, int chunks, String sha256) {
        /** A payload named by its CRC32C only (contributions not signed). */
        public PayloadRef(String crc32c, long size, int chunks) {
            this(crc32c, size, chunks, null);
        }
    }
}
