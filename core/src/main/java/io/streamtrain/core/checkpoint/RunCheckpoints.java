package io.streamtrain.core.checkpoint;

import io.streamtrain.core.control.ControlMessage;
import io.streamtrain.core.control.MalformedMessageException;
import io.streamtrain.core.evaluation.BestCheckpoint;
import io.streamtrain.core.evaluation.EvaluationRecord;
import io.streamtrain.core.evaluation.PromotedModel;
import io.streamtrain.core.kafka.Preflight;
import io.streamtrain.core.kafka.StartupException;
import io.streamtrain.core.kafka.TopicReader;
import io.streamtrain.core.logging.Logs;
import io.streamtrain.core.protocol.CheckpointCodec;
import io.streamtrain.core.protocol.Messages;
import io.streamtrain.core.signing.Right;
import io.streamtrain.core.signing.Signing;
import io.streamtrain.core.signing.Verdict;
import io.streamtrain.core.spec.CheckpointRef;
import io.streamtrain.core.topics.Topics;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;

/**
 * One particular checkpoint of a run, read from its checkpoint topic: for
 * {@code streamtrain export}, and for a run that starts from another run's checkpoint
 * ({@code init.from: run:NAME}). The topic is read twice up to the same end: the manifests
 * (chunks are dropped as they are read), then only the chosen checkpoint's records, which
 * the {@link CheckpointAssembler} verifies as trainers and the evaluator do.
 */
public final class RunCheckpoints {
    private RunCheckpoints() {}

    /**
     * A run's manifests, in topic order, and where its checkpoint topic ended.
     *
     * @param json each manifest record's value, by checkpoint id (the last one of an id)
     */
    public record Listing(
            String run, List<CheckpointManifest> manifests, Map<String, byte[]> json, Map<TopicPartition, Long> ends) {}

    /** A verified checkpoint and a few words on why it is the one. */
    public record Found(Checkpoint checkpoint, String why) {}

    /** The run must have a checkpoint topic: anything else is most likely a typo in its id. @throws StartupException exit 2 */
    public static void requireRun(Admin admin, String bootstrapServers, String run) {
        if (!Preflight.topicNames(admin, bootstrapServers).contains(Topics.checkpoints(run))) {
            throw new StartupException(
                    StartupException.BAD_CONFIGURATION,
                    "no run " + run + " on " + bootstrapServers
                            + ": there is no topic " + Topics.checkpoints(run)
                            + ". Is the run id right? (its checkpoints are on "
                            + "streamtrain.<run>.checkpoints)");
        }
    }

    /**
     * @param unreadable told about each manifest that cannot be read (not valid JSON, or of a newer format; skipped), or
     *     that is not trusted
     * @param signing with signatures checked, a manifest not signed by a key trusted with manifests is skipped: it is no
     *     checkpoint of the run (a forged "latest" must not hide the real one)
     * @throws StartupException exit 2 when the run has no checkpoint at all
     */
    public static Listing list(
            Consumer<byte[], byte[]> consumer,
            String run,
            Duration timeout,
            java.util.function.Consumer<String> unreadable,
            Signing signing) {
        String topic = Topics.checkpoints(run);
        Map<String, byte[]> json = new LinkedHashMap<>();
        List<CheckpointManifest> manifests = new ArrayList<>();
        Map<TopicPartition, Long> ends = TopicReader.forEach(consumer, topic, null, timeout, r -> {
            if (CheckpointCodec.MANIFEST.equals(CheckpointCodec.typeOf(r))) {
                Verdict trusted = signing.verify(r, Right.MANIFEST);
                if (!trusted.accepted()) {
                    // a refusal escapes what it quotes from the record where it is made
                    unreadable.accept("skipping the manifest at offset " + r.offset() + " of " + topic + ": "
                            + trusted.refusal());
                    return;
                }
                try {
                    CheckpointManifest m = CheckpointCodec.manifestFromJson(r.value());
                    manifests.add(m);
                    json.put(m.checkpointId(), r.value());
                } catch (IOException e) {
                    unreadable.accept("skipping an unreadable manifest at offset " + r.offset() + " of " + topic + ": "
                            + Logs.escape(e.getMessage()));
                }
            }
        });
        if (manifests.isEmpty()) {
            throw new StartupException(
                    StartupException.BAD_CONFIGURATION,
                    "run " + run + " has no checkpoint yet: trainers publish one"
                            + " at the end of every epoch (or on `streamtrain ctl checkpoint --run " + run + "`)");
        }
        return new Listing(run, List.copyOf(manifests), json, ends);
    }

