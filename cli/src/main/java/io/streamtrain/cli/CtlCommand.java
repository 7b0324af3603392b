package io.streamtrain.cli;

import io.streamtrain.core.checkpoint.CheckpointManifest;
import io.streamtrain.core.checkpoint.RunCheckpoints;
import io.streamtrain.core.control.ControlMessage;
import io.streamtrain.core.control.MalformedMessageException;
import io.streamtrain.core.evaluation.EvaluationRecord;
import io.streamtrain.core.evaluation.PromotedModel;
import io.streamtrain.core.kafka.KafkaOptions;
import io.streamtrain.core.kafka.KafkaSettings;
import io.streamtrain.core.kafka.Preflight;
import io.streamtrain.core.kafka.RunTopics;
import io.streamtrain.core.kafka.StartupException;
import io.streamtrain.core.kafka.TopicReader;
import io.streamtrain.core.protocol.CheckpointCodec;
import io.streamtrain.core.protocol.Messages;
import io.streamtrain.core.signing.Right;
import io.streamtrain.core.signing.SigningKey;
import io.streamtrain.core.signing.Verdict;
import io.streamtrain.core.spec.RunContract;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.core.spec.RunSpecParser;
import io.streamtrain.core.spec.SpecException;
import io.streamtrain.core.topics.Topics;
import io.streamtrain.trainer.control.Settings;
import java.io.IOException;
import java.io.PrintWriter;
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
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code streamtrain ctl}: steer a run through its control topic, and show where it is. */
@Command(
        footer = {
            "",
            "Examples:",
            "  streamtrain ctl status --run fashion-mlp-01 --bootstrap-servers kafka:9092",
            "  streamtrain ctl stop --run fashion-mlp-01 --reason \"enough\"",
            "  streamtrain ctl set --run fashion-mlp-01 learningRate=0.0005 l2=0.001",
            "  streamtrain ctl register --run fashion-mlp-01 --spec run.yaml"
        },
        name = "ctl",
        mixinStandardHelpOptions = true,
        subcommands = {
            CtlCommand.Stop.class,
            CtlCommand.Pause.class,
            CtlCommand.Resume.class,
            CtlCommand.Set.class,
            CtlCommand.Revoke.class,
            CtlCommand.Checkpoint.class,
            CtlCommand.Rollback.class,
            CtlCommand.Register.class,
            CtlCommand.Status.class
        },
        description = "Steer a run through its control topic, and show its state.")
public final class CtlCommand {

    /** What every ctl subcommand needs. */
    static final class Target {
        @Option(
                names = "--run",
                required = true,
                paramLabel = "RUN",
                converter = RunIdConverter.class,
                description = "The run id.")
        String run;

        @Mixin
        KafkaOptions kafkaOptions;

        /** The command this mixes into: its picocli writers are where the command prints. */
        @Spec(Spec.Target.MIXEE)
        CommandSpec command;

        PrintWriter out() {
            return command.commandLine().getOut();
        }

        PrintWriter err() {
            return command.commandLine().getErr();
        }

        /** Read once per command: the environment names the signing key file, which the command's name and its send both need. */
        private KafkaSettings kafka;

        KafkaSettings kafka() {
            if (kafka == null) {
                kafka = kafkaOptions.settings();
            }
            return kafka;
        }

        /** Writes a command on the run's control topic, signed when this operator has a signing key; returns the exit code. */
        int send(ControlMessage command) throws Exception {
            return send(
                    command, false, "; `streamtrain ctl status --run " + run + "` shows which trainers acknowledged");
        }

