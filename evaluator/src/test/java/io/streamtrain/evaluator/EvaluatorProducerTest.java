package io.streamtrain.evaluator;

import static io.streamtrain.evaluator.Fixtures.RUN;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.core.evaluation.EvaluationRecord;
import io.streamtrain.core.protocol.Messages;
import io.streamtrain.core.topics.Topics;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.CommitFailedException;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TimeoutException;
import org.apache.kafka.common.errors.TransactionalIdAuthorizationException;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The transactions of the evaluator's producer, on Kafka's MockProducer (which models them). */
class EvaluatorProducerTest {
    static final TopicPartition CHECKPOINTS = new TopicPartition(Topics.checkpoints(RUN), 0);
    static final ProducerRecord<byte[], byte[]> DEAD_LETTER =
            new ProducerRecord<>(Topics.deadLetters(RUN), new byte[] {1});

    /** A MockProducer whose commits fail the first {@code failures} times with {@code error}. */
    static final class FlakyProducer extends MockProducer<byte[], byte[]> {
        RuntimeException error;
        int failures;
        int aborts;

        FlakyProducer() {
            super(true, null, new ByteArraySerializer(), new ByteArraySerializer());
        }

        @Override
        public void commitTransaction() {
            if (failures > 0) {
                failures--;
                throw error;
            }
            super.commitTransaction();
        }

        @Override
        public void abortTransaction() {
            aborts++;
            super.abortTransaction();
        }
    }

    FlakyProducer mock;
    EvaluatorProducer producer;

    @BeforeEach
    void initialized() {
        mock = new FlakyProducer();
        producer = new EvaluatorProducer(
                mock, () -> new ConsumerGroupMetadata(Topics.EVALUATOR_GROUP), Duration.ofSeconds(5), Duration.ZERO);
        producer.initTransactions();
    }

    static EvaluationRecord evaluation(int epoch) {
        return EvaluationRecord.rejected(RUN, epoch, "r-e000" + epoch, "checkpoint-rejected", "test", null);
    }

    Map<TopicPartition, OffsetAndMetadata> lastCommittedOffsets() {
        List<Map<String, Map<TopicPartition, OffsetAndMetadata>>> history = mock.consumerGroupOffsetsHistory();
        return history.get(history.size() - 1).get(Topics.EVALUATOR_GROUP);
    }

    @Test
    void oneTransactionHoldsTheEvaluationTheOtherRecordsAndTheOffsetWhoseMetadataNamesTheEvaluation() {
        var unused = mock.send(
                new ProducerRecord<>(Topics.evaluations(RUN), new byte[0])); // an earlier record: takes offset 0
        long before = mock.commitCount();

        String metadata = producer.commit(CHECKPOINTS, 8, evaluation(1), List.of(DEAD_LETTER), "");

        assertEquals(before + 1, mock.commitCount(), "one transaction");
        List<ProducerRecord<byte[], byte[]>> sent = mock.history();
        ProducerRecord<byte[], byte[]> e = sent.get(sent.size() - 2);
        assertEquals(Topics.evaluations(RUN), e.topic());
        assertEquals(RUN, new String(e.key(), java.nio.charset.StandardCharsets.UTF_8), "keyed by run");
        assertEquals(evaluation(1).checkpointId(), decode(e.value()).checkpointId());
        assertSame(DEAD_LETTER, sent.get(sent.size() - 1));
        assertEquals("evaluations-through=1", metadata, "the evaluation's offset");
        assertEquals(Map.of(CHECKPOINTS, new OffsetAndMetadata(8, metadata)), lastCommittedOffsets());
        assertEquals(1, EvaluatorProducer.evaluationsThrough(metadata));
    }

    @Test
    void withoutAnEvaluationTheOffsetKeepsThePreviousMetadata() {
        String metadata = producer.commit(CHECKPOINTS, 12, null, List.of(), "evaluations-through=4");
        assertEquals(
                "evaluations-through=4", metadata, "a skipped checkpoint must not hide how far the evaluations reach");
        assertEquals(Map.of(CHECKPOINTS, new OffsetAndMetadata(12, metadata)), lastCommittedOffsets());
        assertEquals(List.of(), mock.history());
    }

    @Test
    void aTransientFailureIsAbortedAndTriedAgainWithoutDuplicates() {
        mock.error = new TimeoutException("broker away");
        mock.failures = 1;

        producer.commit(CHECKPOINTS, 3, evaluation(1), List.of(DEAD_LETTER), "");

        assertEquals(1, mock.aborts);
        assertEquals(1, mock.commitCount());
        assertEquals(
                2, mock.history().size(), "the aborted attempt's records are gone: one evaluation, one dead letter");
        assertEquals(
                new OffsetAndMetadata(3, "evaluations-through=1"),
                lastCommittedOffsets().get(CHECKPOINTS),
                "the aborted evaluation took offset 0: the metadata names the one committed");
    }

    @Test
    void aFailureThatOutlastsTheAttemptsIsThrownAsItIs() {
        mock.error = new KafkaException("still failing");
        mock.failures = EvaluatorProducer.ATTEMPTS;

        KafkaException e =
                assertThrows(KafkaException.class, () -> producer.commit(CHECKPOINTS, 3, evaluation(1), List.of(), ""));

        assertSame(mock.error, e);
        assertFalse(
                e instanceof EvaluatorProducer.FatalException,
                "the caller may still answer the checkpoint with a rejection");
        assertEquals(EvaluatorProducer.ATTEMPTS, mock.aborts);
        assertEquals(0, mock.commitCount());
        assertTrue(mock.consumerGroupOffsetsHistory().isEmpty());
    }

    @Test
    void aFencedProducerIsFatalAndNotTriedAgain() {
        mock.fenceProducer();

        EvaluatorProducer.FatalException e = assertThrows(
                EvaluatorProducer.FatalException.class,
                () -> producer.commit(CHECKPOINTS, 3, evaluation(1), List.of(), ""));

        assertInstanceOf(org.apache.kafka.common.errors.ProducerFencedException.class, e.getCause());
        assertEquals(0, mock.aborts, "a fenced producer cannot abort either");
        assertEquals(0, mock.commitCount());
    }

    @Test
    void anUnauthorizedProducerIsFatal() {
        mock.error = new TransactionalIdAuthorizationException("not yours");
        mock.failures = 1;

        assertThrows(
                EvaluatorProducer.FatalException.class,
                () -> producer.commit(CHECKPOINTS, 3, evaluation(1), List.of(), ""));
        assertEquals(0, mock.aborts);
    }

    @Test
    void aGroupThatMovedOnAbortsAndIsFatal() {
        mock.error = new CommitFailedException("the group rebalanced");
        mock.failures = 1;

        EvaluatorProducer.FatalException e = assertThrows(
                EvaluatorProducer.FatalException.class,
                () -> producer.commit(CHECKPOINTS, 3, evaluation(1), List.of(DEAD_LETTER), ""));

        assertSame(mock.error, e.getCause());
        assertEquals(
                1,
                mock.aborts,
                "aborted, so nothing of it is visible; the partition's new owner answers the checkpoint");
        assertEquals(List.of(), mock.history());
        assertFalse(mock.transactionInFlight());
    }

    private static EvaluationRecord decode(byte[] value) {
        try {
            return Messages.decodeEvaluation(value).orElseThrow();
        } catch (io.streamtrain.core.control.MalformedMessageException e) {
            throw new AssertionError(e);
        }
    }
}
