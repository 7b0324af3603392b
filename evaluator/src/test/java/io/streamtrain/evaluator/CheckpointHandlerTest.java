package io.streamtrain.evaluator;

import static io.streamtrain.evaluator.Fixtures.RUN;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.core.checkpoint.CheckpointManifest;
import io.streamtrain.core.control.ControlMessage;
import io.streamtrain.core.control.MalformedMessageException;
import io.streamtrain.core.evaluation.EvaluationRecord;
import io.streamtrain.core.logging.Logs;
import io.streamtrain.core.protocol.CheckpointCodec;
import io.streamtrain.core.protocol.DeadLetters;
import io.streamtrain.core.protocol.Messages;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.core.spec.RunSpecParser;
import io.streamtrain.core.topics.Topics;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.MockConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The evaluator's work on the records of a checkpoint topic, with Kafka's mock clients and
 * a scorer that needs no model: one transaction per checkpoint, none for a chunk, and a
 * committed offset that never passes the first chunk of a checkpoint still being assembled.
 */
class CheckpointHandlerTest {
    static final Duration TIMEOUT = Duration.ofSeconds(5);
    static final RunSpec SPEC = Fixtures.spec("v", "patience: 3");
    /** Small enough that every payload takes two chunks. */
    static final int CHUNK_BYTES = 200;

    static final TopicPartition CHECKPOINTS = new TopicPartition(Topics.checkpoints(RUN), 0);
    static final TopicPartition EVALUATIONS = new TopicPartition(Topics.evaluations(RUN), 0);
    static final TopicPartition CONTROL = new TopicPartition(Topics.control(RUN), 0);

    final MockProducer<byte[], byte[]> producer =
            new MockProducer<>(true, null, new ByteArraySerializer(), new ByteArraySerializer());
    final MockConsumer<byte[], byte[]> group = new MockConsumer<>("earliest");
    final MockConsumer<byte[], byte[]> reader = new MockConsumer<>("earliest");
    final MockConsumer<byte[], byte[]> control = new MockConsumer<>("earliest");
    final Fixtures.CheckpointTopic topic = new Fixtures.CheckpointTopic();
    final List<String> topicsEnsured = new ArrayList<>();
    /** Each rejection's reason, as the metric's label counts it. */
    final List<Rejection> rejections = new ArrayList<>();

    CheckpointHandlerTest() {
        producer.initTransactions();
        control.updateBeginningOffsets(Map.of(CONTROL, 0L));
        control.updateEndOffsets(Map.of(CONTROL, 0L));
    }

    /** An evaluator taking up the topic: no state yet; {@code val_loss} improves with the epoch. */
    CheckpointHandler evaluator() {
        return evaluator((state, spec, c) ->
                new Scoring.Scored(Map.of("val_loss", 1.0 / c.manifest().epoch()), 0.01, List.of()));
    }

    CheckpointHandler evaluator(Scoring scoring) {
        StopFeed stops = new StopFeed(control);
        EvaluatorEvents events = new EvaluatorEvents() {
            @Override
            public void rejected(String run, Rejection why) {
                rejections.add(why);
            }
        };
        EvaluatorProducer transactions = new EvaluatorProducer(
                producer, () -> new ConsumerGroupMetadata(Topics.EVALUATOR_GROUP), TIMEOUT, Duration.ZERO);
        return new CheckpointHandler(
                new RunStateLoader(group, reader, stops, events, TIMEOUT),
                stops,
                scoring,
                transactions,
                new EvaluationStep("evaluator-test"),
                (run, spec) -> topicsEnsured.add(run),
                events,
                TIMEOUT);
    }

    static CheckpointManifest manifest(String id, int epoch) {
        byte[] payload = Fixtures.payload(epoch);
        return Fixtures.manifest(
                SPEC, id, epoch, false, payload, CheckpointCodec.chunkCount(payload.length, CHUNK_BYTES), 0.5);
    }

