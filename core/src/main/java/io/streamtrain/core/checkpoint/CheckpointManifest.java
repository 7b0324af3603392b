package io.streamtrain.core.checkpoint;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.JsonNode;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.core.spec.RunSpecParser;
import java.util.List;
import java.util.Map;

/**
 * What a checkpoint is: the JSON document on the checkpoint topic that describes one
 * epoch's model state and points to its payload (chunks on the same topic, or a claim-check
 * URI). The model state is a function of the initial weights, {@link #spec} and exactly the
 * {@link #offsets} ranges.
 *
 * @param version format version of this manifest
 * @param type always "checkpoint"
 * @param run the run id
 * @param checkpointId unique id of this checkpoint
 * @param epoch 1-based epoch this checkpoint ends
 * @param round the sync round whose combined state this is (rounds closed since the run began)
 * @param step optimizer steps taken since the run began
 * @param spec the run spec the state was trained with (a JSON object)
 * @param parameters the model parameters in the payload, in block order
 * @param payload where the payload is and how to verify it
 * @param offsets the train-topic offset ranges trained in this epoch
 * @param metrics training metrics of the epoch (train_loss, data_loss, l1, l2, l2sp, ...)
 * @param node the trainer node that published it
 * @param time publication time, ISO-8601
 * @param kind {@code epoch} (the end of an epoch: what a run resumes from) or
 *     {@code snapshot} (taken mid-epoch on an operator's CHECKPOINT: weights to evaluate or
 *     export, never resumed from); absent in older manifests, meaning {@code epoch}
 * @param sync where the run's sync log stood when this state was combined (the round that
 *     ended the epoch): a node resuming from this checkpoint reads the sync topic from there.
 *     Null for snapshots and for manifests older than sync rounds
 * @param recordsChecksum the records trained in this epoch, as {@link RecordsChecksum}
 *     sums them: {@code crc32c-sum:} and 16 hex digits. Null for snapshots and for older
 *     manifests
 * @param replayed the offset ranges of earlier windows a continuous run's window replayed
 *     ({@code data.window.replay}), besides {@link #offsets}; {@code recordsChecksum} and
 *     the {@code records} metric count them too. Empty (and left out of the JSON) otherwise
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record CheckpointManifest(
        int version,
        String type,
        String run,
        String checkpointId,
        int epoch,
        long round,
        long step,
        JsonNode spec,
        List<ParameterInfo> parameters,
        Payload payload,
        List<OffsetRange> offsets,
        Map<String, Double> metrics,
        String node,
        String time,
        String kind,
        SyncPoint sync,
        String recordsChecksum,
        @JsonInclude(JsonInclude.Include.NON_EMPTY) List<OffsetRange> replayed) {

    public static final int VERSION = 1;
    public static final String TYPE = "checkpoint";
    public static final String EPOCH = "epoch";
    public static final String SNAPSHOT = "snapshot";

    public CheckpointManifest {
        replayed = replayed == null ? List.of() : List.copyOf(replayed);
    }

    /** Whether this is a mid-epoch snapshot rather than an epoch's checkpoint. */
    public boolean snapshot() {
        return SNAPSHOT.equals(kind);
    }

    public RunSpec runSpec() {
        return RunSpecParser.parse(spec);
    }

    /**
     * @param name the parameter name, as in the DJL block
     * @param dtype safetensors dtype
     * @param shape dimensions
     */
    public record ParameterInfo(String name, String dtype, long[] shape) {}

    /**
     * @param sha256 hex SHA-256 of the whole safetensors payload
     * @param size payload bytes
     * @param store {@code kafka} (chunks precede the manifest on the topic) or {@code file}
     * @param uri claim-check URI when {@code store} is not kafka
     * @param chunks number of chunk records on the topic (0 for a claim check)
     */
    public record Payload(String sha256, long size, String store, String uri, int chunks) {}

    /**
     * @param offset the sync-topic offset right after the record that closed {@code round}
     * @param generation the consumer-group generation that closed it
     */
    public record SyncPoint(long offset, int generation) {}

    /** Offsets {@code [from, to)} of one partition. */
    public record OffsetRange(String topic, int partition, long from, long to) {
        public long count() {
            return to - from;
        }
    }
}
