package io.streamtrain.trainer.control;

import io.streamtrain.core.control.ControlMessage;
import io.streamtrain.core.control.MalformedMessageException;
import io.streamtrain.core.control.Messages;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
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
 */
public final class ControlFeed implements Runnable {
    private static final Logger log = LoggerFactory.getLogger(ControlFeed.class);
    /** How soon a command is seen: it bounds the STOP latency together with one step. */
    private static final Duration POLL = Duration.ofMillis(100);

    private final org.apache.kafka.clients.consumer.Consumer<byte[], byte[]> consumer;
    private final TopicPartition partition;
    private final String run;
    private final Consumer<ControlMessage> onCommand;
    private final AtomicLong ignored = new AtomicLong();
    private final java.util.concurrent.atomic.AtomicReference<Throwable> failure = new java.util.concurrent.atomic.AtomicReference<>();
    private volatile boolean closed;
    private volatile boolean running;

    /**
     * @param consumer a consumer without a group, owned (and closed) by this feed
     * @param run the run whose control topic this is: a message naming another run is ignored
     * @param onCommand called on the feed's thread for every command (acknowledgements are not commands)
     */
    public ControlFeed(org.apache.kafka.clients.consumer.Consumer<byte[], byte[]> consumer, String run,
            Consumer<ControlMessage> onCommand) {
        this.consumer = consumer;
        this.run = run;
        this.partition = new TopicPartition(io.streamtrain.core.topics.Topics.control(run), 0);
        this.onCommand = onCommand;
    }

    /**
     * Reads the topic to its current end before training starts.
     *
     * @return the messages already on the topic, in order, acknowledgements included: a
     *     starting trainer replays the commands (a STOP among them means the run is over)
     */
    public List<ControlMessage> catchUp(Duration timeout) {
        consumer.assign(List.of(partition));
        consumer.seekToBeginning(List.of(partition));
        long end = consumer.endOffsets(List.of(partition), timeout).get(partition);
        List<ControlMessage> history = new java.util.ArrayList<>();
        long deadline = System.nanoTime() + timeout.toNanos();
        while (consumer.position(partition, timeout) < end) {
            if (System.nanoTime() > deadline) {
                throw new org.apache.kafka.common.errors.TimeoutException("reading " + partition.topic() + " took longer than " + timeout);
            }
            for (ConsumerRecord<byte[], byte[]> r : consumer.poll(POLL)) {
                if (r.offset() < end) {
                    decode(r).ifPresent(history::add);
                }
            }
        }
        // anything polled past the end was dropped: read it again in run()
        consumer.seek(partition, end);
        return history;
    }

    @Override
    public void run() {
        try {
            while (!closed) {
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(POLL)) {
                    decode(r).filter(m -> !(m instanceof ControlMessage.Ack)).ifPresent(onCommand);
                }
            }
        } catch (WakeupException e) {
            if (!closed) {
                throw e;
            }
        } catch (RuntimeException e) {
            failure.set(e);
            log.error("the control feed stopped: {}; the trainer exits so that its restart reads the control topic again", e.toString(), e);
        } finally {
            consumer.close(Duration.ofSeconds(2));
        }
    }

    /** What stopped the feed, if it failed: the trainer must not train on without it. */
    public Throwable failure() {
        return failure.get();
    }

    /** Control messages ignored so far (malformed, or of a type this version does not know). */
    public long ignored() {
        return ignored.get();
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
                log.warn("control message at offset {} of {} names run {}; ignoring it", r.offset(), partition.topic(),
                        io.streamtrain.core.logging.Logs.escape(m.get().run()));
                return Optional.empty();
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
            consumer.close(Duration.ofSeconds(2));
        }
    }
}
