package io.streamtrain.cli;

import io.streamtrain.core.checkpoint.CheckpointCodec;
import io.streamtrain.core.checkpoint.CheckpointManifest;
import io.streamtrain.core.control.ControlMessage;
import io.streamtrain.core.control.MalformedMessageException;
import io.streamtrain.core.control.Messages;
import io.streamtrain.core.evaluation.EvaluationRecord;
import io.streamtrain.core.kafka.KafkaSettings;
import io.streamtrain.core.kafka.Preflight;
import io.streamtrain.core.kafka.RunTopics;
import io.streamtrain.core.kafka.StartupException;
import io.streamtrain.core.kafka.TopicReader;
import io.streamtrain.core.topics.Topics;
import java.io.IOException;
import java.io.PrintStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code streamtrain ctl}: steer a run through its control topic, and show where it is. */
@Command(name = "ctl", mixinStandardHelpOptions = true, subcommands = {CtlCommand.Stop.class, CtlCommand.Status.class},
        description = "Steer a run through its control topic, and show its state.")
public final class CtlCommand {

    /** What every ctl subcommand needs. */
    static final class Target {
        @Option(names = "--run", required = true, paramLabel = "RUN", description = "The run id.")
        String run;

        @Option(names = "--bootstrap-servers", paramLabel = "HOST:PORT",
                description = "Kafka bootstrap servers (default: $STREAMTRAIN_BOOTSTRAP_SERVERS, else localhost:9092).")
        String bootstrapServers;

        KafkaSettings kafka() {
            return KafkaSettings.fromEnvironment(System.getenv(), bootstrapServers);
        }
    }

    @Command(name = "stop", mixinStandardHelpOptions = true,
            description = "Stop every trainer of a run at its next step boundary; a stopped run is never restarted.")
    static final class Stop implements Callable<Integer> {
        @Mixin
        Target target;

        @Option(names = "--reason", defaultValue = "operator", description = "Why (default: ${DEFAULT-VALUE}).")
        String reason;