    /** The offsets of the group's commits, in order. */
    List<Long> committedOffsets() {
        return producer.consumerGroupOffsetsHistory().stream()
                .map(c -> c.get(Topics.EVALUATOR_GROUP).get(CHECKPOINTS).offset())
                .toList();
    }

    List<EvaluationRecord> evaluations() {
        List<EvaluationRecord> out = new ArrayList<>();
        for (ProducerRecord<byte[], byte[]> p : producer.history()) {
            if (p.topic().equals(EVALUATIONS.topic())) {
                try {
                    Messages.decodeEvaluation(p.value()).ifPresent(out::add);
                } catch (MalformedMessageException e) {
                    throw new AssertionError(e);
                }
            }
        }
        return out;
    }

    /** Two nodes' checkpoints interleaved: A's chunks, B's first chunk, A's manifest, B's second chunk, B's manifest. */
    void writeInterleaved() {
        CheckpointManifest a = manifest("r-e0001-a", 1);
        CheckpointManifest b = manifest("r-e0002-b", 2);
        List<ProducerRecord<byte[], byte[]>> aChunks = topic.chunks(a.checkpointId(), Fixtures.payload(1), CHUNK_BYTES);
        List<ProducerRecord<byte[], byte[]>> bChunks = topic.chunks(b.checkpointId(), Fixtures.payload(2), CHUNK_BYTES);
        assertEquals(2, aChunks.size());
        assertEquals(2, bChunks.size());
        topic.append(aChunks.get(0)); // 0
        topic.append(bChunks.get(0)); // 1: B's first chunk
        topic.append(aChunks.get(1)); // 2
        topic.appendManifest(a); // 3
        topic.append(bChunks.get(1)); // 4
        topic.appendManifest(b); // 5
    }

    @Test
    void oneTransactionPerCheckpointWhoseOffsetNeverPassesAChunkStillPending() {
        writeInterleaved();
        CheckpointHandler handler = evaluator();
        List<Long> commitsAfter = new ArrayList<>();
        long bFirstChunk = 1;
        long bManifest = 5;
        for (ConsumerRecord<byte[], byte[]> r : topic.records) {
            handler.handle(r);
            commitsAfter.add(producer.commitCount());
            if (r.offset() < bManifest) {
                for (long committed : committedOffsets()) {
                    assertTrue(
                            committed <= bFirstChunk,
                            "committed " + committed + " after offset " + r.offset()
                                    + ": past B's first chunk, which a restart would then never see");
                }
            }
        }

        assertEquals(
                List.of(0L, 0L, 0L, 1L, 1L, 2L), commitsAfter, "a transaction for each manifest, none for a chunk");
        assertEquals(
                List.of(1L, 6L), committedOffsets(), "A's answer stops at B's first chunk; B's goes past everything");
        assertEquals(
                List.of(1, 2),
                evaluations().stream().map(EvaluationRecord::epoch).toList());
        assertTrue(evaluations().stream().allMatch(EvaluationRecord::evaluated), "" + evaluations());
        assertEquals(List.of(RUN), topicsEnsured, "the run's topics are made sure of once, when it is taken up");
    }

