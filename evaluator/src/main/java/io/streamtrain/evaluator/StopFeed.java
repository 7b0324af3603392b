package io.streamtrain.evaluator;

import io.streamtrain.core.control.ControlMessage;
import io.streamtrain.core.control.MalformedMessageException;
import io.streamtrain.core.logging.Logs;
import io.streamtrain.core.protocol.Messages;
import io.streamtrain.core.signing.Right;
import io.streamtrain.core.signing.Signing;
import io.streamtrain.core.signing.Verdict;
import io.streamtrain.core.topics.Topics;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TimeoutException;

/**
 * The STOPs on the control topics of the runs the evaluator holds — its own and operators'
 * — read from the beginning when it takes a run up and followed from then on, so a STOP
 * written while the evaluator runs ends the run's evaluations at once, as it would after a
 * restart. Only partition 0 is read: the control topic has one, and the trainers read no other.
 * Not thread-safe: the evaluator's service thread alone uses it.
 */
final class StopFeed {
    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(StopFeed.class);
    private final Consumer<byte[], byte[]> consumer;
    private final Signing signing;
    private final Map<TopicPartition, String> runs = new HashMap<>();
    /** Per run, its first STOP. */
    private final Map<String, ControlMessage.Stop> stops = new HashMap<>();
    /** Per run, its first registration (a REGISTER that is a valid spec of the run). */
    private final Map<String, ControlMessage.Register> registrations = new HashMap<>();

    /** @param consumer outside any group, reading committed records only; closed by the caller */
    StopFeed(Consumer<byte[], byte[]> consumer) {
        this(consumer, Signing.off());
    }

    /** @param signing whose STOPs are believed: with signatures checked, only one signed by a key trusted with {@code stop} */
    StopFeed(Consumer<byte[], byte[]> consumer, Signing signing) {
        this.consumer = consumer;
        this.signing = signing;
    }

    /**
     * Follows {@code run}'s control topic from its beginning, reading it to its end now.
     *
     * @return the run's first STOP, if it has one
     */
    Optional<ControlMessage.Stop> follow(String run, Duration timeout) {
        TopicPartition tp = partition(run);
        stops.remove(run);
        registrations.remove(run);
        runs.put(tp, run);
        consumer.assign(runs.keySet());
        consumer.seekToBeginning(List.of(tp));
        return readToEnd(run, timeout);
    }

    /**
     * Reads {@code run}'s control topic to its end now (what other runs' topics hold by then
     * is taken too), so a STOP written before this call is seen.
     *
     * @return the run's first STOP, if it has one
     * @throws TimeoutException if the end is not reached within {@code timeout}
     */
    Optional<ControlMessage.Stop> readToEnd(String run, Duration timeout) {
        TopicPartition tp = partition(run);
        long end = consumer.endOffsets(List.of(tp), timeout).getOrDefault(tp, 0L);
        long deadline = System.nanoTime() + timeout.toNanos();
        while (consumer.position(tp, timeout) < end) {
            if (System.nanoTime() > deadline) {
                throw new TimeoutException(
                        "reading " + tp.topic() + ": its end (offset " + end + ") not reached within " + timeout);
            }
            take(consumer.poll(Duration.ofMillis(100)));
        }
        return Optional.ofNullable(stops.get(run));
    }

    /** What the followed topics brought since the last look, without waiting: the first STOP of each run newly stopped. */
    List<ControlMessage.Stop> poll() {
        return runs.isEmpty() ? List.of() : take(consumer.poll(Duration.ZERO));
    }

    /** The run's first registration read so far (one written later is seen by the next read or poll). */
    Optional<ControlMessage.Register> registration(String run) {
        return Optional.ofNullable(registrations.get(run));
    }

    /** Stops following {@code run} (another evaluator instance took it over). */
    void forget(String run) {
        if (runs.remove(partition(run)) != null) {
            consumer.assign(runs.keySet());
        }
        stops.remove(run);
        registrations.remove(run);
    }

    private List<ControlMessage.Stop> take(ConsumerRecords<byte[], byte[]> records) {
        List<ControlMessage.Stop> fresh = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> r : records) {
            String run = runs.get(new TopicPartition(r.topic(), r.partition()));
            if (run == null) {
                continue;
            }
            ControlMessage m;
            try {
                m = Messages.decodeControl(r.value()).orElse(null);
            } catch (MalformedMessageException e) {
                continue; // the trainers count and skip it
            }
            // a message naming another run is ignored: whoever may
            // write this run's topic does not speak for another run
            if (m instanceof ControlMessage.Register reg
                    && !registrations.containsKey(run)
                    && run.equals(reg.run())
                    && trusted(r, Right.REGISTER)
                    && valid(reg)) {
                registrations.put(run, reg);
            } else if (m instanceof ControlMessage.Stop stop
                    && !stops.containsKey(run)
                    && run.equals(stop.run())
                    && trusted(r, Right.STOP)) {
                stops.put(run, stop);
                fresh.add(stop);
            }
        }
        return fresh;
    }

    private boolean trusted(ConsumerRecord<byte[], byte[]> r, Right right) {
        Verdict v = signing.verify(r, right);
        if (!v.accepted()) {
            log.warn(
                    "{} at offset {} of {} is refused: {}; {}",
                    right.name(),
                    r.offset(),
                    r.topic(),
                    v.refusal(),
                    right == Right.STOP ? "the run goes on" : "it does not count");
        }
        return v.accepted();
    }

    private static boolean valid(ControlMessage.Register reg) {
        String invalid = reg.invalidity();
        if (invalid != null) {
            log.warn(
                    "REGISTER {} of run {} is not a valid spec of the run ({}); it does not count",
                    Logs.escape(reg.id()),
                    Logs.escape(reg.run()),
                    Logs.escape(invalid));
        }
        return invalid == null;
    }

    private static TopicPartition partition(String run) {
        return new TopicPartition(Topics.control(run), 0);
    }
}
