package io.streamtrain.trainer;

import io.streamtrain.core.checkpoint.PayloadStore;
import io.streamtrain.core.kafka.KafkaSettings;
import io.streamtrain.core.kafka.Preflight;
import io.streamtrain.core.kafka.RunTopics;
import io.streamtrain.core.kafka.StartupException;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.core.topics.Topics;
import java.io.IOException;
import java.util.List;
import java.util.Set;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.common.acl.AclOperation;

/**
 * Before a node trains: the broker answers, the train topic exists, and the run's own topics
 * exist with room for what the run writes to them.
 */
final class RunSetup {
    private RunSetup() {}

    /** @return the largest record the train topic takes (a dead letter must be able to carry one) */
    static int prepare(KafkaSettings kafka, RunSpec spec) {
        String run = spec.run();
        int chunkBytes = spec.checkpoints().chunkBytes();
        try (Admin admin = Preflight.admin(kafka)) {
            Preflight.requireReachable(admin, kafka.bootstrapServers());
            Preflight.requireTopics(admin, List.of(spec.data().train()), "data.train of run " + run);
            int trainMaxMessageBytes =
                    RunTopics.maxMessageBytes(admin, spec.data().train());
            List<org.apache.kafka.clients.admin.NewTopic> topics = new java.util.ArrayList<>(List.of(
                    RunTopics.checkpoints(Topics.checkpoints(run), chunkBytes),
                    RunTopics.control(Topics.control(run)),
                    RunTopics.sync(Topics.sync(run), chunkBytes),
                    RunTopics.deadLetters(Topics.deadLetters(run), trainMaxMessageBytes)));
            if (spec.evaluation().holdsTrainers()) {
                // the node follows it from the start, whether or not an evaluator made it yet
                topics.add(RunTopics.evaluations(Topics.evaluations(run)));
            }
            Set<String> existed = RunTopics.ensure(admin, topics);
            Preflight.requireOperations(admin, needs(spec), "the trainer");
            // topics made here have room by construction; an operator's may not
            if (existed.contains(Topics.checkpoints(run))) {
                requireRoomFor(admin, Topics.checkpoints(run), chunkBytes, "checkpoints.chunkBytes");
            }
            if (existed.contains(Topics.sync(run))) {
                requireRoomFor(admin, Topics.sync(run), chunkBytes, "checkpoints.chunkBytes");
            }
            if (existed.contains(Topics.deadLetters(run))) {
                requireRoomFor(
                        admin,
                        Topics.deadLetters(run),
                        trainMaxMessageBytes,
                        "the largest record of " + spec.data().train());
            }
            requireWritableStore(spec);
            return trainMaxMessageBytes;
        }
    }

    /**
     * What a node does on each topic (docs/deploy.md's trainer ACLs): missing, most would fail
     * only at the first epoch's end (the checkpoint) or at the first refused record (the .dlq).
     * Delete on the sync topic is not needed: without it the log is not truncated, and a
     * warning says so.
     */
    private static java.util.Map<String, Set<AclOperation>> needs(RunSpec spec) {
        String run = spec.run();
        java.util.Map<String, Set<AclOperation>> needs = new java.util.HashMap<>(java.util.Map.of(
                spec.data().train(), Set.of(AclOperation.READ),
                Topics.checkpoints(run), Set.of(AclOperation.READ, AclOperation.WRITE),
                Topics.sync(run), Set.of(AclOperation.READ, AclOperation.WRITE),
                Topics.control(run), Set.of(AclOperation.READ, AclOperation.WRITE),
                Topics.deadLetters(run), Set.of(AclOperation.WRITE)));
        if (spec.evaluation().holdsTrainers()) {
            needs.put(Topics.evaluations(run), Set.of(AclOperation.READ));
        }
        return needs;
    }

    /** A claim-check store the node cannot write would fail at the first epoch's end, and at every restart's. */
    private static void requireWritableStore(RunSpec spec) {
        if (spec.checkpoints().onKafka()) {
            return;
        }
        try {
            PayloadStore.forUri(spec.checkpoints().store()).requireWritable(spec.run());
        } catch (IOException | SecurityException e) {
            throw new StartupException(
                    StartupException.BAD_CONFIGURATION,
                    "cannot write checkpoint payloads to "
                            + spec.checkpoints().store() + " (" + e
                            + "): make it writable by the user this node runs as,"
                            + " or keep checkpoints on Kafka (checkpoints.store unset)",
                    e);
        }
    }

    /** An existing topic (made by an operator) must still take the records this run writes to it. */
    private static void requireRoomFor(Admin admin, String topic, int valueBytes, String what) {
        int max = RunTopics.maxMessageBytes(admin, topic);
        if (max < valueBytes + RunTopics.RECORD_OVERHEAD_BYTES) {
            throw new StartupException(
                    StartupException.BAD_CONFIGURATION,
                    "topic " + topic + " accepts records of up to " + max
                            + " bytes (max.message.bytes), but " + what + " needs "
                            + (valueBytes + RunTopics.RECORD_OVERHEAD_BYTES)
                            + ". Raise the topic's max.message.bytes"
                            + (what.startsWith("checkpoints") ? " or lower " + what : ""));
        }
    }
}
