package io.streamtrain.evaluator;

import io.streamtrain.core.evaluation.EvaluationRecord;
import io.streamtrain.core.protocol.Messages;
import io.streamtrain.core.signing.Signing;
import io.streamtrain.core.topics.Topics;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.apache.kafka.clients.consumer.CommitFailedException;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.AuthorizationException;
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.errors.OutOfOrderSequenceException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.errors.UnsupportedVersionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one owner of the evaluator's transactional producer: every checkpoint is answered in
 * one transaction — its evaluation, the other records, and the group's offset past it — so
 * a crash leaves all of it or none. Errors are sorted by what can be done: a fenced or
 * unauthorized producer, or a group that moved on, is {@link FatalException} (the restart
 * rebuilds the state from what was committed); anything else aborts the transaction and
 * tries it again, up to {@link #ATTEMPTS} times, then is thrown as it is.
 */
final class EvaluatorProducer {
    private static final Logger log = LoggerFactory.getLogger(EvaluatorProducer.class);
    /** The offset metadata prefix: where the run's evaluations have got to, so whoever takes the run over reads that far. */
    static final String EVALUATIONS_THROUGH = "evaluations-through=";

    static final int ATTEMPTS = 3;

    /** The producer cannot go on, or the transaction kept failing: the evaluator must stop (and be restarted). */
    static final class FatalException extends KafkaException {
        private static final long serialVersionUID = 1L;

        FatalException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    private final Producer<byte[], byte[]> producer;
    private final Supplier<ConsumerGroupMetadata> group;
    private final Duration timeout;
    private final Duration backoff;
    private final Signing signing;

    /**
     * @param producer transactional; closed by the caller
     * @param group the group metadata of the consumer whose offsets the transactions commit
     * @param timeout how long to wait for the evaluation's offset
     * @param backoff the pause before trying a failed transaction again
     */
    EvaluatorProducer(
            Producer<byte[], byte[]> producer,
            Supplier<ConsumerGroupMetadata> group,
            Duration timeout,
            Duration backoff) {
        this(producer, group, timeout, backoff, Signing.off());
    }

    /** @param signing signs every record it writes (evaluations and STOPs are what readers check) */
    EvaluatorProducer(
            Producer<byte[], byte[]> producer,
            Supplier<ConsumerGroupMetadata> group,
            Duration timeout,
            Duration backoff,
            Signing signing) {
        this.signing = signing;
        this.producer = producer;
        this.group = group;
        this.timeout = timeout;
        this.backoff = backoff;
    }

    void initTransactions() {
        producer.initTransactions();
    }

    /**
     * Answers one record of a checkpoint topic in one transaction: {@code evaluation} (if
     * any) on its run's evaluations topic, then {@code others}, and the group's offset of
     * {@code consumed} moved to {@code next}, with metadata that names the evaluation's
     * offset (or, with no evaluation, {@code previous} again).
     *
     * @param previous the metadata committed last on {@code consumed}
     * @return the metadata committed
     * @throws FatalException if the producer cannot go on or the group moved on
     * @throws KafkaException what the last of {@link #ATTEMPTS} failed transactions threw
     */
    String commit(
            TopicPartition consumed,
            long next,
            EvaluationRecord evaluation,
            List<ProducerRecord<byte[], byte[]>> others,
            String previous) {
        for (int attempt = 1; ; attempt++) {
            try {
                return once(consumed, next, evaluation, others, previous);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                abort(e);
                throw new FatalException("interrupted while publishing an evaluation", e);
            } catch (ExecutionException e) {
                // the evaluation's send failed: its cause says whether the producer can go on
                KafkaException cause = e.getCause() instanceof KafkaException k
                        ? k
                        : new KafkaException("could not publish an evaluation: " + e.getMessage(), e.getCause());
                retryOrThrow(cause, attempt);
            } catch (java.util.concurrent.TimeoutException e) {
                retryOrThrow(new KafkaException("could not publish an evaluation within " + timeout, e), attempt);
            } catch (KafkaException e) {
                retryOrThrow(e, attempt);
            }
        }
    }

    @SuppressWarnings("FutureReturnValueIgnored") // a send that fails fails the transaction's commit
    private String once(
            TopicPartition consumed,
            long next,
            EvaluationRecord evaluation,
            List<ProducerRecord<byte[], byte[]>> others,
            String previous)
            throws InterruptedException, ExecutionException, java.util.concurrent.TimeoutException {
        producer.beginTransaction();
        long evaluationOffset = -1;
        if (evaluation != null) {
            ProducerRecord<byte[], byte[]> p = new ProducerRecord<>(
                    Topics.evaluations(evaluation.run()),
                    evaluation.run().getBytes(StandardCharsets.UTF_8),
                    Messages.encode(evaluation));
            // its offset goes into the offset's metadata, so it is needed before the commit
            evaluationOffset = producer.send(signing.sign(p))
                    .get(timeout.toMillis(), TimeUnit.MILLISECONDS)
                    .offset();
        }
        for (ProducerRecord<byte[], byte[]> p : others) {
            producer.send(signing.sign(p));
        }
        String metadata = evaluationOffset >= 0 ? EVALUATIONS_THROUGH + evaluationOffset : previous;
        producer.sendOffsetsToTransaction(Map.of(consumed, new OffsetAndMetadata(next, metadata)), group.get());
        producer.commitTransaction();
        return metadata;
    }

    private void retryOrThrow(KafkaException e, int attempt) {
        if (e instanceof ProducerFencedException
                || e instanceof InvalidProducerEpochException
                || e instanceof OutOfOrderSequenceException
                || e instanceof AuthorizationException
                || e instanceof UnsupportedVersionException) {
            // another instance took the transactional id over, or the
            // broker refuses it: nothing to abort, nothing to retry
            throw new FatalException("the evaluator's producer cannot go on: " + e, e);
        }
        abort(e);
        if (e instanceof CommitFailedException) {
            // the group moved on: its new owner reads the checkpoint again
            throw new FatalException("the offset of a checkpoint could not be committed: " + e.getMessage(), e);
        }
        if (attempt >= ATTEMPTS) {
            throw e; // not transient after all: the caller may answer the checkpoint otherwise
        }
        log.warn(
                "publishing an evaluation failed ({}); aborted, trying again in {} ms",
                e.toString(),
                backoff.toMillis());
        try {
            Thread.sleep(backoff.toMillis());
        } catch (InterruptedException x) {
            Thread.currentThread().interrupt();
            throw new FatalException("interrupted while publishing an evaluation", x);
        }
    }

    /** A producer that cannot abort cannot be trusted with another transaction. */
    private void abort(Exception cause) {
        try {
            producer.abortTransaction();
        } catch (RuntimeException e) {
            FatalException fatal = new FatalException("could not abort a failed transaction: " + e, cause);
            fatal.addSuppressed(e);
            throw fatal;
        }
    }

    /** The offset of the run's last committed evaluation, from the metadata of a committed offset; -1 if it names none. */
    static long evaluationsThrough(String metadata) {
        if (metadata == null || !metadata.startsWith(EVALUATIONS_THROUGH)) {
            return -1;
        }
        try {
            return Long.parseLong(metadata.substring(EVALUATIONS_THROUGH.length()));
        } catch (NumberFormatException e) {
            return -1;
        }
    }
}
