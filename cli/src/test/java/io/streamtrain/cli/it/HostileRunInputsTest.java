package io.streamtrain.cli.it;

import static io.streamtrain.cli.it.ForgedRecords.bytes;
import static io.streamtrain.cli.it.ForgedRecords.copy;
import static io.streamtrain.cli.it.ForgedRecords.header;
import static io.streamtrain.cli.it.ForgedRecords.ofEpoch;
import static io.streamtrain.cli.it.ForgedRecords.send;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import io.streamtrain.cli.Streamtrain;
import io.streamtrain.core.checkpoint.CheckpointManifest;
import io.streamtrain.core.control.ControlMessage;
import io.streamtrain.core.evaluation.EvaluationRecord;
import io.streamtrain.core.kafka.Preflight;
import io.streamtrain.core.protocol.CheckpointCodec;
import io.streamtrain.core.protocol.Messages;
import io.streamtrain.core.spec.RunSpecParser;
import io.streamtrain.core.topics.Topics;
import io.streamtrain.evaluator.EvaluatorService;
import io.streamtrain.testkit.KafkaFixture;
import io.streamtrain.testkit.ServiceProcess;
import io.streamtrain.testkit.SyntheticClusters;
import io.streamtrain.trainer.TrainerNode;
import io.streamtrain.trainer.TrainerOptions;
import io.streamtrain.trainer.TrainingListener;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * Issue 21's last cases, each on a real broker with real DJL: a forged manifest naming a huge
 * model at a trainer's resume, run ids that could climb out of a directory or collide on a
 * topic prefix, and message-derived text that would forge a line of the services' logs. Each
 * test says which protection it catches missing.
 */