    @Test
    void anEvaluatorRestartedFromTheCommittedOffsetStillEvaluatesTheCheckpointThatWasPending() {
        writeInterleaved();
        CheckpointHandler first = evaluator();
        for (ConsumerRecord<byte[], byte[]> r : topic.records.subList(0, 4)) {
            first.handle(r); // up to A's manifest; then the evaluator dies
        }
        OffsetAndMetadata committed = producer.consumerGroupOffsetsHistory()
                .get(0)
                .get(Topics.EVALUATOR_GROUP)
                .get(CHECKPOINTS);
        assertEquals(new OffsetAndMetadata(1, "evaluations-through=0"), committed);

        // what the next evaluator finds: the group's offset, and the evaluations committed so far
        group.assign(List.of(CHECKPOINTS));
        group.commitSync(Map.of(CHECKPOINTS, committed));
        Fixtures.feed(
                reader,
                EVALUATIONS,
                producer.history().stream()
                        .filter(p -> p.topic().equals(EVALUATIONS.topic()))
                        .map(ProducerRecord::value)
                        .toList());
        CheckpointHandler restarted = evaluator();
        for (ConsumerRecord<byte[], byte[]> r : topic.records.subList((int) committed.offset(), topic.records.size())) {
            restarted.handle(r);
        }

        List<EvaluationRecord> evaluated =
                evaluations().stream().filter(EvaluationRecord::evaluated).toList();
        assertEquals(
                List.of(1, 2),
                evaluated.stream().map(EvaluationRecord::epoch).toList(),
                "B is evaluated, from the chunk the committed offset kept; A is not evaluated twice");
        assertEquals(
                List.of(),
                evaluations().stream().filter(e -> !e.evaluated()).toList(),
                "A's manifest, read again without the chunks before the restart's offset, is skipped, not rejected");
        EvaluationRecord b = evaluated.get(1);
        assertEquals(0, b.waitCount());
        assertEquals(2, b.best().epoch(), "B's decision counts A's evaluation, rebuilt from the evaluations topic");
    }

    @Test
    void aCorruptCheckpointIsAnsweredWithItsRejectionItsDeadLetterAndItsOffsetInOneTransaction() {
        CheckpointManifest m = manifest("r-e0001-x", 1);
        List<ProducerRecord<byte[], byte[]>> chunks = topic.chunks(m.checkpointId(), Fixtures.payload(1), CHUNK_BYTES);
        topic.append(chunks.get(0));
        ProducerRecord<byte[], byte[]> second = chunks.get(1);
        byte[] flipped = second.value().clone();
        flipped[0] ^= 1;
        topic.append(new ProducerRecord<>(second.topic(), second.partition(), second.key(), flipped, second.headers()));
        ConsumerRecord<byte[], byte[]> manifest = topic.appendManifest(m);

        CheckpointHandler handler = evaluator();
        topic.records.forEach(handler::handle);

        assertEquals(1, producer.commitCount());
        assertEquals(List.of(3L), committedOffsets());
        EvaluationRecord e = evaluations().get(0);
        assertEquals(EvaluationRecord.REJECTED, e.status());
        assertTrue(e.explanation().contains("SHA-256"), e.explanation());
        ProducerRecord<byte[], byte[]> deadLetter = producer.history().stream()
                .filter(p -> p.topic().equals(Topics.deadLetters(RUN)))
                .findFirst()
                .orElseThrow();
        assertEquals(Long.toString(manifest.offset()), Fixtures.header(deadLetter, DeadLetters.SOURCE_OFFSET));
        assertEquals(List.of(RUN), topicsEnsured, "its dead-letter topic is made sure of before it is written");
    }

    /**
     * Anyone who may write the checkpoint topic names its checkpoints: an id with a newline and a
     * backslash is escaped once in the rejection, in both the record and the log line. The
     * assembler's reason escapes it where it is made; escaped again for the log, its backslashes
     * came out doubled.
     */
    @Test
    void aHostileCheckpointIdIsEscapedOnceInTheRejectionAndItsLogLine() {
        String id = "r-e0001-x\nWARN forged \\ line";
        CheckpointManifest m = manifest(id, 1);
        topic.appendCorrupted(id, Fixtures.payload(1), CHUNK_BYTES);
        topic.appendManifest(m);

        List<String> lines = Fixtures.warnings(CheckpointHandler.class, () -> {
            CheckpointHandler handler = evaluator();
            topic.records.forEach(handler::handle);
        });

        String once = "r-e0001-x\\nWARN forged \\\\ line";
        assertEquals(once, Logs.escape(id));
        String explanation = evaluations().get(0).explanation();
        assertTrue(explanation.startsWith("checkpoint " + once + " rejected: "), explanation);
        assertEquals(1, lines.size(), lines.toString());
        String line = lines.get(0);
        assertTrue(line.startsWith("run " + RUN + ": checkpoint " + once + " rejected: "), line);
        assertTrue(line.contains("SHA-256"), line);
        assertFalse(line.contains("\n"), "a newline reached the log: " + line);
    }

