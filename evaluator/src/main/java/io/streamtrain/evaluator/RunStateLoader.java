package io.streamtrain.evaluator;

import io.streamtrain.core.control.MalformedMessageException;
import io.streamtrain.core.evaluation.EvaluationRecord;
import io.streamtrain.core.kafka.TopicReader;
import io.streamtrain.core.logging.Logs;
import io.streamtrain.core.protocol.Messages;
import io.streamtrain.core.signing.Right;
import io.streamtrain.core.signing.Signing;
import io.streamtrain.core.signing.Verdict;
import io.streamtrain.core.topics.Topics;
import io.streamtrain.evaluator.policy.Evaluation;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Rebuilds what the evaluator knows of a run when it takes the run up (at start, or after a
 * rebalance): the early-stopping history and validation plan from the run's evaluations
 * topic, read at least as far as the group's committed offset says the run's evaluations
 * reach, and any STOP from its control topic. So a restarted evaluator decides exactly as
 * one that never stopped, and evaluates no checkpoint twice.
 */
final class RunStateLoader {
    private static final Logger log = LoggerFactory.getLogger(RunStateLoader.class);
    private static final Duration RETRY = Duration.ofMillis(100);

    private final Consumer<byte[], byte[]> group;
    private final Consumer<byte[], byte[]> reader;
    private final StopFeed stops;
    private final EvaluatorEvents events;
    private final Duration timeout;
    private final Signing signing;

    /**
     * @param group the consumer of the checkpoint topics, in the evaluators' group: its committed offsets
     * @param reader outside any group, reading committed records only
     */
    RunStateLoader(
            Consumer<byte[], byte[]> group,
            Consumer<byte[], byte[]> reader,
            StopFeed stops,
            EvaluatorEvents events,
            Duration timeout) {
        this(group, reader, stops, events, timeout, Signing.off());
    }

    /** @param signing whose evaluations are believed: with signatures checked, only those signed by a key trusted with {@code evaluation} */
    RunStateLoader(
            Consumer<byte[], byte[]> group,
            Consumer<byte[], byte[]> reader,
            StopFeed stops,
            EvaluatorEvents events,
            Duration timeout,
            Signing signing) {
        this.signing = signing;
        this.group = group;
        this.reader = reader;
        this.stops = stops;
        this.events = events;
        this.timeout = timeout;
    }

    /**
     * @param monitor the run's {@code earlyStopping.monitor}: the history's values
     * @throws TimeoutException if the run's last committed evaluation does not become readable
     */
    RunState load(String run, String monitor) {
        events.serving(run);
        String committed = committedMetadata(run);
        long through = EvaluatorProducer.evaluationsThrough(committed);
        List<ConsumerRecord<byte[], byte[]>> evaluations =
                TopicReader.readAll(reader, Topics.evaluations(run), timeout);
        long deadline = System.nanoTime() + timeout.toNanos();
        while (through >= 0 && evaluations.stream().noneMatch(r -> r.offset() >= through)) {
            if (System.nanoTime() > deadline) {
                throw new TimeoutException("run " + run + ": its last committed evaluation (offset " + through
                        + ") is not readable after " + timeout);
            }
            sleep(RETRY); // its transaction's commit marker has not reached the evaluations topic yet
            evaluations = TopicReader.readAll(reader, Topics.evaluations(run), timeout);
        }
        RunState s = new RunState(run);
        s.committedMetadata = committed;
        EvaluationRecord lastEvaluated = rebuild(
                s,
                monitor,
                evaluations.stream()
                        .filter(r -> {
                            Verdict v = signing.verify(r, Right.EVALUATION);
                            if (!v.accepted()) {
                                log.warn(
                                        "run {}: evaluation record at offset {} is refused: {}; it does not count",
                                        run,
                                        r.offset(),
                                        v.refusal());
                            }
                            return v.accepted();
                        })
                        .toList());
        // a run an operator stopped is over for the evaluator too: no second STOP
        stops.follow(run, timeout).ifPresent(stop -> s.stop = stop);
        s.stopped |= s.stop != null;
        if (!s.history.isEmpty() || s.stopped) {
            log.info(
                    "run {}: {} evaluations so far{}",
                    run,
                    s.history.size(),
                    s.stopped ? "; the run was stopped by " + s.stoppedBy() : "");
        }
        if (lastEvaluated != null) {
            events.restored(lastEvaluated);
        }
        if (s.stopped) {
            events.stopped(
                    run, s.stop != null ? s.stop.reason() : lastEvaluated == null ? null : lastEvaluated.reason());
        }
        return s;
    }

    /**
     * Replays a run's evaluations topic into {@code s}: an epoch counts once (its first
     * evaluation), the first record with a plan fixed it, and a STOP decision stops the run.
     *
     * @return the last evaluation of an epoch, or null if there is none
     */
    static EvaluationRecord rebuild(RunState s, String monitor, List<ConsumerRecord<byte[], byte[]>> evaluations) {
        EvaluationRecord lastEvaluated = null;
        for (ConsumerRecord<byte[], byte[]> r : evaluations) {
            Optional<EvaluationRecord> e;
            try {
                e = Messages.decodeEvaluation(r.value());
            } catch (MalformedMessageException x) {
                log.warn(
                        "run {}: unreadable record at offset {} of {}: {}; ignoring it",
                        s.run,
                        r.offset(),
                        r.topic(),
                        x.getMessage());
                continue;
            }
            if (e.isEmpty()) {
                continue;
            }
            EvaluationRecord ev = e.get();
            if (s.plan == null) {
                s.plan = ev.validation();
            }
            try {
                s.restoreContract(ev.contract());
            } catch (RuntimeException bad) {
                log.warn(
                        "run {}: the contract in the evaluation at offset {} does not parse ({}); ignoring it",
                        s.run,
                        r.offset(),
                        Logs.escape(bad.getMessage()));
            }
            if (EvaluationRecord.SNAPSHOT.equals(ev.status())) {
                s.deadLettersWritten = true; // a snapshot's evaluation wrote them, as a first evaluation does
            }
            if (!ev.evaluated()) {
                continue;
            }
            lastEvaluated = ev;
            s.promoted(ev);
            if (!s.evaluated(ev.epoch())) {
                Double v = ev.metrics() == null ? null : ev.metrics().get(monitor);
                s.history.add(new Evaluation(
                        ev.epoch(),
                        ev.checkpointId(),
                        v == null ? Double.NaN : v,
                        ev.trainLoss() == null ? Double.NaN : ev.trainLoss()));
                s.deadLettersWritten = true;
            }
            s.stopped |= EvaluationRecord.STOP.equals(ev.decision());
        }
        return lastEvaluated;
    }

    /**
     * The metadata of the group's committed offset on the run's checkpoint topic (partition
     * 0: it has one); empty when nothing was committed.
     */
    private String committedMetadata(String run) {
        TopicPartition tp = new TopicPartition(Topics.checkpoints(run), 0);
        OffsetAndMetadata committed = group.committed(Set.of(tp), timeout).get(tp);
        return committed == null || committed.metadata() == null ? "" : committed.metadata();
    }

    private static void sleep(Duration d) {
        try {
            Thread.sleep(d.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }
}