@Tag("integration")
// the evaluator that serves every run goes first: it would otherwise also score the other tests' runs
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class HostileRunInputsTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** What a forged value wants an operator to read as a log line of its own. */
    private static final String FORGED_LINE = "2026-01-01 INFO forged";
    /** A newline to start that line, and an escape sequence that clears the operator's terminal. */
    private static final String FORGED = "\n" + FORGED_LINE + " \u001b[2J";
    /** {@link #FORGED} as {@code Logs.escape} writes it. */
    private static final String ESCAPED = "\\n" + FORGED_LINE + " \\u001b[2J";

    @RegisterExtension
    static final KafkaFixture kafka = new KafkaFixture();

    @BeforeAll
    static void broker() throws Exception {
        SyntheticClusters task = new SyntheticClusters(8, 3, 0.8, 0.0, 21);
        kafka.createTopic("hostile.train", 1);
        kafka.produce("hostile.train", 1, task.records(8, 16, 1));
        kafka.createTopic("hostile.validation", 1);
        kafka.produce("hostile.validation", 1, task.records(4, 16, 2));
    }

    private static String spec(String run, int epochs) {
        return spec(run, epochs, "{ chunkBytes: 1024 }");
    }

    private static String spec(String run, int epochs, String checkpoints) {
        return """
                run: %s
                data: { train: hostile.train, validation: hostile.validation }
                model: { type: mlp, inputs: 8, hidden: [16], classes: 3 }
                maxEpochs: %d
                earlyStopping: { patience: 10 }
                checkpoints: %s
                """.formatted(run, epochs, checkpoints);
    }

    /**
     * Kafka allows dots in topic names, so {@code streamtrain.a..b.checkpoints} and
     * {@code streamtrain...checkpoints} can exist and hold a checkpoint that verifies; no run id
     * names them, so nothing streamtrain runs reads or writes them. Catches, each missing: the
     * topic pattern of an evaluator serving every run (run ids only) and its word at its start on
     * the topics it leaves; the run id check of {@code ctl}'s and {@code export}'s {@code --run}
     * and of the evaluator's runs (before it, {@code ctl} showed and stopped run {@code a..b},
     * {@code export} wrote its checkpoint, {@code evaluate --run a..b} served it); and the
     * spec's, before a trainer makes a directory in its claim-check store.
     */
    @Test
    @Order(1)
    void runIdsThatCouldClimbOrCollideAreRefusedAndTheirTopicsAreNotServed(@TempDir Path dir) throws Exception {
        String run = "hostile-ids";
        assertEquals(TrainerNode.Outcome.FINISHED, train(run, 1));
        List<ConsumerRecord<byte[], byte[]>> genuine = kafka.readAll(Topics.checkpoints(run));
        List<String> unnamed = List.of("a..b", ".");
        try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(kafka.settings.producer())) {
            for (String other : unnamed) {
                kafka.createTopic(Topics.checkpoints(other), 1);
                copy(p, genuine, Topics.checkpoints(other), other, other + "-e0001-0badc0de", m -> {});
            }
        }

        ListAppender<ILoggingEvent> logged = new ListAppender<>();
        Logger serviceLog = (Logger) LoggerFactory.getLogger(EvaluatorService.class);
        logged.start();
        serviceLog.addAppender(logged);
        EvaluatorService evaluator = new EvaluatorService(kafka.settings, List.of(), "hostile-every-run");
        Thread t = new Thread(evaluator::run, "evaluator-every-run");
        t.start();
        Set<String> served;
        try {
            awaitEvaluations(run, 1);
            served = servedTopics();
        } finally {
            evaluator.close();
            t.join(30_000);
            serviceLog.detachAppender(logged);
        }
        assertTrue(served.contains(Topics.checkpoints(run)), "the genuine run is served: " + served);
        List<String> wrong = new ArrayList<>();
        Set<String> topics = topicNames();
        for (String other : unnamed) {
            if (served.contains(Topics.checkpoints(other))) {
                wrong.add("the evaluator serves " + Topics.checkpoints(other));
            }
            for (String made : List.of(Topics.evaluations(other), Topics.control(other), Topics.deadLetters(other))) {
                if (topics.contains(made)) {
                    wrong.add("the evaluator made " + made);
                }
            }
            if (logged.list.stream()
                    .map(ILoggingEvent::getFormattedMessage)
                    .noneMatch(l -> l.contains(Topics.checkpoints(other)) && l.contains(Topics.RUN_ID_RULE))) {
                wrong.add("the evaluator does not say why it does not serve " + Topics.checkpoints(other));
            }
        }

        // the commands, given those ids (or one that climbs out of a directory)
        Path store = dir.resolve("store");
        Path climbing =
                Files.writeString(dir.resolve("climbing.yaml"), spec("../x", 1, "{ store: '" + store.toUri() + "' }"));
        Path dotted = Files.writeString(dir.resolve("dotted.yaml"), spec("a..b", 1));
        Path out = dir.resolve("model.safetensors");
        String bootstrap = kafka.broker.bootstrapServers();
        List<List<String>> commands = List.of(
                List.of("train", "--spec", climbing.toString(), "--bootstrap-servers", bootstrap),
                List.of("train", "--spec", dotted.toString(), "--bootstrap-servers", bootstrap),
                List.of("ctl", "status", "--run", "a..b", "--bootstrap-servers", bootstrap),
                List.of("ctl", "stop", "--run", "a..b", "--bootstrap-servers", bootstrap),
                List.of(
                        "ctl",
                        "register",
                        "--run",
                        "../x",
                        "--spec",
                        climbing.toString(),
                        "--bootstrap-servers",
                        bootstrap),
                List.of(
                        "export",
                        "--run",
                        "a..b",
                        "--epoch",
                        "1",
                        "-o",
                        out.toString(),
                        "--bootstrap-servers",
                        bootstrap),
                List.of("export", "--run", "../x", "--best", "-o", out.toString(), "--bootstrap-servers", bootstrap),
                List.of("evaluate", "--run", "a..b", "--metrics-port", "-1", "--bootstrap-servers", bootstrap));
        for (List<String> command : commands) {
            String line = String.join(" ", command);
            StringWriter printed = new StringWriter();
            try {
                // an evaluator that served the topic would run until closed
                int exit = assertTimeoutPreemptively(
                        Duration.ofSeconds(30),
                        () -> Streamtrain.run(new PrintWriter(printed, true), command.toArray(String[]::new)));
                if (exit != 2 || !printed.toString().contains(Topics.RUN_ID_RULE)) {
                    wrong.add(line + ": exit " + exit + ", not 2 naming the run ids allowed:\n" + printed);
                }
            } catch (AssertionError stillRunning) {
                wrong.add(line + ": still running after 30 s");
            }
        }
        if (Files.exists(out)) {
            wrong.add("a checkpoint of no run was exported");
        }
        if (Files.exists(store) || Files.exists(dir.resolve("x"))) {
            wrong.add("the claim-check store, or a directory beside it, was made");
        }
        if (topicNames().contains(Topics.control("a..b"))) {
            wrong.add("a STOP went to " + Topics.control("a..b"));
        }
        assertEquals(List.of(), wrong);
    }

    private static Set<String> topicNames() throws Exception {
        try (Admin admin = Preflight.admin(kafka.settings)) {
            return admin.listTopics().names().get(10, TimeUnit.SECONDS);
        }
    }

    /**
     * Forged manifests later on the topic than the run's genuine checkpoint, each of which a
     * trainer's resume must skip. Catches, each missing: {@code CheckpointCodec.verify}'s check
     * that a payload can hold the model its spec names (a trainer builds its own spec's model,
     * never a manifest's, so the forged manifest cannot make it allocate 1.6 GB; but without the
     * check the manifest of the genuine payload and a spec of 400 M parameters verifies, is the
     * run's latest checkpoint, and every start of the run refuses it for good: exit 2,
     * "checkpoints of a different model"); and the check of a manifest's fields when it is read
     * (a manifest with an empty payload section, or the genuine payload's without its
     * parameters, threw a NullPointerException out of every start of the run: exit 1); and,
     * with no registration, the trainer's check that a later checkpoint keeps the model and data
     * of the run's first (the genuine payload under a manifest naming another train topic, or a
     * model with another dropout, verifies: every start of the run exited 2 on it).
     */
    @Test
    @Order(2)
    void aTrainerResumesFromTheGenuineCheckpointPastForgedOnes() throws Exception {
        String run = "hostile-resume";
        assertEquals(TrainerNode.Outcome.FINISHED, train(run, 1));
        List<ConsumerRecord<byte[], byte[]>> genuine = kafka.readAll(Topics.checkpoints(run));
        CheckpointManifest first = manifests(genuine).get(0);
        try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(kafka.settings.producer())) {
            copy(
                    p,
                    genuine,
                    Topics.checkpoints(run),
                    run,
                    run + "-e0001-f0f0f0f0",
                    m -> ((ObjectNode) m.get("spec").get("model"))
                            .putArray("hidden")
                            .add(20000)
                            .add(20000));
            ObjectNode empty = JSON.createObjectNode()
                    .put("version", 1)
                    .put("run", run)
                    .put("checkpointId", run + "-e0009-0e0e0e0e")
                    .put("epoch", 9);
            empty.putObject("payload");
            send(p, manifestRecord(Topics.checkpoints(run), empty));
            copy(p, genuine, Topics.checkpoints(run), run, run + "-e0001-0p0p0p0p", m -> m.putNull("parameters"));
            copy(
                    p,
                    genuine,
                    Topics.checkpoints(run),
                    run,
                    run + "-e0001-07070707",
                    m -> ((ObjectNode) m.get("spec").get("data")).put("train", "hostile.validation"));
            copy(
                    p,
                    genuine,
                    Topics.checkpoints(run),
                    run,
                    run + "-e0001-0d0d0d0d",
                    m -> ((ObjectNode) m.get("spec").get("model")).put("dropout", 0.5));
        }

        List<long[]> resumed = new CopyOnWriteArrayList<>();
        List<CheckpointManifest> published = new CopyOnWriteArrayList<>();
        TrainerNode node = new TrainerNode(
                RunSpecParser.parse(spec(run, 2)),
                kafka.settings,
                TrainerOptions.defaults("n").withLogEverySteps(0));
        node.addListener(new TrainingListener() {
            @Override
            public void onRollback(int resumeEpoch, long step) {
                resumed.add(new long[] {resumeEpoch, step});
            }

            @Override
            public void onCheckpoint(CheckpointManifest m) {
                published.add(m);
            }
        });
        assertEquals(TrainerNode.Outcome.FINISHED, node.run(), "the run goes on past the forged manifest");
        assertEquals(
                List.of(2L, first.step()),
                Arrays.stream(resumed.get(0)).boxed().toList(),
                "it resumed at epoch 2 from the genuine checkpoint's step");
        assertEquals(1, published.size(), "only epoch 2 was trained: " + published);
        CheckpointManifest second = published.get(0);
        assertEquals(2, second.epoch());
        assertEquals(2 * first.step(), second.step(), "epoch 2 went on from epoch 1's step");
        assertEquals(List.of(16), second.runSpec().model().hidden(), "the run's own model");
    }

    /**
     * Catches an unescaped message-derived value in the trainer's or the evaluator's log: a
     * control message's id, source, reason or explanation, a malformed message's text (which
     * Jackson quotes in its error), a manifest's checkpoint id, a STOP's source. Each would
     * write a line of its own ({@value #FORGED_LINE}) and an escape sequence to the log. The
     * services run as child JVMs with the product's logging, so this reads what they write.
     */
    @Test
    @Order(3)
    void messageDerivedValuesReachTheServicesLogsEscaped(@TempDir Path dir) throws Exception {
        String trained = "hostile-logs";
        String evaluated = "hostile-logs-ev";
        kafka.createTopic(Topics.control(trained), 1);
        kafka.createTopic(Topics.checkpoints(trained), 1);
        kafka.createTopic(Topics.control(evaluated), 1);
        kafka.createTopic(Topics.checkpoints(evaluated), 1);
        kafka.createTopic(Topics.evaluations(evaluated), 1);
        try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(kafka.settings.producer())) {
            for (String run : List.of(trained, evaluated)) {
                // read by the trainer at its start (and by the evaluator when it takes the run up)
                send(
                        p,
                        Topics.control(run),
                        Messages.encode(new ControlMessage.Set(
                                run, "set" + FORGED, Messages.now(), Map.of("l2", 1e300), "mallory")));
                send(p, Topics.control(run), malformedSet(run));
                send(
                        p,
                        Topics.control(run),
                        Messages.encode(new ControlMessage.Stop(
                                "other" + FORGED, "stop-other", Messages.now(), "operator", "x", null, "mallory")));
                send(
                        p,
                        Topics.control(run),
                        Messages.encode(new ControlMessage.Register(
                                run, "register" + FORGED, Messages.now(), TextNode.valueOf("no spec"), "mallory")));
            }
            // the sync log, read by the trainer from its start: a record of a type no version writes, and a
            // contribution whose JSON cannot be read (Jackson's error quotes the value)
            kafka.createTopic(Topics.sync(trained), 1);
            ProducerRecord<byte[], byte[]> unknown =
                    new ProducerRecord<>(Topics.sync(trained), "{}".getBytes(StandardCharsets.UTF_8));
            unknown.headers().add(CheckpointCodec.TYPE_HEADER, ("gossip" + FORGED).getBytes(StandardCharsets.UTF_8));
            send(p, unknown);
            ProducerRecord<byte[], byte[]> unreadable = new ProducerRecord<>(
                    Topics.sync(trained),
                    "c1".getBytes(StandardCharsets.UTF_8),
                    ("{\"type\":\"contribution\",\"round\":" + quoted("1" + FORGED) + "}")
                            .getBytes(StandardCharsets.UTF_8));
            unreadable.headers().add(CheckpointCodec.TYPE_HEADER, "contribution".getBytes(StandardCharsets.UTF_8));
            send(p, unreadable);
            // a manifest without a payload, named so: the trainer reads it at its start
            ObjectNode m = JSON.createObjectNode()
                    .put("version", 1)
                    .put("run", trained)
                    .put("checkpointId", trained + "-e0009-" + FORGED)
                    .put("epoch", 9);
            send(p, manifestRecord(Topics.checkpoints(trained), m));
            // an evaluation record the evaluator cannot read, whose error quotes its epoch
            send(
                    p,
                    Topics.evaluations(evaluated),
                    ("{\"type\":\"evaluation\",\"run\":\"" + evaluated + "\",\"epoch\":" + quoted("9" + FORGED) + "}")
                            .getBytes(StandardCharsets.UTF_8));
        }

        Path spec = Files.writeString(dir.resolve("run.yaml"), spec(trained, 1000));
        String bootstrap = kafka.broker.bootstrapServers();
        try (ServiceProcess trainer = new ServiceProcess(spec, bootstrap, "logs-node", "--log-every", "0");
                ServiceProcess evaluator = new ServiceProcess(
                        ServiceProcess.EVALUATOR,
                        List.of("--run", evaluated, "--bootstrap-servers", bootstrap, "--instance-id", "logs-ev"))) {
            trainer.awaitLine(l -> l.contains("epoch 1/1000 checkpointed as"), 120);
            List<ConsumerRecord<byte[], byte[]>> epoch1 = ofEpoch(kafka.readAll(Topics.checkpoints(trained)), 1);
            try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(kafka.settings.producer())) {
                send(p, Topics.control(trained), Messages.encode(stop(trained)));
                copy(p, epoch1, Topics.checkpoints(evaluated), evaluated, evaluated + "-e0001-" + FORGED, x -> {});
            }
            assertEquals(0, trainer.awaitExit(60), "a STOP ends the run: " + trainer.output());

            evaluator.awaitLine(l -> l.contains("run " + evaluated + " epoch 1 ("), 120);
            try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(kafka.settings.producer())) {
                send(p, Topics.control(evaluated), Messages.encode(stop(evaluated)));
            }
            evaluator.awaitLine(l -> l.contains("run " + evaluated + ": stopped by"), 60);
            try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(kafka.settings.producer())) {
                copy(
                        p,
                        epoch1,
                        Topics.checkpoints(evaluated),
                        evaluated,
                        evaluated + "-e0002-" + FORGED,
                        x -> x.put("epoch", 2));
            }
            evaluator.awaitLine(l -> l.contains("(epoch 2) arrived after the run was stopped"), 60);
            evaluator.sigterm();
            assertEquals(0, evaluator.awaitExit(30), evaluator.output());

            List<String> trainerLog = lines(trainer);
            List<String> evaluatorLog = lines(evaluator);
            List<String> wrong = new ArrayList<>();
            commandsPrintTheForgedIdsEscaped(evaluated, epoch1, dir, wrong);
            forgedLines("the trainer", trainerLog, wrong);
            forgedLines("the evaluator", evaluatorLog, wrong);
            // each value did reach the log: escaped
            requireLine("the trainer", trainerLog, wrong, "SET set" + ESCAPED + " on the control topic");
            requireLine("the trainer", trainerLog, wrong, "record of unknown type gossip" + ESCAPED);
            requireLine("the trainer", trainerLog, wrong, "ignoring an unreadable sync record at");
            requireLine("the trainer", trainerLog, wrong, "from String \"x" + ESCAPED + "\"");
            requireLine("the trainer", trainerLog, wrong, "names run other" + ESCAPED);
            requireLine("the trainer", trainerLog, wrong, "REGISTER register" + ESCAPED);
            requireLine("the trainer", trainerLog, wrong, trained + "-e0009-" + ESCAPED);
            requireLine("the trainer", trainerLog, wrong, "STOP stop" + ESCAPED + " from mallory" + ESCAPED);
            requireLine("the trainer", trainerLog, wrong, "stopped by mallory" + ESCAPED + " (enough" + ESCAPED);
            requireLine("the evaluator", evaluatorLog, wrong, "REGISTER register" + ESCAPED);
            requireLine("the evaluator", evaluatorLog, wrong, "from String \"9" + ESCAPED + "\"");
            requireLine(
                    "the evaluator",
                    evaluatorLog,
                    wrong,
                    "run " + evaluated + " epoch 1 (" + evaluated + "-e0001-" + ESCAPED + ")");
            requireLine(
                    "the evaluator",
                    evaluatorLog,
                    wrong,
                    "stopped by mallory" + ESCAPED + " (enough" + ESCAPED + ": why" + ESCAPED + ")");
            requireLine(
                    "the evaluator",
                    evaluatorLog,
                    wrong,
                    evaluated + "-e0002-" + ESCAPED + " (epoch 2) arrived after the run was stopped by mallory"
                            + ESCAPED);
            assertEquals(
                    List.of(),
                    wrong,
                    "the trainer's log:\n" + String.join("\n", trainerLog) + "\nthe evaluator's log:\n"
                            + String.join("\n", evaluatorLog));
        }
    }

    /**
     * The commands that print what a run's records say, on the run whose checkpoint ids are
     * forged: {@code export --best} (chosen by a forged evaluation naming a forged metric),
     * {@code export} of a checkpoint whose forged SHA-256 does not verify (the rejection's
     * message), and {@code score}. Each printed the id (and the metric) raw.
     */
    private static void commandsPrintTheForgedIdsEscaped(
            String run, List<ConsumerRecord<byte[], byte[]>> epoch1, Path dir, List<String> wrong) throws Exception {
        byte[] lastWithBest = null;
        for (ConsumerRecord<byte[], byte[]> r : kafka.readAll(Topics.evaluations(run))) {
            try {
                if (Messages.decodeEvaluation(r.value())
                        .filter(e -> e.best() != null)
                        .isPresent()) {
                    lastWithBest = r.value();
                }
            } catch (io.streamtrain.core.control.MalformedMessageException e) {
                // the forged evaluation the evaluator could not read
            }
        }
        ObjectNode evaluation = (ObjectNode) JSON.readTree(lastWithBest);
        ((ObjectNode) evaluation.get("best")).put("metric", "val_loss" + FORGED);
        try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(kafka.settings.producer())) {
            send(p, Topics.evaluations(run), JSON.writeValueAsBytes(evaluation));
            copy(
                    p,
                    epoch1,
                    Topics.checkpoints(run),
                    run,
                    run + "-e0003-" + FORGED,
                    x -> ((ObjectNode) x.put("epoch", 3).get("payload")).put("sha256", "00" + FORGED));
        }
        record Printing(List<String> command, int exit, List<String> texts) {}
        List<Printing> printing = List.of(
                new Printing(
                        List.of(
                                "export",
                                "--run",
                                run,
                                "--best",
                                "-o",
                                dir.resolve("best.safetensors").toString()),
                        0,
                        List.of(run + "-e0001-" + ESCAPED, "best by val_loss" + ESCAPED)),
                new Printing(
                        List.of(
                                "export",
                                "--run",
                                run,
                                "--epoch",
                                "3",
                                "-o",
                                dir.resolve("e3.safetensors").toString()),
                        1,
                        List.of(run + "-e0003-" + ESCAPED, "manifest 00" + ESCAPED)),
                new Printing(
                        List.of("score", "run:" + run + "@best", "--topic", "hostile.validation"),
                        0,
                        List.of("checkpoint " + run + "-e0001-" + ESCAPED, "best by val_loss" + ESCAPED)));
        for (Printing c : printing) {
            List<String> command = new ArrayList<>(c.command());
            command.addAll(List.of("--bootstrap-servers", kafka.broker.bootstrapServers()));
            StringWriter printed = new StringWriter();
            int exit = Streamtrain.run(new PrintWriter(printed, true), command.toArray(String[]::new));
            List<String> lines = List.of(printed.toString().split("\n", -1));
            String who = "`" + String.join(" ", c.command()) + "`";
            int before = wrong.size();
            if (exit != c.exit()) {
                wrong.add(who + " exited " + exit + ", not " + c.exit());
            }
            forgedLines(who, lines, wrong);
            for (String text : c.texts()) {
                requireLine(who, lines, wrong, text);
            }
            if (wrong.size() > before) {
                wrong.add(who + " printed:\n" + printed.toString().replace("\u001b", "<ESC>"));
            }
        }
    }

    private static ControlMessage.Stop stop(String run) {
        return new ControlMessage.Stop(
                run, "stop" + FORGED, Messages.now(), "enough" + FORGED, "why" + FORGED, null, "mallory" + FORGED);
    }

    /** A SET whose value is not a number: not a control message the readers can take, and Jackson says why. */
    private static byte[] malformedSet(String run) throws Exception {
        ObjectNode m = JSON.createObjectNode()
                .put("type", Messages.SET)
                .put("run", run)
                .put("id", "bad-set")
                .put("time", Messages.now());
        m.putObject("values").put("l2", "x" + FORGED);
        return JSON.writeValueAsBytes(m);
    }

    /** Adds to {@code wrong} every line of {@code log} a forged value wrote: one of its own, or with an escape sequence. */
    private static void forgedLines(String who, List<String> log, List<String> wrong) {
        for (String line : log) {
            if (line.startsWith(FORGED_LINE) || line.contains("\u001b")) {
                wrong.add(who + " logged: " + line.replace("\u001b", "<ESC>"));
            }
        }
    }

    private static void requireLine(String who, List<String> log, List<String> wrong, String text) {
        if (log.stream().noneMatch(l -> l.contains(text))) {
            wrong.add(who + " logged no line with " + text);
        }
    }

    private static List<String> lines(ServiceProcess service) {
        return List.of(service.output().split("\n", -1));
    }

    private static TrainerNode.Outcome train(String run, int epochs) throws InterruptedException {
        return new TrainerNode(
                        RunSpecParser.parse(spec(run, epochs)),
                        kafka.settings,
                        TrainerOptions.defaults("n").withLogEverySteps(0))
                .run();
    }

    /** The checkpoint topics the evaluators' consumer group holds now. */
    private static Set<String> servedTopics() throws Exception {
        try (Admin admin = Preflight.admin(kafka.settings)) {
            return admin
                    .describeConsumerGroups(List.of(Topics.EVALUATOR_GROUP))
                    .all()
                    .get(10, TimeUnit.SECONDS)
                    .get(Topics.EVALUATOR_GROUP)
                    .members()
                    .stream()
                    .map(MemberDescription::assignment)
                    .flatMap(a -> a.topicPartitions().stream())
                    .map(TopicPartition::topic)
                    .collect(java.util.stream.Collectors.toSet());
        }
    }

    private static void awaitEvaluations(String run, int count) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (evaluations(run).size() < count) {
            assertTrue(System.nanoTime() < deadline, "not " + count + " evaluations within 120 s: " + evaluations(run));
            Thread.sleep(100);
        }
    }

    private static List<EvaluationRecord> evaluations(String run) throws Exception {
        List<EvaluationRecord> out = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> r : kafka.readAll(Topics.evaluations(run))) {
            Messages.decodeEvaluation(r.value()).ifPresent(out::add);
        }
        return out;
    }

    private static List<CheckpointManifest> manifests(List<ConsumerRecord<byte[], byte[]>> records) throws Exception {
        List<CheckpointManifest> out = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> r : records) {
            if (CheckpointCodec.MANIFEST.equals(header(r, CheckpointCodec.TYPE_HEADER))) {
                out.add(CheckpointCodec.manifestFromJson(r.value()));
            }
        }
        return out;
    }

    private static ProducerRecord<byte[], byte[]> manifestRecord(String topic, ObjectNode m) throws Exception {
        byte[] key = bytes(m.get("checkpointId").asText());
        RecordHeaders h = new RecordHeaders();
        h.add(CheckpointCodec.TYPE_HEADER, bytes(CheckpointCodec.MANIFEST));
        h.add(CheckpointCodec.ID_HEADER, key);
        return new ProducerRecord<>(topic, 0, key, JSON.writeValueAsBytes(m), h);
    }

    private static String quoted(String s) throws Exception {
        return JSON.writeValueAsString(s);
    }
}