    /**
     * Anyone who may write the control topic names a REGISTER and its source: a checkpoint whose
     * spec breaks the registered contract is rejected naming them, escaped once where the
     * explanation is made. The log line shows that explanation as it is, whole: escaped again
     * (and cut at {@link Logs#MAX_CHARS}), its backslashes came out doubled and what the spec
     * changed was cut off.
     */
    @Test
    void aHostileRegistrationIsEscapedOnceInTheContractRejectionAndItsWholeLogLine() {
        String id = "reg\nWARN forged \\ line";
        String source = "op-" + "x".repeat(300);
        Fixtures.feed(
                control,
                CONTROL,
                List.of(Messages.encode(
                        new ControlMessage.Register(RUN, id, Messages.now(), RunSpecParser.toJson(SPEC), source))));
        RunSpec elsewhere = Fixtures.spec("other", "patience: 3");
        byte[] payload = Fixtures.payload(1);
        CheckpointManifest m = Fixtures.manifest(
                elsewhere,
                "r-e0001-x",
                1,
                false,
                payload,
                CheckpointCodec.chunkCount(payload.length, CHUNK_BYTES),
                0.5);
        topic.chunks(m.checkpointId(), payload, CHUNK_BYTES).forEach(topic::append);
        topic.appendManifest(m);

        List<String> lines = Fixtures.warnings(CheckpointHandler.class, () -> {
            CheckpointHandler handler = evaluator();
            topic.records.forEach(handler::handle);
        });

        EvaluationRecord e = evaluations().get(0);
        assertEquals(EvaluationRecord.REJECTED, e.status(), e.toString());
        assertEquals(List.of(Rejection.MISMATCH), rejections);
        String registered = Logs.escape("the spec registered for the run (REGISTER " + id + " by " + source + ")");
        assertTrue(registered.contains("(REGISTER reg\\nWARN forged \\\\ line by op-xxx"), registered);
        assertTrue(registered.endsWith(" more)"), "the value says where it was cut: " + registered);
        String fixed = "its spec changes what " + registered + " fixed: data.validation v → other. ";
        assertTrue(e.explanation().startsWith(fixed), e.explanation());
        assertEquals(
                List.of("run " + RUN + ": checkpoint r-e0001-x rejected: " + e.explanation()),
                lines,
                "the explanation as it was made, whole");
        assertTrue(lines.get(0).endsWith("(or the manifest is forged)"), lines.get(0));
        assertFalse(lines.get(0).contains("\n"), "a newline reached the log: " + lines.get(0));
    }

    @Test
    void aValidationTopicTheEvaluatorMayNotReadRejectsThatCheckpointAndTheEvaluatorGoesOn() {
        CheckpointManifest refused = manifest("r-e0001-a", 1);
        CheckpointManifest next = manifest("r-e0002-b", 2);
        for (CheckpointManifest m : List.of(refused, next)) {
            topic.chunks(m.checkpointId(), Fixtures.payload(m.epoch()), CHUNK_BYTES)
                    .forEach(topic::append);
            topic.appendManifest(m);
        }
        CheckpointHandler handler = evaluator((state, spec, c) -> {
            if (c.manifest().epoch() == 1) {
                throw new org.apache.kafka.common.errors.TopicAuthorizationException(
                        java.util.Set.of("someone.elses.validation"));
            }
            return new Scoring.Scored(Map.of("val_loss", 0.5), 0.01, List.of());
        });
        topic.records.forEach(
                handler::handle); // throws nothing: one run's ACLs must not stop the evaluator of every run

        List<EvaluationRecord> answers = evaluations();
        assertEquals(
                List.of(EvaluationRecord.REJECTED, EvaluationRecord.EVALUATED),
                answers.stream().map(EvaluationRecord::status).toList(),
                answers.toString());
        assertTrue(
                answers.get(0).explanation().contains("someone.elses.validation"),
                answers.get(0).explanation());
        assertEquals(List.of(3L, 6L), committedOffsets(), "the refused checkpoint's offset moves on with its answer");
    }

