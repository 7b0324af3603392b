package io.streamtrain.trainer;

import static io.streamtrain.core.logging.Logs.escape;

import io.streamtrain.core.control.ControlMessage;
import io.streamtrain.core.kafka.KafkaSettings;
import io.streamtrain.core.protocol.Messages;
import io.streamtrain.core.signing.Signing;
import io.streamtrain.core.topics.Topics;
import io.streamtrain.trainer.control.ControlFeed;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A node's side of the run's control topic: the commands (read from the topic's beginning,
 * then as they come, on a thread of their own) and the node's acknowledgements of them.
 */
final class ControlChannel implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ControlChannel.class);
    private static final Duration ACK_TIMEOUT = Duration.ofSeconds(10);

    private final String run;
    private final String node;
    private final String topic;
    private final ControlFeed feed;
    private final Producer<byte[], byte[]> acks;
    private final Signing signing;

    /** @param followEvaluations whether to follow the run's evaluations too ({@code evaluation.maxLag}) */
    static ControlChannel open(
            KafkaSettings kafka,
            String run,
            String node,
            Consumer<ControlMessage> onCommand,
            boolean followEvaluations) {
        return new ControlChannel(
                new KafkaConsumer<>(kafka.reader()),
                new KafkaProducer<>(kafka.ackProducer()),
                run,
                node,
                onCommand,
                followEvaluations,
                kafka.signing());
    }

    /** Over the given clients, owned (and closed) by this channel. */
    ControlChannel(
            org.apache.kafka.clients.consumer.Consumer<byte[], byte[]> reader,
            Producer<byte[], byte[]> acks,
            String run,
            String node,
            Consumer<ControlMessage> onCommand) {
        this(reader, acks, run, node, onCommand, false, Signing.off());
    }

    /** @param signing checks the commands and evaluations read, and signs the acknowledgements written */
    ControlChannel(
            org.apache.kafka.clients.consumer.Consumer<byte[], byte[]> reader,
            Producer<byte[], byte[]> acks,
            String run,
            String node,
            Consumer<ControlMessage> onCommand,
            boolean followEvaluations,
            Signing signing) {
        this.run = run;
        this.node = node;
        this.topic = Topics.control(run);
        this.feed = new ControlFeed(reader, run, onCommand, followEvaluations, signing);
        this.acks = acks;
        this.signing = signing;
    }

    /** The topic up to its current end, acknowledgements included, in order. */
    List<ControlMessage> history() {
        return feed.catchUp(NodePorts.READ_TIMEOUT);
    }

    /** From here on, every new command goes to {@code onCommand} within one poll interval of its being written. */
    void start() {
        feed.start("streamtrain-control-" + node);
    }

    /** What stopped the reading of commands, if it failed: the node must not train on without it (a STOP would go unseen). */
    Throwable failure() {
        return feed.failure();
    }

    ControlFeed feed() {
        return feed;
    }

    /** The highest epoch the evaluator has scored or rejected, as far as this node has read (0: none). */
    int lastEvaluatedEpoch() {
        return feed.lastEvaluatedEpoch();
    }

    /**
     * Tells the run (evaluator, operators) what this node did with a command, naming who
     * signed the command when signatures are checked. Not in a
     * transaction: an acknowledgement needs no atomicity, and a node killed mid-transaction
     * would hold back every read_committed reader of the control topic (other nodes' STOP
     * included) until the transaction timed out. A failure is logged, never fatal.
     */
    void acknowledge(String command, long step, String outcome) {
        ControlMessage.Ack ack = new ControlMessage.Ack(
                run, Messages.newId(), Messages.now(), command, node, step, outcome, feed.signerOf(command));
        try {
            acks.send(signing.sign(new ProducerRecord<>(topic, Messages.encode(ack))))
                    .get(ACK_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException | RuntimeException e) {
            log.warn("could not acknowledge command {}: {}", escape(command), e.toString());
        }
    }

    @Override
    public void close() {
        try {
            feed.close();
        } finally {
            // bounded, so SIGTERM's grace period holds even with the broker away
            acks.close(NodePorts.CLOSE_TIMEOUT);
        }
    }
}