    /**
     * The run's best checkpoint by its evaluations topic, else by its STOP.
     *
     * @param epochHint how the caller names an epoch instead, for the refusal
     * @param signing with signatures checked, only evaluations and STOPs signed by keys trusted with them count
     */
    public static CheckpointChoice.Chosen best(
            Consumer<byte[], byte[]> consumer, Listing listing, Duration timeout, String epochHint, Signing signing) {
        List<EvaluationRecord> evaluations = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> r :
                TopicReader.readAll(consumer, Topics.evaluations(listing.run()), timeout)) {
            if (!signing.verify(r, Right.EVALUATION).accepted()) {
                continue;
            }
            try {
                Messages.decodeEvaluation(r.value()).ifPresent(evaluations::add);
            } catch (MalformedMessageException e) {
                // the evaluator's own state ignores these too
            }
        }
        Optional<BestCheckpoint> stopBest = Optional.empty();
        if (evaluations.stream().noneMatch(e -> e.best() != null)) {
            for (ConsumerRecord<byte[], byte[]> r :
                    TopicReader.readAll(consumer, Topics.control(listing.run()), timeout)) {
                if (!signing.verify(r, Right.STOP).accepted()) {
                    continue;
                }
                try {
                    Optional<ControlMessage> m = Messages.decodeControl(r.value());
                    if (m.isPresent()
                            && m.get() instanceof ControlMessage.Stop s
                            && s.best() != null
                            && stopBest.isEmpty()) {
                        stopBest = Optional.of(s.best());
                    }
                } catch (MalformedMessageException e) {
                    // trainers skip these; so does this
                }
            }
        }
        return CheckpointChoice.best(listing.run(), listing.manifests(), evaluations, stopBest, epochHint);
    }

    /**
     * A continuous run's promoted model: the last record of {@code streamtrain.<run>.models}.
     *
     * @param signing with signatures checked, only records signed by a key trusted with evaluations count
     * @throws StartupException exit 2 when the run has promoted no model (yet)
     */
    public static CheckpointChoice.Chosen promoted(
            Consumer<byte[], byte[]> consumer, Listing listing, Duration timeout, Signing signing) {
        List<PromotedModel> models = promotions(consumer, listing.run(), timeout, signing);
        PromotedModel latest = models.isEmpty() ? null : models.get(models.size() - 1);
        if (latest == null) {
            throw new StartupException(
                    StartupException.BAD_CONFIGURATION,
                    "run " + listing.run() + " has no promoted model: only a"
                            + " continuous run's evaluator promotes one (on " + Topics.models(listing.run())
                            + "), when a window's checkpoint"
                            + " beats every earlier one");
        }
        CheckpointChoice.Chosen c = CheckpointChoice.id(listing.run(), listing.manifests(), latest.checkpointId());
        return new CheckpointChoice.Chosen(
                c.manifest(),
                String.format(
                        java.util.Locale.ROOT,
                        "promoted: window %d, %s %.6g",
                        latest.epoch(),
                        Logs.escape(latest.metric()),
                        latest.value()));
    }

    /**
     * A continuous run's promotions, oldest first, from {@code streamtrain.<run>.models}: the
     * records that verify (with signatures checked, signed by a key trusted with evaluations),
     * read, and name the run; the last is the promoted model.
     */
    public static List<PromotedModel> promotions(
            Consumer<byte[], byte[]> consumer, String run, Duration timeout, Signing signing) {
        List<PromotedModel> out = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> r : TopicReader.readAll(consumer, Topics.models(run), timeout)) {
            if (!signing.verify(r, Right.EVALUATION).accepted()) {
                continue;
            }
            try {
                Messages.decodePromoted(r.value())
                        .filter(m -> run.equals(m.run()))
                        .ifPresent(out::add);
            } catch (MalformedMessageException e) {
                // not a promoted model this version reads: the one before stands
            }
        }
        return out;
    }

    /**
     * Reads the topic again up to the listing's end, handing only checkpoint {@code id}'s
     * records to the assembler.
     *
     * @param sources where a claim-checked payload may be read from
     * @param signing with signatures checked, a manifest not signed by a key trusted with manifests is rejected
     *
     * @throws CheckpointRejectedException if it does not assemble or verify
     */
    public static Checkpoint assemble(
            Consumer<byte[], byte[]> consumer,
            Listing listing,
            String id,
            Duration timeout,
            PayloadSources sources,
            Signing signing)
            throws CheckpointRejectedException {
        return assemble(consumer, listing, List.of(id), timeout, sources, signing)
                .get(id);
    }

    /**
     * Several of the listed checkpoints in one read of the topic up to the listing's end (a run's
     * every epoch scored on another topic).
     *
     * @return each id's checkpoint (the last one assembled under it), in the order of {@code ids}
     * @throws CheckpointRejectedException for the first id whose checkpoint does not assemble or verify
     */
    public static Map<String, Checkpoint> assemble(
            Consumer<byte[], byte[]> consumer,
            Listing listing,
            List<String> ids,
            Duration timeout,
            PayloadSources sources,
            Signing signing)
            throws CheckpointRejectedException {
        CheckpointAssembler assembler = new CheckpointAssembler(sources, signing);
        Map<String, Checkpoint> found = new HashMap<>();
        Map<String, CheckpointRejectedException> rejected = new HashMap<>();
        Set<String> wanted = Set.copyOf(ids);
        TopicReader.forEach(consumer, Topics.checkpoints(listing.run()), listing.ends(), timeout, r -> {
            Header h = r.headers().lastHeader(CheckpointCodec.ID_HEADER);
            String id = h == null ? null : new String(h.value(), StandardCharsets.UTF_8);
            if (id == null || !wanted.contains(id)) {
                return;
            }
            try {
                Checkpoint c = assembler.accept(r);
                if (c != null) {
                    found.put(id, c);
                }
            } catch (CheckpointRejectedException e) {
                rejected.put(id, e);
            }
        });
        Map<String, Checkpoint> out = new LinkedHashMap<>();
        for (String id : ids) {
            Checkpoint c = found.get(id);
            if (c == null) {
                CheckpointRejectedException why = rejected.get(id);
                throw why != null ? why : new CheckpointRejectedException(id, "it could not be assembled");
            }
            out.put(id, c);
        }
        return out;
    }

    /**
     * One of the run's checkpoints by id, verified: the run's checkpoint topic listed, then that
     * checkpoint's records assembled (a ROLLBACK's target, a promoted model read back).
     *
     * @throws CheckpointRejectedException if it is not there, or does not assemble or verify
     */
    public static Checkpoint byId(
            Consumer<byte[], byte[]> consumer,
            String run,
            String id,
            Duration timeout,
            PayloadSources sources,
            Signing signing)
            throws CheckpointRejectedException {
        return assemble(consumer, list(consumer, run, timeout, message -> {}, signing), id, timeout, sources, signing);
    }

    /**
     * The checkpoint an {@code init.from} reference names, verified.
     *
     * @throws StartupException exit 2 when the run or the checkpoint does not exist or does not verify
     */
    public static Found find(
            Admin admin,
            Consumer<byte[], byte[]> consumer,
            String bootstrapServers,
            CheckpointRef ref,
            Duration timeout,
            PayloadSources sources,
            Signing signing) {
        requireRun(admin, bootstrapServers, ref.run());
        Listing listing = list(consumer, ref.run(), timeout, message -> {}, signing);
        String epochHint = "init.from: run:" + ref.run() + "@E";
        CheckpointChoice.Chosen chosen = switch (ref.which()) {
            case LATEST -> CheckpointChoice.latest(ref.run(), listing.manifests());
            case BEST -> best(consumer, listing, timeout, epochHint, signing);
            case PROMOTED -> promoted(consumer, listing, timeout, signing);
            case EPOCH -> CheckpointChoice.epoch(ref.run(), listing.manifests(), ref.epoch());
        };
        try {
            return new Found(
                    assemble(consumer, listing, chosen.manifest().checkpointId(), timeout, sources, signing),
                    chosen.why());
        } catch (CheckpointRejectedException e) {
            throw new StartupException(
                    StartupException.BAD_CONFIGURATION,
                    e.getMessage() + "; name another checkpoint of run " + ref.run() + " (" + epochHint + ")");
        }
    }
}