    /** Checkpoints of epochs 1 to {@code epochs}, each in two chunks: manifests at offsets 2, 5, 8, ... */
    void writeEpochs(int epochs) {
        for (int epoch = 1; epoch <= epochs; epoch++) {
            CheckpointManifest m = manifest("r-e000" + epoch + "-x", epoch);
            topic.chunks(m.checkpointId(), Fixtures.payload(epoch), CHUNK_BYTES).forEach(topic::append);
            topic.appendManifest(m);
        }
    }

    /**
     * An Error a record's content trips (out of memory scoring a forged model, a stack overflow,
     * an assertion in the engine) is that record's: rejected as unreadable, dead-lettered, its
     * offset committed so that a restart does not meet it again, and the next checkpoint is
     * evaluated. An evaluator that let it through would crash-loop on it, and it serves every run.
     */
    @Test
    void anErrorWhileScoringRejectsThatCheckpointAndTheNextIsEvaluated() {
        writeEpochs(4);
        CheckpointHandler handler = evaluator((state, spec, c) -> {
            switch (c.manifest().epoch()) {
                case 1 -> throw new OutOfMemoryError("Java heap space");
                case 2 -> throw new StackOverflowError();
                case 3 -> throw new AssertionError("a shape the engine did not expect");
                default -> {
                    return new Scoring.Scored(Map.of("val_loss", 0.5), 0.01, List.of());
                }
            }
        });
        topic.records.forEach(handler::handle); // throws nothing

        List<EvaluationRecord> answers = evaluations();
        assertEquals(
                List.of(
                        EvaluationRecord.REJECTED,
                        EvaluationRecord.REJECTED,
                        EvaluationRecord.REJECTED,
                        EvaluationRecord.EVALUATED),
                answers.stream().map(EvaluationRecord::status).toList(),
                answers.toString());
        List<String> errors = List.of("OutOfMemoryError", "StackOverflowError", "AssertionError");
        for (int i = 0; i < errors.size(); i++) {
            assertTrue(
                    answers.get(i).explanation().contains(errors.get(i)),
                    answers.get(i).explanation());
        }
        assertEquals(4, answers.get(3).epoch());
        assertEquals(List.of(Rejection.UNREADABLE, Rejection.UNREADABLE, Rejection.UNREADABLE), rejections);
        assertEquals(
                List.of("2", "5", "8"),
                producer.history().stream()
                        .filter(p -> p.topic().equals(Topics.deadLetters(RUN)))
                        .map(p -> Fixtures.header(p, DeadLetters.SOURCE_OFFSET))
                        .toList(),
                "each rejected manifest is dead-lettered");
        assertEquals(List.of(3L, 6L, 9L, 12L), committedOffsets(), "each answer moves the offset past its manifest");
    }

    /**
     * What no record is to blame for is thrown, and nothing is committed: the JVM is broken
     * (InternalError), or so is this process (a native library or class that did not load).
     * Rejecting would skip every checkpoint for good; the restart tries them again.
     */
    @ParameterizedTest
    @ValueSource(classes = {InternalError.class, UnsatisfiedLinkError.class, NoClassDefFoundError.class})
    void aBrokenJvmOrLibraryIsThrownAndNothingIsCommitted(Class<? extends Error> kind) throws Exception {
        writeEpochs(1);
        Error fatal = kind.getConstructor(String.class).newInstance("broken");
        CheckpointHandler handler = evaluator((state, spec, c) -> {
            throw fatal;
        });
        Error thrown = assertThrows(Error.class, () -> topic.records.forEach(handler::handle));
        assertSame(fatal, thrown);
        assertEquals(0, producer.commitCount(), "the checkpoint's offset stays where a restart reads it again");
        assertEquals(List.of(), evaluations());
        assertEquals(List.of(), rejections);
    }
}