        /**
         * @param newRun the command may be a run's first message (a registration): the control topic is made if missing
         * @param after what the confirmation line says after "sent to run R"
         */
        int send(ControlMessage command, boolean newRun, String after) throws Exception {
            KafkaSettings kafka = kafka();
            try (Admin admin = Preflight.admin(kafka)) {
                kafka.signing().requireSigner(java.util.Set.of(Right.neededBy(command)), "this operator");
                Preflight.requireReachable(admin, kafka.bootstrapServers());
                java.util.Set<String> topics = admin.listTopics().names().get(10, TimeUnit.SECONDS);
                if (!newRun && !topics.contains(Topics.checkpoints(run)) && !topics.contains(Topics.control(run))) {
                    err().println("streamtrain: run " + run + " has no topics on " + kafka.bootstrapServers() + " (no "
                            + Topics.checkpoints(run) + "): is the run id right? Nothing was sent");
                    return StartupException.BAD_CONFIGURATION;
                }
                RunTopics.ensure(admin, List.of(RunTopics.control(Topics.control(run))));
            } catch (StartupException e) {
                err().println("streamtrain: " + e.getMessage());
                return e.exitCode();
            }
            try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(kafka.producer())) {
                p.send(kafka.signing().sign(new ProducerRecord<>(Topics.control(run), Messages.encode(command))))
                        .get(30, TimeUnit.SECONDS);
            } catch (java.util.concurrent.ExecutionException | org.apache.kafka.common.KafkaException e) {
                // refused in the send's future, or by send() itself once the producer has met the refusal in its
                // start (its idempotent id): which comes first is a race
                StartupException refused = StartupException.refusal(e);
                if (refused == null) {
                    throw e;
                }
                // Kafka says "cluster authorization failed" to an idempotent producer with Write on no topic at all
                err().println("streamtrain: nothing was sent: this principal needs Write on " + Topics.control(run)
                        + ". " + refused.getMessage());
                return refused.exitCode();
            }
            SigningKey key = kafka.signing().key();
            out().println(command.getClass().getSimpleName().toUpperCase(java.util.Locale.ROOT) + " " + command.id()
                    + " sent to run " + run + (key == null ? " unsigned" : " signed by " + key.id()) + after);
            return 0;
        }

