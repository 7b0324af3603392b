package io.streamtrain.trainer.control;

import io.streamtrain.core.control.ControlMessage;
import io.streamtrain.core.control.MalformedMessageException;
import io.streamtrain.core.protocol.Messages;
import io.streamtrain.core.signing.Right;
import io.streamtrain.core.signing.Signing;
import io.streamtrain.core.signing.Verdict;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The trainer's side of the run's control topic: reads it from the beginning (so a run
 * that was stopped stays stopped) and hands each command to the trainer on its own thread,
 * within one poll interval of its being written. Malformed and unknown messages are
 * logged, counted and skipped, never fatal.
 *
 * <p>When signatures are checked ({@link Signing}), a message is acted on only when a key
 * trusted with its right signed it (a STOP needs {@code stop}, an acknowledgement
 * {@code ack}, an evaluation {@code evaluation}); the rest is logged and counted as
 * {@link #refused()}, never acted on. A command whose id was seen before is a replay of a
 * message already read (a signed PAUSE written again after a RESUME) and is ignored too.
 *
 * <p>With {@code evaluation.maxLag} set it follows the run's evaluations topic too, on the
 * same consumer: the last epoch the evaluator has dealt with (scored or rejected) is what
 * holds a trainer back when it runs too far ahead.
 */
public final class ControlFeed implements Runnable {
    private static final Logger log = LoggerFactory.getLogger(ControlFeed.class);
    /** How soon a command is seen: it bounds the STOP latency together with one step. */
    private static final Duration POLL = Duration.ofMillis(100);

    private final org.apache.kafka.clients.consumer.Consumer<byte[], byte[]> consumer;
    private final TopicPartition partition;
    /** The run's evaluations, or null when this feed does not follow them. */
    private final TopicPartition evaluations;

    private final java.util.concurrent.atomic.AtomicInteger lastEvaluated =
            new java.util.concurrent.atomic.AtomicInteger();
    private final String run;
    private final Consumer<ControlMessage> onCommand;
    private final AtomicLong ignored = new AtomicLong();
    private final AtomicLong refused = new AtomicLong();
    private final Signing signing;
    /** The ids of the commands read so far, with who signed each ("" when not checked): replays are ignored, acks name the signer. */
    private final java.util.Map<String, String> signers = new java.util.concurrent.ConcurrentHashMap<>();

    private final java.util.concurrent.atomic.AtomicReference<Throwable> failure =
            new java.util.concurrent.atomic.AtomicReference<>();
    private volatile boolean closed;
    private volatile boolean running;

    /**
     * @param consumer a consumer without a group, owned (and closed) by this feed
     * @param run the run whose control topic this is: a message naming another run is ignored
     * @param onCommand called on the feed's thread for every command (acknowledgements are not commands)
     */
    public ControlFeed(
            org.apache.kafka.clients.consumer.Consumer<byte[], byte[]> consumer,
            String run,
            Consumer<ControlMessage> onCommand) {
        this(consumer, run, onCommand, false);
    }

    /** @param followEvaluations whether to follow the run's evaluations as well ({@link #lastEvaluatedEpoch()}) */
    public ControlFeed(
            org.apache.kafka.clients.consumer.Consumer<byte[], byte[]> consumer,
            String run,
            Consumer<ControlMessage> onCommand,
            boolean followEvaluations) {
        this(consumer, run, onCommand, followEvaluations, Signing.off());
    }

    /** @param signing whose messages are believed (and whether signatures are checked at all) */
    public ControlFeed(
            org.apache.kafka.clients.consumer.Consumer<byte[], byte[]> consumer,
            String run,
            Consumer<ControlMessage> onCommand,
            boolean followEvaluations,
            Signing signing) {
        this.signing = signing;
        this.consumer = consumer;
        this.run = run;
        this.partition = new TopicPartition(io.streamtrain.core.topics.Topics.control(run), 0);
        this.evaluations =
                followEvaluations ? new TopicPartition(io.streamtrain.core.topics.Topics.evaluations(run), 0) : null;
        this.onCommand = onCommand;
    }

    /** The highest epoch whose checkpoint the evaluator has scored or rejected (0: none yet, or not followed). */
    public int lastEvaluatedEpoch() {
        return lastEvaluated.get();
    }

    /**
     * Reads the topic to its current end before training starts.
     *
     * @return the messages already on the topic, in order, acknowledgements included: a
     *     starting trainer replays the commands (a STOP among them means the run is over)
     */
    public List<ControlMessage> catchUp(Duration timeout) {
        List<TopicPartition> read = evaluations == null ? List.of(partition) : List.of(partition, evaluations);
        consumer.assign(read);
        consumer.seekToBeginning(read);
        java.util.Map<TopicPartition, Long> ends = consumer.endOffsets(read, timeout);
        List<ControlMessage> history = new java.util.ArrayList<>();
        long deadline = System.nanoTime() + timeout.toNanos();
        while (read.stream().anyMatch(tp -> consumer.position(tp, timeout) < ends.get(tp))) {
            if (System.nanoTime() > deadline) {
                throw new org.apache.kafka.common.errors.TimeoutException(
                        "reading " + partition.topic() + " took longer than " + timeout);
            }
            for (ConsumerRecord<byte[], byte[]> r : consumer.poll(POLL)) {
                if (evaluations != null && r.topic().equals(evaluations.topic())) {
                    evaluated(r); // every one counts, past the end too: it only tells how far the evaluator is
                } else if (r.offset() < ends.get(partition)) {
                    decode(r).ifPresent(history::add);
                }
            }
        }
        // anything polled past the end was dropped: read it again in run()
        consumer.seek(partition, ends.get(partition));
        return history;
    }

    /** An evaluation record: how far the evaluator is. Snapshots and other runs' records do not count; unreadable ones are skipped. */
    private void evaluated(ConsumerRecord<byte[], byte[]> r) {
        if (!verdict(r, Right.EVALUATION).accepted()) {
            return;
        }
        try {
            Messages.decodeEvaluation(r.value())
                    .filter(e -> e.settlesEpochOf(run))
                    .ifPresent(e -> lastEvaluated.accumulateAndGet(e.epoch(), Math::max));
        } catch (MalformedMessageException e) {
            ignored.incrementAndGet();
            log.warn(
                    "malformed evaluation record at offset {} of {}: {}; ignoring it",
                    r.offset(),
                    r.topic(),
                    e.getMessage());
        }
    }

    @Override
    public void run() {
        try {
            while (!closed) {
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(POLL)) {
                    if (evaluations != null && r.topic().equals(evaluations.topic())) {
                        evaluated(r);
                    } else {
                        // other nodes' acknowledgements too: a ROLLBACK one carried out, or a SET one answered as
                        // failed, concerns all
                        decode(r).ifPresent(onCommand);
                    }
                }
            }
        } catch (WakeupException e) {
            if (!closed) {
                throw e;
            }
        } catch (RuntimeException e) {
            failure.set(e);
            log.error(
                    "the control feed stopped: {}; the trainer exits so that its restart reads the control topic again",
                    e.toString(),
                    e);
        } finally {
            consumer.close(CloseOptions.timeout(Duration.ofSeconds(2)));
        }
    }

    /** What stopped the feed, if it failed: the trainer must not train on without it. */
    public Throwable failure() {
        return failure.get();
    }

    /** Control messages ignored so far (malformed, of a type this version does not know, or a replay of one read before). */
    public long ignored() {
        return ignored.get();
    }

    /** Control messages and evaluations refused so far for their signature (missing, unknown key, or a key without the right). */
    public long refused() {
        return refused.get();
    }

    /**
     * Who signed command {@code id}, as this feed verified it: what its acknowledgement names.
     * Null when signatures are not checked or the command was not read here.
     */
    public String signerOf(String id) {
        String s = signers.get(id);
        return s == null || s.isEmpty() ? null : s;
    }

    /** The verdict on {@code r}'s signature; a refusal is logged and counted. */
    private Verdict verdict(ConsumerRecord<byte[], byte[]> r, Right needed) {
        Verdict v = signing.verify(r, needed);
        if (!v.accepted()) {
            refused.incrementAndGet();
            log.warn(
                    "{} at offset {} of {} is refused: {}; not acted on",
                    needed.label(),
                    r.offset(),
                    r.topic(),
                    v.refusal());
        }
        return v;
    }

    private Optional<ControlMessage> decode(ConsumerRecord<byte[], byte[]> r) {
        try {
            Optional<ControlMessage> m = Messages.decodeControl(r.value());
            if (m.isEmpty()) {
                ignored.incrementAndGet();
                log.info("control message at offset {} has a type this trainer does not know; ignoring it", r.offset());
            } else if (!run.equals(m.get().run())) {
                // whoever may write this topic does not speak for another run, nor for none
                ignored.incrementAndGet();
                log.warn(
                        "control message at offset {} of {} names run {}; ignoring it",
                        r.offset(),
                        partition.topic(),
                        io.streamtrain.core.logging.Logs.escape(m.get().run()));
                return Optional.empty();
            }
            Right needed = Right.neededBy(m.get());
            Verdict v = verdict(r, needed);
            if (!v.accepted()) {
                return Optional.empty();
            }
            if (needed != Right.ACK) {
                if (signers.putIfAbsent(m.get().id(), Objects.requireNonNullElse(v.signer(), "")) != null) {
                    ignored.incrementAndGet();
                    log.warn(
                            "control message at offset {} of {} repeats command {}, read before; ignoring it",
                            r.offset(),
                            partition.topic(),
                            io.streamtrain.core.logging.Logs.escape(m.get().id()));
                    return Optional.empty();
                }
            }
            return m;
        } catch (MalformedMessageException e) {
            ignored.incrementAndGet();
            log.warn("malformed control message at offset {}: {}; ignoring it", r.offset(), e.getMessage());
            return Optional.empty();
        }
    }

    /** Runs the feed on a daemon thread of its own. */
    public Thread start(String threadName) {
        running = true;
        Thread t = new Thread(this, threadName);
        t.setDaemon(true);
        t.start();
        return t;
    }

    /** Ends {@link #run()}, which closes the consumer; a feed never {@link #start}ed closes it here. */
    public void close() {
        closed = true;
        if (running) {
            consumer.wakeup();
        } else {
            consumer.close(CloseOptions.timeout(Duration.ofSeconds(2)));
        }
    }
}