        @Override
        public Integer call() throws Exception {
            KafkaSettings kafka = target.kafka();
            try (Admin admin = Preflight.admin(kafka)) {
                Preflight.requireReachable(admin, kafka.bootstrapServers());
                RunTopics.ensure(admin, List.of(RunTopics.control(Topics.control(target.run))));
            } catch (StartupException e) {
                System.err.println("streamtrain: " + e.getMessage());
                return e.exitCode();
            }
            String who = System.getProperty("user.name", "operator");
            ControlMessage.Stop stop = new ControlMessage.Stop(target.run, Messages.newId(), Messages.now(), "operator",
                    reason, null, who);
            try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(kafka.producer())) {
                p.send(new ProducerRecord<>(Topics.control(target.run), Messages.encode(stop))).get(30, TimeUnit.SECONDS);
            }
            System.out.println("STOP " + stop.id() + " sent to run " + target.run + "; `streamtrain ctl status --run "
                    + target.run + "` shows which trainers acknowledged");
            return 0;
        }
    }

    @Command(name = "status", mixinStandardHelpOptions = true,
            description = "Show a run: checkpoints, evaluations, the best checkpoint, the stop and its acknowledgements.")
    static final class Status implements Callable<Integer> {
        @Mixin
        Target target;

        @Override
        public Integer call() {
            KafkaSettings kafka = target.kafka();
            try (Admin admin = Preflight.admin(kafka)) {
                Preflight.requireReachable(admin, kafka.bootstrapServers());
            } catch (StartupException e) {
                System.err.println("streamtrain: " + e.getMessage());
                return e.exitCode();
            }
            PrintStream out = System.out;
            String run = target.run;
            try (KafkaConsumer<byte[], byte[]> reader = new KafkaConsumer<>(kafka.consumer(null))) {
                List<CheckpointManifest> manifests = new ArrayList<>();
                for (ConsumerRecord<byte[], byte[]> r : readAll(reader, Topics.checkpoints(run))) {
                    if (CheckpointCodec.MANIFEST.equals(CheckpointCodec.typeOf(r))) {
                        try {
                            manifests.add(CheckpointCodec.manifestFromJson(r.value()));
                        } catch (IOException e) {
                            out.println("  (unreadable manifest at offset " + r.offset() + ")");
                        }
                    }
                }
                out.printf("run %s: %d checkpoints%s%n", run, manifests.size(), manifests.isEmpty() ? ""
                        : ", last epoch " + manifests.get(manifests.size() - 1).epoch() + " (" + manifests.get(manifests.size() - 1).checkpointId() + ")");
                List<EvaluationRecord> evaluations = new ArrayList<>();
                for (ConsumerRecord<byte[], byte[]> r : readAll(reader, Topics.evaluations(run))) {
                    try {
                        Messages.decodeEvaluation(r.value()).ifPresent(evaluations::add);
                    } catch (MalformedMessageException e) {
                        out.println("  (unreadable evaluation at offset " + r.offset() + ")");
                    }
                }
                if (!evaluations.isEmpty()) {
                    out.println("evaluations:");
                    out.println("  epoch  checkpoint                 val_loss  val_accuracy  train_loss  best(epoch)  patience left  decision");
                    for (EvaluationRecord e : evaluations) {
                        if (!e.evaluated()) {
                            out.printf(Locale.ROOT, "  %5d  %-25s  rejected: %s%n", e.epoch(), e.checkpointId(), e.explanation());
                            continue;
                        }
                        out.printf(Locale.ROOT, "  %5d  %-25s  %8.4f  %12s  %10s  %11s  %13d  %s%n", e.epoch(), e.checkpointId(),
                                e.metrics().getOrDefault("val_loss", Double.NaN),
                                e.metrics().containsKey("val_accuracy") ? String.format(Locale.ROOT, "%.4f", e.metrics().get("val_accuracy")) : "-",
                                e.trainLoss() == null ? "-" : String.format(Locale.ROOT, "%.4f", e.trainLoss()),
                                e.best() == null ? "-" : String.format(Locale.ROOT, "%.4f(%d)", e.best().value(), e.best().epoch()),
                                e.patienceLeft(), e.decision() + (e.reason() == null ? "" : " (" + e.reason() + ")"));
                    }
                }
                List<ControlMessage> control = new ArrayList<>();
                for (ConsumerRecord<byte[], byte[]> r : readAll(reader, Topics.control(run))) {
                    try {
                        Messages.decodeControl(r.value()).ifPresent(control::add);
                    } catch (MalformedMessageException e) {
                        // counted by the trainers; status shows only what it can read
                    }
                }
                Optional<ControlMessage.Stop> stop = control.stream().filter(m -> m instanceof ControlMessage.Stop)
                        .map(m -> (ControlMessage.Stop) m).findFirst();
                if (stop.isEmpty()) {
                    out.println("not stopped");
                } else {
                    ControlMessage.Stop s = stop.get();
                    out.printf("stopped at %s by %s: %s (%s)%n", s.time(), s.source(), s.reason(), s.explanation());
                    if (s.best() != null) {
                        out.printf(Locale.ROOT, "best checkpoint: %s (epoch %d, %s %.4f)%n", s.best().checkpointId(), s.best().epoch(),
                                s.best().metric(), s.best().value());
                    }
                    List<String> acks = control.stream().filter(m -> m instanceof ControlMessage.Ack a && a.command().equals(s.id()))
                            .map(m -> ((ControlMessage.Ack) m).node() + " at step " + ((ControlMessage.Ack) m).step()).toList();
                    out.println("acknowledged by: " + (acks.isEmpty() ? "nobody yet" : String.join(", ", acks)));
                }
            }
            return 0;
        }
    }

    private static List<ConsumerRecord<byte[], byte[]>> readAll(KafkaConsumer<byte[], byte[]> reader, String topic) {
        return TopicReader.readAll(reader, topic, Duration.ofSeconds(30));
    }
}