        /**
         * Who the command says it is from: the signing key's id when this operator signs (what
         * the trainers verify and acknowledge); else the Kafka principal the client logs in as,
         * when its settings say it (SASL PLAIN, SCRAM, GSSAPI: the name the ACLs know); else the
         * OS user. Without a signature it is self-declared: readers cannot check it.
         */
        String operator() {
            KafkaSettings kafka;
            try {
                kafka = kafka();
                SigningKey key = kafka.signing().key();
                if (key != null) {
                    return key.id();
                }
            } catch (StartupException e) {
                return System.getProperty("user.name", "operator"); // send() reports it
            }
            return kafka.principal().orElseGet(() -> System.getProperty("user.name", "operator"));
        }
    }

    @Command(
            name = "stop",
            mixinStandardHelpOptions = true,
            description = "Stop every trainer of a run at its next step boundary; a stopped run is never restarted.")
    static final class Stop implements Callable<Integer> {
        @Mixin
        Target target;

        @Option(names = "--reason", defaultValue = "operator", description = "Why (default: ${DEFAULT-VALUE}).")
        String reason;

        @Override
        public Integer call() throws Exception {
            return target.send(new ControlMessage.Stop(
                    target.run, Messages.newId(), Messages.now(), "operator", reason, null, target.operator()));
        }
    }

    @Command(
            name = "pause",
            mixinStandardHelpOptions = true,
            description =
                    "Pause a run: its trainers stop consuming and training at the next step boundary, until resume.")
    static final class Pause implements Callable<Integer> {
        @Mixin
        Target target;

        @Override
        public Integer call() throws Exception {
            return target.send(
                    new ControlMessage.Pause(target.run, Messages.newId(), Messages.now(), target.operator()));
        }
    }

    @Command(name = "resume", mixinStandardHelpOptions = true, description = "Resume a paused run.")
    static final class Resume implements Callable<Integer> {
        @Mixin
        Target target;

        @Override
        public Integer call() throws Exception {
            return target.send(
                    new ControlMessage.Resume(target.run, Messages.newId(), Messages.now(), target.operator()));
        }
    }

    @Command(
            name = "checkpoint",
            mixinStandardHelpOptions = true,
            description =
                    "Publish a snapshot of the weights now, mid-epoch: scored by the evaluator, never resumed from.")
    static final class Checkpoint implements Callable<Integer> {
        @Mixin
        Target target;

        @Override
        public Integer call() throws Exception {
            return target.send(
                    new ControlMessage.Checkpoint(target.run, Messages.newId(), Messages.now(), target.operator()));
        }
    }

    @Command(
            name = "set",
            mixinStandardHelpOptions = true,
            description = {
                "Change training settings from the next step on; the next checkpoint's manifest records them.",
                "Settable: learningRate, weightDecay, l1, l2, l2sp. Trainers refuse values the run spec would refuse."
            })
    static final class Set implements Callable<Integer> {
        @Mixin
        Target target;

        @picocli.CommandLine.Parameters(
                arity = "1..*",
                paramLabel = "KEY=VALUE",
                description = "e.g. learningRate=0.0005 l2=0.001")
        java.util.Map<String, Double> values;

        @Override
        public Integer call() throws Exception {
            List<String> unknown = values.keySet().stream()
                    .filter(k -> !Settings.PATHS.containsKey(k))
                    .toList();
            if (!unknown.isEmpty()) {
                target.err()
                        .println("streamtrain: cannot set " + unknown + " while training; settable: "
                                + Settings.PATHS.keySet());
                return StartupException.BAD_CONFIGURATION;
            }
            return target.send(
                    new ControlMessage.Set(target.run, Messages.newId(), Messages.now(), values, target.operator()));
        }
    }

    @Command(
            name = "revoke",
            mixinStandardHelpOptions = true,
            description = {
                "Take a SET back from the next step on: the settings are again what they would be without it (other SETs"
                        + " stay; the steps already trained keep its effect). Restarted trainers honour it.",
                "The SET's id is in `ctl status` and in what `ctl set` printed."
            })
    static final class Revoke implements Callable<Integer> {
        @Mixin
        Target target;

        @picocli.CommandLine.Parameters(
                arity = "1",
                paramLabel = "SET_ID",
                description = "The id of the SET to take back.")
        String command;

        @Override
        public Integer call() throws Exception {
            return target.send(new ControlMessage.Revoke(
                    target.run, Messages.newId(), Messages.now(), command, target.operator()));
        }
    }

    @Command(
            name = "rollback",
            mixinStandardHelpOptions = true,
            description = {
                "Return a run's trainers to a checkpoint's weights: its promoted model (a continuous run), or --to"
                        + " any epoch checkpoint of the run.",
                "The owner of train partition 0 hands that state in at its next sync round, which then holds it on every node"
                        + " (the round's records still count as trained), and acknowledges the command; training goes on from there."
            })
    static final class Rollback implements Callable<Integer> {
        @Mixin
        Target target;

        @Option(
                names = "--to",
                paramLabel = "CHECKPOINT_ID",
                description =
                        "The checkpoint to return to (`ctl status` lists them; default: the run's promoted model).")
        String to;

        @Option(names = "--reason", defaultValue = "operator", description = "Why (default: ${DEFAULT-VALUE}).")
        String reason;

        @Override
        public Integer call() throws Exception {
            KafkaSettings kafka = target.kafka();
            String checkpointId;
            try (Admin admin = Preflight.admin(kafka);
                    KafkaConsumer<byte[], byte[]> reader = new KafkaConsumer<>(kafka.consumer(null))) {
                Preflight.requireReachable(admin, kafka.bootstrapServers());
                RunCheckpoints.requireRun(admin, kafka.bootstrapServers(), target.run);
                if (to == null) {
                    List<PromotedModel> promoted =
                            RunCheckpoints.promotions(reader, target.run, Duration.ofSeconds(30), kafka.signing());
                    if (promoted.isEmpty()) {
                        target.err()
                                .println("streamtrain: run " + target.run
                                        + " has no promoted model (only continuous runs promote):"
                                        + " name a checkpoint with --to (`streamtrain ctl status --run " + target.run
                                        + "` lists them). Nothing was sent");
                        return StartupException.BAD_CONFIGURATION;
                    }
                    checkpointId = promoted.get(promoted.size() - 1).checkpointId();
                } else {
                    RunCheckpoints.Listing listing =
                            RunCheckpoints.list(reader, target.run, Duration.ofSeconds(30), m -> {}, kafka.signing());
                    if (listing.manifests().stream()
                            .noneMatch(m -> m.checkpointId().equals(to) && !m.snapshot())) {
                        target.err()
                                .println("streamtrain: run " + target.run + " has no epoch checkpoint " + esc(to)
                                        + " (`streamtrain ctl status --run " + target.run
                                        + "` lists them). Nothing was sent");
                        return StartupException.BAD_CONFIGURATION;
                    }
                    checkpointId = to;
                }
            } catch (StartupException e) {
                target.err().println("streamtrain: " + e.getMessage());
                return e.exitCode();
            }
            return target.send(
                    new ControlMessage.Rollback(
                            target.run, Messages.newId(), Messages.now(), checkpointId, reason, target.operator()),
                    false,
                    " (to checkpoint " + esc(checkpointId) + "); `streamtrain ctl status --run " + target.run
                            + "` shows when the trainers carried it out");
        }
    }

    @Command(
            name = "register",
            mixinStandardHelpOptions = true,
            description = {
                "Fix a run's contract before its first checkpoint: its validation data (data.validation), model,"
                        + " earlyStopping and maxEpochs are those of this spec.",
                "The evaluator then rejects any checkpoint whose spec changes them, the first one included (without a"
                        + " registration, the first checkpoint it accepts fixes them, forged or not), and a trainer started with a"
                        + " spec that changes them exits 2. The run's first registration counts; registering the same contract"
                        + " again sends nothing, another one is refused (exit 2)."
            })
    static final class Register implements Callable<Integer> {
        @Mixin
        Target target;

        @Option(
                names = "--spec",
                required = true,
                paramLabel = "FILE",
                description = "The run spec (YAML), as the trainers get it.")
        java.nio.file.Path spec;

        @Override
        public Integer call() throws Exception {
            RunSpec parsed;
            try {
                parsed = RunSpecParser.parse(java.nio.file.Files.readString(spec));
            } catch (java.io.IOException e) {
                target.err().println("streamtrain: cannot read " + spec + ": " + e.getMessage() + ". Nothing was sent");
                return StartupException.BAD_CONFIGURATION;
            } catch (SpecException e) {
                target.err()
                        .println("streamtrain: bad run spec " + spec + ": " + e.getMessage() + ". Nothing was sent");
                return StartupException.BAD_CONFIGURATION;
            }
            if (!parsed.run().equals(target.run)) {
                target.err()
                        .println("streamtrain: " + spec + " is the spec of run " + parsed.run() + ", not of "
                                + target.run + ". Nothing was sent");
                return StartupException.BAD_CONFIGURATION;
            }
            RunContract contract = RunContract.of(parsed);
            Optional<ControlMessage.Register> first = firstRegistration();
            if (first.isPresent()) {
                String changed = RunContract.of(first.get().runSpec()).changedBy(contract);
                if (changed != null) {
                    target.err()
                            .println("streamtrain: run " + target.run + " is registered already (REGISTER "
                                    + esc(first.get().id()) + " by "
                                    + esc(first.get().source()) + ") and a run's contract does not change: "
                                    + esc(changed)
                                    + ". Train this spec under a new run id. Nothing was sent");
                    return StartupException.BAD_CONFIGURATION;
                }
                target.out()
                        .println("run " + target.run + " is registered already with this contract (REGISTER "
                                + esc(first.get().id()) + " by "
                                + esc(first.get().source()) + "); nothing was sent");
                return 0;
            }
            return target.send(
                    new ControlMessage.Register(
                            target.run,
                            Messages.newId(),
                            Messages.now(),
                            RunSpecParser.toJson(parsed),
                            target.operator()),
                    true,
                    ": the evaluator rejects checkpoints whose spec changes " + describe(contract)
                            + ", and trainers with such a spec exit 2");
        }

        /** The run's first registration that is a valid spec of the run (signed by a key trusted with it, when signatures are checked). */
        private Optional<ControlMessage.Register> firstRegistration() {
            KafkaSettings kafka = target.kafka();
            try (Admin admin = Preflight.admin(kafka);
                    KafkaConsumer<byte[], byte[]> reader = new KafkaConsumer<>(kafka.consumer(null))) {
                Preflight.requireReachable(admin, kafka.bootstrapServers());
                if (!Preflight.topicNames(admin, kafka.bootstrapServers()).contains(Topics.control(target.run))) {
                    return Optional.empty();
                }
                for (ConsumerRecord<byte[], byte[]> r : readAll(reader, Topics.control(target.run))) {
                    try {
                        if (Messages.decodeControl(r.value()).orElse(null) instanceof ControlMessage.Register reg
                                && target.run.equals(reg.run())
                                && kafka.signing().verify(r, Right.REGISTER).accepted()
                                && reg.invalidity() == null) {
                            return Optional.of(reg);
                        }
                    } catch (MalformedMessageException e) {
                        // not a registration the evaluator or the trainers would take
                    }
                }
                return Optional.empty();
            }
        }
    }

    /** What a contract fixes, in one line. */
    private static String describe(RunContract contract) {
        return "data.validation " + contract.fixed().path("data.validation").asText("(none)")
                + ", the model, earlyStopping and maxEpochs "
                + contract.fixed().path("maxEpochs").asText();
    }

    @Command(
            name = "status",
            mixinStandardHelpOptions = true,
            description =
                    "Show a run: checkpoints, evaluations, the best checkpoint, the stop and its acknowledgements.")
    static final class Status implements Callable<Integer> {
        @Mixin
        Target target;

        @Override
        public Integer call() {
            KafkaSettings kafka = target.kafka();
            try (Admin admin = Preflight.admin(kafka)) {
                Preflight.requireReachable(admin, kafka.bootstrapServers());
            } catch (StartupException e) {
                target.err().println("streamtrain: " + e.getMessage());
                return e.exitCode();
            }
            PrintWriter out = target.out();
            String run = target.run;
            try (KafkaConsumer<byte[], byte[]> reader = new KafkaConsumer<>(kafka.consumer(null))) {
                List<CheckpointManifest> manifests = new ArrayList<>();
                for (ConsumerRecord<byte[], byte[]> r : readAll(reader, Topics.checkpoints(run))) {
                    if (CheckpointCodec.MANIFEST.equals(CheckpointCodec.typeOf(r))) {
                        Verdict trusted = kafka.signing().verify(r, Right.MANIFEST);
                        if (!trusted.accepted()) {
                            out.println("  (manifest at offset " + r.offset() + " refused, not counted: "
                                    + trusted.refusal() + ")");
                            continue;
                        }
                        try {
                            manifests.add(CheckpointCodec.manifestFromJson(r.value()));
                        } catch (IOException e) {
                            out.println("  (unreadable manifest at offset " + r.offset() + ")");
                        }
                    }
                }
                List<CheckpointManifest> epochs =
                        manifests.stream().filter(m -> !m.snapshot()).toList();
                long snapshots = manifests.size() - epochs.size();
                out.printf(
                        "run %s: %d checkpoints%s%s%n",
                        run,
                        epochs.size(),
                        epochs.isEmpty()
                                ? ""
                                : ", last epoch "
                                        + epochs.get(epochs.size() - 1).epoch() + " ("
                                        + esc(epochs.get(epochs.size() - 1).checkpointId()) + ")",
                        snapshots == 0 ? "" : "; " + snapshots + " snapshot(s)");
                List<EvaluationRecord> evaluations = new ArrayList<>();
                for (ConsumerRecord<byte[], byte[]> r : readAll(reader, Topics.evaluations(run))) {
                    Verdict v = kafka.signing().verify(r, Right.EVALUATION);
                    if (!v.accepted()) {
                        out.println(
                                "  (evaluation at offset " + r.offset() + " refused, not shown: " + v.refusal() + ")");
                        continue;
                    }
                    try {
                        Messages.decodeEvaluation(r.value()).ifPresent(evaluations::add);
                    } catch (MalformedMessageException e) {
                        out.println("  (unreadable evaluation at offset " + r.offset() + ")");
                    }
                }
                if (!evaluations.isEmpty()) {
                    out.println("evaluations:");
                    out.println(
                            "  epoch  checkpoint                 val_loss  val_accuracy  train_loss  best(epoch)  patience left  decision");
                    for (EvaluationRecord e : evaluations) {
                        out.println(line(e));
                    }
                }
                lag(out, run, epochs, evaluations);
                promotion(out, reader, kafka, run, epochs, evaluations);
                List<ControlMessage> control = new ArrayList<>();
                java.util.IdentityHashMap<ControlMessage, Verdict> verdicts = new java.util.IdentityHashMap<>();
                for (ConsumerRecord<byte[], byte[]> r : readAll(reader, Topics.control(run))) {
                    try {
                        // a message naming another run is not this run's (its trainers and evaluator ignore it too)
                        Optional<ControlMessage> m =
                                Messages.decodeControl(r.value()).filter(c -> run.equals(c.run()));
                        if (m.isPresent()) {
                            control.add(m.get());
                            verdicts.put(m.get(), kafka.signing().verify(r, Right.neededBy(m.get())));
                        }
                    } catch (MalformedMessageException e) {
                        // counted by the trainers; status shows only what it can read
                    }
                }
                // what the trainers act on, as they verify it: refused
                // commands are listed with why, forged acks not at all
                control.removeIf(
                        m -> m instanceof ControlMessage.Ack && !verdicts.get(m).accepted());
                for (ControlMessage m : control) {
                    if (m instanceof ControlMessage.Ack
                            || (m instanceof ControlMessage.Stop
                                    && verdicts.get(m).accepted())) {
                        continue;
                    }
                    Verdict v = verdicts.get(m);
                    out.printf(
                            "%s %s at %s by %s%s: %s%n",
                            m.getClass().getSimpleName().toLowerCase(Locale.ROOT),
                            esc(m.id()),
                            esc(m.time()),
                            esc(source(m)) + signed(v),
                            m instanceof ControlMessage.Set set
                                    ? " " + esc(set.values())
                                    : m instanceof ControlMessage.Revoke r
                                            ? " of SET " + esc(r.command())
                                            : m instanceof ControlMessage.Rollback r
                                                    ? " to checkpoint " + esc(r.checkpointId()) + " (" + esc(r.reason())
                                                            + ")"
                                                    : "",
                            !v.accepted()
                                    ? "refused, not acted on: " + v.refusal()
                                    : m instanceof ControlMessage.Register reg
                                            ? registered(reg, control)
                                            : acks(control, m.id()));
                }
                Optional<ControlMessage.Stop> stop = control.stream()
                        .filter(m -> m instanceof ControlMessage.Stop
                                && verdicts.get(m).accepted())
                        .map(m -> (ControlMessage.Stop) m)
                        .findFirst();
                if (stop.isEmpty()) {
                    out.println("not stopped");
                } else {
                    ControlMessage.Stop s = stop.get();
                    out.printf(
                            "stopped at %s by %s: %s (%s)%n",
                            esc(s.time()),
                            esc(s.source()) + signed(verdicts.get(s)),
                            esc(s.reason()),
                            esc(s.explanation()));
                    if (s.best() != null) {
                        out.printf(
                                Locale.ROOT,
                                "best checkpoint: %s (epoch %d, %s %.4f)%n",
                                esc(s.best().checkpointId()),
                                s.best().epoch(),
                                esc(s.best().metric()),
                                s.best().value());
                    }
                    out.println(acks(control, s.id()));
                }
            }
            return 0;
        }

        /**
         * One evaluation as status lists it. Its explanation is shown neutralized, not escaped: the evaluator
         * escapes the ids it quotes (a rejected checkpoint's, a REGISTER's id and source) where it makes a
         * rejection's explanation, so escaping it again showed their backslashes doubled. Not every part of it is
         * escaped (an exception's text is recorded as it was), and the record is read from a topic anyone allowed
         * may write, so its control characters are escaped here whatever it says.
         */
        static String line(EvaluationRecord e) {
            if (EvaluationRecord.SNAPSHOT.equals(e.status())) {
                return String.format(
                        Locale.ROOT,
                        "  %5d  %-25s  %8.4f  %12s  %s",
                        e.epoch(),
                        esc(e.checkpointId()),
                        e.metrics().get("val_loss"),
                        e.metrics().containsKey("val_accuracy")
                                ? String.format(Locale.ROOT, "%.4f", e.metrics().get("val_accuracy"))
                                : "-",
                        neutralized(e.explanation()));
            }
            if (!e.evaluated()) {
                return String.format(
                        Locale.ROOT,
                        "  %5d  %-25s  rejected: %s",
                        e.epoch(),
                        esc(e.checkpointId()),
                        neutralized(e.explanation()));
            }
            return String.format(
                    Locale.ROOT,
                    "  %5d  %-25s  %8.4f  %12s  %10s  %11s  %13d  %s",
                    e.epoch(),
                    esc(e.checkpointId()),
                    e.metrics().getOrDefault("val_loss", Double.NaN),
                    e.metrics().containsKey("val_accuracy")
                            ? String.format(Locale.ROOT, "%.4f", e.metrics().get("val_accuracy"))
                            : "-",
                    e.trainLoss() == null ? "-" : String.format(Locale.ROOT, "%.4f", e.trainLoss()),
                    e.best() == null
                            ? "-"
                            : String.format(
                                    Locale.ROOT,
                                    "%.4f(%d)",
                                    e.best().value(),
                                    e.best().epoch()),
                    e.patienceLeft(),
                    esc(e.decision() + (e.reason() == null ? "" : " (" + e.reason() + ")")));
        }

        /** A continuous run's promoted model (its models topic), and whether its windows are degrading. */
        private void promotion(
                PrintWriter out,
                KafkaConsumer<byte[], byte[]> reader,
                KafkaSettings kafka,
                String run,
                List<CheckpointManifest> epochs,
                List<EvaluationRecord> evaluations) {
            boolean continuous;
            try {
                continuous = !epochs.isEmpty()
                        && RunSpecParser.parse(epochs.get(epochs.size() - 1).spec())
                                .data()
                                .continuous();
            } catch (RuntimeException e) {
                return; // a manifest whose spec does not parse: the evaluator rejects it and says so above
            }
            if (!continuous) {
                return;
            }
            List<PromotedModel> models =
                    RunCheckpoints.promotions(reader, run, Duration.ofSeconds(30), kafka.signing());
            PromotedModel promoted = models.isEmpty() ? null : models.get(models.size() - 1);
            int promotions = models.size();
            out.println(
                    promoted == null
                            ? "promoted model: none yet (a window is promoted when it beats every earlier one)"
                            : String.format(
                                    Locale.ROOT,
                                    "promoted model: window %d, checkpoint %s (%s %.4f), at %s; %d promotion(s) kept on %s",
                                    promoted.epoch(),
                                    esc(promoted.checkpointId()),
                                    esc(promoted.metric()),
                                    promoted.value(),
                                    esc(promoted.time()),
                                    promotions,
                                    Topics.models(run)));
            List<EvaluationRecord> windows =
                    evaluations.stream().filter(EvaluationRecord::evaluated).toList();
            int since = windows.size();
            while (since > 0
                    && EvaluationRecord.DEGRADING.equals(windows.get(since - 1).decision())) {
                since--;
            }
            if (since < windows.size()) {
                EvaluationRecord last = windows.get(windows.size() - 1);
                out.printf(
                        "degrading since window %d (%s): the promoted model stays until a window beats it%n",
                        windows.get(since).epoch(), esc(last.reason()));
            }
        }

        /**
         * With {@code evaluation.maxLag} in the run's spec (as its last checkpoint carries it): how many
         * checkpoints the evaluator has not dealt with, and whether that holds the trainers.
         */
        private static void lag(
                PrintWriter out, String run, List<CheckpointManifest> epochs, List<EvaluationRecord> evaluations) {
            if (epochs.isEmpty()) {
                return;
            }
            CheckpointManifest last = epochs.get(epochs.size() - 1);
            int maxLag;
            try {
                maxLag = RunSpecParser.parse(last.spec()).evaluation().maxLag();
            } catch (RuntimeException e) {
                return; // a manifest whose spec does not parse: the evaluator rejects it and says so above
            }
            if (maxLag == 0) {
                return;
            }
            // what the trainers count (ControlFeed): the same records, so status says what holds them
            int evaluated = evaluations.stream()
                    .filter(e -> e.settlesEpochOf(run))
                    .mapToInt(EvaluationRecord::epoch)
                    .max()
                    .orElse(0);
            int ahead = Math.max(0, last.epoch() - evaluated);
            out.printf(
                    "evaluation lag: %d checkpoint(s) not yet evaluated (evaluation.maxLag %d): %s%n",
                    ahead,
                    maxLag,
                    ahead > maxLag
                            ? "the trainers wait for the evaluator before epoch " + (last.epoch() + 1)
                            : "the trainers may train on");
        }
    }

    /** A value read from a topic, as the terminal shows it: whoever may write the topic must not drive the operator's terminal. */
    private static String esc(Object value) {
        return io.streamtrain.core.logging.Logs.escape(value);
    }

    /**
     * Text read from a topic whose writer escaped the values it quotes where it made it (an evaluation's
     * explanation), as the terminal shows it: its control characters escaped, its backslashes as they are.
     */
    private static String neutralized(Object value) {
        return io.streamtrain.core.logging.Logs.neutralize(value);
    }

    /** " (signed by alice)" when signatures are checked and the message verified; nothing otherwise. */
    private static String signed(Verdict v) {
        return v.signer() == null ? "" : " (signed by " + v.signer() + ")";
    }

    private static String source(ControlMessage m) {
        if (m instanceof ControlMessage.Stop s) {
            return s.source();
        } else if (m instanceof ControlMessage.Checkpoint c) {
            return c.source();
        } else if (m instanceof ControlMessage.Revoke r) {
            return r.source();
        } else if (m instanceof ControlMessage.Pause p) {
            return p.source();
        } else if (m instanceof ControlMessage.Resume r) {
            return r.source();
        } else if (m instanceof ControlMessage.Set s) {
            return s.source();
        } else if (m instanceof ControlMessage.Register r) {
            return r.source();
        } else if (m instanceof ControlMessage.Rollback r) {
            return r.source();
        }
        return "?";
    }

    /** What a registration fixes, or why it does not count (not the run's first, or not a valid spec of the run). */
    @SuppressWarnings("ReferenceEquality") // whether the first registration is this very message of the list
    private static String registered(ControlMessage.Register reg, List<ControlMessage> control) {
        String invalid = reg.invalidity();
        if (invalid != null) {
            return "not a valid spec of the run, it does not count: " + esc(invalid);
        }
        ControlMessage.Register first = control.stream()
                .filter(m -> m instanceof ControlMessage.Register r && r.invalidity() == null)
                .map(m -> (ControlMessage.Register) m)
                .findFirst()
                .orElse(reg);
        return first == reg
                ? "the run's contract: " + esc(describe(RunContract.of(reg.runSpec())))
                : "not the run's first registration: it does not count";
    }

    /** "acknowledged by: node-0 at step 12 (applied), ..." for one command. */
    private static String acks(List<ControlMessage> control, String command) {
        List<String> acks = control.stream()
                .filter(m -> m instanceof ControlMessage.Ack a && command.equals(a.command()))
                .map(m -> (ControlMessage.Ack) m)
                .map(a -> esc(a.node()) + " at step " + a.step() + (a.applied() ? "" : " (" + esc(a.outcome()) + ")"))
                .toList();
        return "acknowledged by: " + (acks.isEmpty() ? "nobody yet" : String.join(", ", acks));
    }

    private static List<ConsumerRecord<byte[], byte[]>> readAll(KafkaConsumer<byte[], byte[]> reader, String topic) {
        return TopicReader.readAll(reader, topic, Duration.ofSeconds(30));
    }
}
