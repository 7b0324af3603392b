package io.streamtrain.core.spec;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class RunSpecParserTest {

    /** The "Run spec" example of DESIGN.md, verbatim (comments included). */
    static final String DESIGN_EXAMPLE = """
            run: fashion-mlp-01
            data:   { train: fashion.train, validation: fashion.validation }
            model:  { type: mlp, inputs: 784, hidden: [512, 256], classes: 10, dropout: 0.3 }
            init:   { seed: 42 }                      # or from: <checkpoint ref | file.safetensors>
            batchSize: 128
            maxEpochs: 30
            optimizer: { type: adamw, learningRate: 0.001 }
            regularization:
              l1: 0.0            # + l1 * sum(|w|)          (the chapter's formula)
              l2: 0.0            # + l2 * sum(w^2)          (the chapter's formula)
              l2sp: 0.0          # + l2sp * sum((w - w0)^2), w0 = initial/pretrained weights
              weightDecay: 0.01  # optimizer weight decay; coupled for adam/sgd, decoupled for adamw
              exclude: [bias, norm]   # parameters exempt from l1/l2/l2sp/decay
              clipGradNorm: 1.0
            earlyStopping:
              monitor: val_loss
              mode: min
              patience: 3
              minDelta: 0.001
            sync:   { everySteps: 50, outer: average }   # see "Several trainer nodes"
            checkpoints: { store: kafka }                # or file:///path (claim check)
            """;

    static final String MINIMAL = """
            run: r1
            data: { train: t }
            model: { inputs: 4 }
            """;

    /** A minimal spec with {@code extra} lines appended (extra must be valid top-level YAML). */
    private static String minimalWith(String extra) {
        return MINIMAL + extra;
    }

    private static SpecException rejects(String yaml) {
        return assertThrows(SpecException.class, () -> RunSpecParser.parse(yaml));
    }

    // ---------------------------------------------------------------- the full example

    @Test
    void designExampleParsesWithItsValues() {
        RunSpec s = RunSpecParser.parse(DESIGN_EXAMPLE);
        assertAll(
                () -> assertEquals("fashion-mlp-01", s.run()),
                () -> assertEquals(new DataSpec("fashion.train", "fashion.validation"), s.data()),
                () -> assertEquals("mlp", s.model().type()),
                () -> assertEquals(784, s.model().inputs()),
                () -> assertEquals(List.of(512, 256), s.model().hidden()),
                () -> assertEquals(10, s.model().classes()),
                () -> assertTrue(s.model().classification()),
                () -> assertEquals(10, s.model().outputWidth()),
                () -> assertEquals(0.3, s.model().dropout()),
                () -> assertEquals(42L, s.init().seed()),
                () -> assertNull(s.init().from(), "init.from is optional"),
                () -> assertEquals(128, s.batchSize()),
                () -> assertEquals(30, s.maxEpochs()),
                () -> assertEquals("adamw", s.optimizer().type()),
                () -> assertEquals(0.001, s.optimizer().learningRate()),
                () -> assertEquals(0.0, s.regularization().l1()),
                () -> assertEquals(0.0, s.regularization().l2()),
                () -> assertEquals(0.0, s.regularization().l2sp()),
                () -> assertEquals(0.01, s.regularization().weightDecay()),
                () -> assertEquals(List.of("bias", "norm"), s.regularization().exclude()),
                () -> assertEquals(1.0, s.regularization().clipGradNorm()),
                () -> assertEquals(EarlyStoppingSpec.of("val_loss", "min", 3, 0.001), s.earlyStopping()),
                () -> assertEquals(SyncSpec.defaults(), s.sync()),
                () -> assertEquals("kafka", s.checkpoints().store()),
                () -> assertTrue(s.checkpoints().onKafka()));
    }

    @Test
    void initFromIsReadWhenGiven() {
        RunSpec s = RunSpecParser.parse(minimalWith("init: { seed: 7, from: /models/pretrained.safetensors }\n"));
        assertEquals(new InitSpec(7, "/models/pretrained.safetensors"), s.init());
    }

    @Test
    void nonDefaultChoicesAreRead() {
        RunSpec s = RunSpecParser.parse(minimalWith("""
                optimizer:
                  type: sgd
                  learningRate: 0.1
                  momentum: 0.9
                  schedule: { type: cosine, warmupSteps: 100, decaySteps: 1000, minLearningRate: 0.001 }
                sync: { everySteps: 10, outer: nesterov, outerLearningRate: 0.5, outerMomentum: 0.8, timeoutSeconds: 30, minNodes: 2,
                        mode: streaming, encoding: int8, overlapSteps: 3 }
                checkpoints: { store: "file:///var/lib/ckpt", chunkBytes: 2048 }
                earlyStopping: { mode: max, monitor: val_accuracy, patience: 0 }
                """));
        assertEquals("sgd", s.optimizer().type());
        assertEquals(0.1, s.optimizer().learningRate());
        assertEquals(0.9, s.optimizer().momentum());
        assertEquals(
                new OptimizerSpec.ScheduleSpec("cosine", 100, 1000, 0.001),
                s.optimizer().schedule());
        assertEquals(new SyncSpec(10, "nesterov", 0.5, 0.8, 30, 2, "streaming", "int8", 3), s.sync());
        assertEquals(new CheckpointSpec("file:///var/lib/ckpt", 2048), s.checkpoints());
        assertFalse(s.checkpoints().onKafka());
        assertEquals(EarlyStoppingSpec.of("val_accuracy", "max", 0, 0.0), s.earlyStopping());
    }

    @Test
    void syncModesAndTheirSettings() {
        SyncSpec d = RunSpecParser.parse(MINIMAL).sync();
        assertEquals(
                new SyncSpec(50, "average", 0.7, 0.9, 120, 1, "streaming", "bfloat16", 5),
                d,
                "streaming, bfloat16, 5 steps");
        assertEquals(
                new SyncSpec(50, "average", 0.7, 0.9, 120, 1, "strict", "float32", 0),
                RunSpecParser.parse(minimalWith("sync: { mode: strict }")).sync(),
                "strict: float32, no overlap");
        assertEquals(
                0,
                RunSpecParser.parse(minimalWith("sync: { everySteps: 1 }"))
                        .sync()
                        .overlapSteps(),
                "the default overlap stays below everySteps");
        assertEquals(
                3,
                RunSpecParser.parse(minimalWith("sync: { everySteps: 4 }"))
                        .sync()
                        .overlapSteps());
        SpecException above = assertThrows(
                SpecException.class,
                () -> RunSpecParser.parse(minimalWith("sync: { everySteps: 4, overlapSteps: 4 }")));
        assertTrue(
                above.getMessage().contains("sync.overlapSteps")
                        && above.getMessage().contains("not below everySteps"),
                above.getMessage());
        SpecException strict = assertThrows(
                SpecException.class, () -> RunSpecParser.parse(minimalWith("sync: { mode: strict, encoding: int8 }")));
        assertTrue(
                strict.getMessage().contains("sync.encoding")
                        && strict.getMessage().contains("only applies to mode streaming"),
                strict.getMessage());
        assertEquals(
                RunSpecParser.parse(minimalWith("sync: { mode: strict }")).sync(),
                RunSpecParser.parse(minimalWith("sync: { mode: strict, encoding: float32, overlapSteps: 0 }"))
                        .sync(),
                "what strict means may be written out, as a" + " manifest's spec does");
        SpecException overlap = assertThrows(
                SpecException.class, () -> RunSpecParser.parse(minimalWith("sync: { mode: strict, overlapSteps: 2 }")));
        assertTrue(
                overlap.getMessage().contains("sync.overlapSteps")
                        && overlap.getMessage().contains("only applies to mode streaming"),
                overlap.getMessage());
        SpecException unknown =
                assertThrows(SpecException.class, () -> RunSpecParser.parse(minimalWith("sync: { encoding: fp8 }")));
        assertTrue(unknown.getMessage().contains("float32, bfloat16, int8"), unknown.getMessage());

        assertEquals(null, d.mixing(), "by default a node keeps its overlap's steps on top of the round");
        SyncSpec mixed =
                RunSpecParser.parse(minimalWith("sync: { mixing: 0.5 }")).sync();
        assertEquals(0.5, mixed.mixing());
        assertEquals(
                mixed,
                RunSpecParser.parse(RunSpecParser.toJson(RunSpecParser.parse(minimalWith("sync: { mixing: 0.5 }"))))
                        .sync(),
                "written into a manifest's spec and read back");
        assertEquals(
                d,
                RunSpecParser.parse(RunSpecParser.toJson(RunSpecParser.parse(MINIMAL)))
                        .sync(),
                "no mixing reads back as none");
        assertFalse(
                RunSpecParser.toJson(RunSpecParser.parse(MINIMAL)).get("sync").has("mixing"),
                "a spec without mixing is written as before it existed (older readers refuse keys they do not know)");
        for (String bad : List.of("1", "1.5", "-0.1", "\"half\"")) {
            SpecException e = assertThrows(
                    SpecException.class, () -> RunSpecParser.parse(minimalWith("sync: { mixing: " + bad + " }")));
            assertTrue(e.getMessage().contains("sync.mixing"), e.getMessage());
        }
        SpecException strictMixing = assertThrows(
                SpecException.class, () -> RunSpecParser.parse(minimalWith("sync: { mode: strict, mixing: 0.5 }")));
        assertTrue(
                strictMixing.getMessage().contains("sync.mixing")
                        && strictMixing.getMessage().contains("only applies to mode streaming"),
                strictMixing.getMessage());
    }

    @Test
    void evaluationMaxLagIsOffUnlessSet() {
        assertEquals(EvaluationSpec.DEFAULT, RunSpecParser.parse(MINIMAL).evaluation());
        assertFalse(RunSpecParser.parse(MINIMAL).evaluation().holdsTrainers());
        RunSpec held = RunSpecParser.parse(minimalWith("evaluation: { maxLag: 2 }"));
        assertEquals(new EvaluationSpec(2), held.evaluation());
        assertEquals(held, RunSpecParser.parse(RunSpecParser.toJson(held)), "a manifest's spec parses back");
        assertEquals(
                "evaluation.maxLag",
                rejects(minimalWith("evaluation: { maxLag: -1 }")).path());
    }

    @Test
    void aWindowOfMinutesIsCutByRecordTimestampsAndReplaysNothing() {
        RunSpec timed = RunSpecParser.parse("""
                run: r1
                data: { train: t, validation: v, mode: continuous, window: { minutes: 5 } }
                model: { inputs: 4 }
                """);
        assertEquals(5.0, timed.data().window().minutes());
        assertEquals(300_000, timed.data().window().millis());
        assertEquals(0, timed.data().windowRecords());
        assertEquals(timed, RunSpecParser.parse(RunSpecParser.toJson(timed)), "a manifest's spec parses back");
        assertEquals(timed, RunSpecParser.parse(RunSpecParser.toYaml(timed)));
        assertFalse(
                RunSpecParser.toJson(RunSpecParser.parse(MINIMAL)).toString().contains("minutes"),
                "left out of the JSON of other runs, whose older readers refuse unknown keys");
        SpecException both = rejects("""
                run: r1
                data: { train: t, mode: continuous, window: { records: 10, minutes: 5 } }
                model: { inputs: 4 }
                """);
        assertEquals("data.window.minutes", both.path());
        assertTrue(both.getMessage().contains("records or by minutes"), both.getMessage());
        SpecException neither = rejects("""
                run: r1
                data: { train: t, mode: continuous, window: {} }
                model: { inputs: 4 }
                """);
        assertEquals("data.window.records", neither.path());
        assertTrue(neither.getMessage().contains("data.window.minutes"), neither.getMessage());
        assertEquals("data.window.minutes", rejects("""
                        run: r1
                        data: { train: t, mode: continuous, window: { minutes: 0.001 } }
                        model: { inputs: 4 }
                        """).path(), "shorter than a second");
        assertEquals("data.window.replay", rejects("""
                        run: r1
                        data: { train: t, mode: continuous, window: { minutes: 5, replay: 0.5 } }
                        model: { inputs: 4 }
                        """).path());
    }

    @Test
    void continuousRunsNameAWindowAndDefaultToNoWindowLimitAndAnEvaluationBound() {
        RunSpec bounded = RunSpecParser.parse(MINIMAL);
        assertFalse(bounded.data().continuous());
        assertEquals(0, bounded.data().windowRecords());
        RunSpec live = RunSpecParser.parse("""
                run: r1
                data: { train: t, validation: v, mode: continuous, window: { records: 500 } }
                model: { inputs: 4 }
                """);
        assertTrue(live.data().continuous());
        assertEquals(500, live.data().windowRecords());
        assertEquals(RunSpecParser.UNLIMITED_WINDOWS, live.maxEpochs(), "windows go on until a STOP");
        assertEquals(
                EvaluationSpec.CONTINUOUS_MAX_LAG,
                live.evaluation().maxLag(),
                "held back by a missing evaluator by default");
        assertEquals(live, RunSpecParser.parse(RunSpecParser.toJson(live)), "a manifest's spec parses back");
        assertEquals(live, RunSpecParser.parse(RunSpecParser.toYaml(live)));
        assertEquals(EvaluationSpec.NONE, live.evaluation().onDegrade());
        RunSpec pausing = RunSpecParser.parse("""
                run: r1
                data: { train: t, validation: v, mode: continuous, window: { records: 500 } }
                model: { inputs: 4 }
                evaluation: { onDegrade: pause }
                """);
        assertTrue(pausing.evaluation().pausesOnDegrade());
        assertEquals(pausing, RunSpecParser.parse(RunSpecParser.toJson(pausing)));
        assertEquals(
                "evaluation.onDegrade",
                rejects(minimalWith("evaluation: { onDegrade: pause }")).path(),
                "bounded runs stop");
        assertEquals(
                "evaluation.onDegrade",
                rejects(minimalWith("evaluation: { onDegrade: rollback }")).path());
        RunSpec sliding = RunSpecParser.parse("""
                run: r1
                data: { train: t, validation: v, mode: continuous, window: { records: 500 } }
                model: { inputs: 4 }
                evaluation: { slidingValidation: 256, onDegrade: rollback }
                """);
        assertTrue(sliding.evaluation().sliding() && sliding.evaluation().rollsBackOnDegrade());
        assertEquals(256, sliding.evaluation().slidingValidation());
        assertEquals(sliding, RunSpecParser.parse(RunSpecParser.toJson(sliding)));
        assertFalse(live.evaluation().sliding(), "a fixed holdout by default");
        assertEquals(
                "evaluation.slidingValidation",
                rejects(minimalWith("evaluation: { slidingValidation: 10 }")).path(),
                "a bounded run is scored on one holdout");
        RunSpec noValidation = RunSpecParser.parse(
                minimalWith("").replace("{ train: t }", "{ train: t, mode: continuous, window: { records: 5 } }"));
        assertEquals(0, noValidation.evaluation().maxLag(), "no evaluator to wait for");
        assertEquals(
                "data.window.records",
                rejects(MINIMAL.replace("{ train: t }", "{ train: t, mode: continuous }"))
                        .path());
        assertEquals(
                "data.window.records",
                rejects(MINIMAL.replace("{ train: t }", "{ train: t, mode: continuous, window: { records: 0 } }"))
                        .path());
        assertEquals(
                "data.window",
                rejects(MINIMAL.replace("{ train: t }", "{ train: t, window: { records: 5 } }"))
                        .path());
        assertEquals(
                "data.window.minutes",
                rejects(MINIMAL.replace(
                                "{ train: t }", "{ train: t, mode: continuous, window: { records: 5, minutes: 3 } }"))
                        .path());
        assertEquals(
                "data.mode",
                rejects(MINIMAL.replace("{ train: t }", "{ train: t, mode: live }"))
                        .path());
    }

    @Test
    void aWindowMayReplayAShareOfEarlierWindows() {
        String live = MINIMAL.replace("{ train: t }", "{ train: t, mode: continuous, window: %s }");
        RunSpec none = RunSpecParser.parse(live.formatted("{ records: 8 }"));
        assertEquals(0, none.data().window().replayShare());
        assertFalse(
                RunSpecParser.toJson(none).toString().contains("replay"),
                "left out of a spec's JSON when unset: older readers refuse unknown keys");
        RunSpec replaying = RunSpecParser.parse(live.formatted("{ records: 8, replay: 0.25 }"));
        assertEquals(0.25, replaying.data().window().replayShare());
        assertEquals(
                DataSpec.Window.DEFAULT_REPLAY_HORIZON,
                replaying.data().window().horizon());
        assertEquals(replaying, RunSpecParser.parse(RunSpecParser.toJson(replaying)), "a manifest's spec parses back");
        RunSpec near = RunSpecParser.parse(live.formatted("{ records: 8, replay: 0.5, replayHorizon: 3 }"));
        assertEquals(3, near.data().window().horizon());
        assertEquals(near, RunSpecParser.parse(RunSpecParser.toYaml(near)));
        assertEquals(
                "data.window.replay",
                rejects(live.formatted("{ records: 8, replay: 0.95 }")).path());
        assertEquals(
                "data.window.replay",
                rejects(live.formatted("{ records: 8, replay: -0.1 }")).path());
        assertEquals(
                "data.window.replayHorizon",
                rejects(live.formatted("{ records: 8, replay: 0.5, replayHorizon: 0 }"))
                        .path());
        assertEquals(
                "data.window.replayHorizon",
                rejects(live.formatted("{ records: 8, replayHorizon: 4 }")).path(),
                "a horizon without a replay is a mistake");
        // 0.9 of what a window trains is 9 times its own records: 9 windows back at least
        SpecException shortHorizon = rejects(live.formatted("{ records: 8, replay: 0.9, replayHorizon: 5 }"));
        assertEquals("data.window.replay", shortHorizon.path());
        assertTrue(shortHorizon.getMessage().contains("raise replayHorizon to at least 9"), shortHorizon.getMessage());
        assertEquals(
                0.9,
                RunSpecParser.parse(live.formatted("{ records: 8, replay: 0.9 }"))
                        .data()
                        .window()
                        .replayShare());
    }

    @Test
    void jsonIsAcceptedToo() {
        RunSpec s = RunSpecParser.parse(
                "{\"run\": \"j\", \"data\": {\"train\": \"t\"}, \"model\": {\"inputs\": 3, \"classes\": 2}}");
        assertEquals("j", s.run());
        assertEquals(3, s.model().inputs());
        assertEquals(2, s.model().classes());
    }

    // ---------------------------------------------------------------- defaults

    @Test
    void minimalSpecGetsTheDefaults() {
        RunSpec s = RunSpecParser.parse(MINIMAL);
        assertAll(
                () -> assertEquals("r1", s.run()),
                () -> assertEquals(new DataSpec("t", null), s.data()),
                () -> assertEquals(new ModelSpec("mlp", 4, List.of(), "relu", 0, 1, 0.0), s.model()),
                () -> assertFalse(s.model().classification(), "no classes means regression"),
                () -> assertEquals(new InitSpec(42, null), s.init()),
                () -> assertEquals(32, s.batchSize()),
                () -> assertEquals(10, s.maxEpochs()),
                () -> assertEquals(
                        new OptimizerSpec(
                                "adamw",
                                0.001,
                                0.0,
                                0.9,
                                0.999,
                                1e-8,
                                new OptimizerSpec.ScheduleSpec("constant", 0, 0, 0.0)),
                        s.optimizer()),
                () -> assertEquals(RegularizationSpec.NONE, s.regularization()),
                () -> assertEquals(EarlyStoppingSpec.of("val_loss", "min", 3, 0.0), s.earlyStopping()),
                () -> assertEquals(SyncSpec.defaults(), s.sync()),
                () -> assertEquals(new CheckpointSpec("kafka", 512 * 1024), s.checkpoints()));
    }

    @Test
    void classificationForcesOneOutput() {
        RunSpec s = RunSpecParser.parse("run: r\ndata: {train: t}\nmodel: {inputs: 4, classes: 3, outputs: 5}\n");
        assertEquals(1, s.model().outputs());
        assertEquals(3, s.model().outputWidth());
    }

    @Test
    void regressionKeepsItsOutputs() {
        RunSpec s = RunSpecParser.parse("run: r\ndata: {train: t}\nmodel: {inputs: 4, outputs: 5}\n");
        assertEquals(5, s.model().outputs());
        assertEquals(5, s.model().outputWidth());
    }

    // ---------------------------------------------------------------- unknown keys

    @Test
    void unknownTopLevelKeyIsNamedWithTheAllowedKeys() {
        SpecException e = rejects(minimalWith("maxEpoch: 3\n"));
        assertEquals("maxEpoch", e.path());
        assertTrue(e.getMessage().contains("unknown key 'maxEpoch'"), e.getMessage());
        for (String k : List.of(
                "run",
                "data",
                "model",
                "init",
                "batchSize",
                "maxEpochs",
                "optimizer",
                "regularization",
                "earlyStopping",
                "evaluation",
                "sync",
                "checkpoints")) {
            assertTrue(e.getMessage().contains(k), "allowed key " + k + " missing from: " + e.getMessage());
        }
    }

    @Test
    void unknownNestedKeyIsNamedWithItsPathAndTheAllowedKeys() {
        SpecException e = rejects(minimalWith("regularization: { l1: 0.1, l3: 0.2 }\n"));
        assertEquals("regularization.l3", e.path());
        assertTrue(e.getMessage().startsWith("regularization.l3"), e.getMessage());
        for (String k : List.of("l1", "l2", "l2sp", "weightDecay", "exclude", "clipGradNorm")) {
            assertTrue(e.getMessage().contains(k), "allowed key " + k + " missing from: " + e.getMessage());
        }
    }

    @Test
    void unknownKeyTwoLevelsDownHasTheFullPath() {
        SpecException e = rejects(minimalWith("optimizer: { schedule: { type: constant, warmup: 5 } }\n"));
        assertEquals("optimizer.schedule.warmup", e.path());
        assertTrue(e.getMessage().contains("warmupSteps"), e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(strings = {"data", "model", "init", "sync", "checkpoints", "earlyStopping", "evaluation"})
    void everySectionRejectsUnknownKeys(String section) {
        String yaml = switch (section) {
            case "data" -> "run: r\ndata: { train: t, bogus: 1 }\nmodel: { inputs: 4 }\n";
            case "model" -> "run: r\ndata: { train: t }\nmodel: { inputs: 4, bogus: 1 }\n";
            default -> minimalWith(section + ": { bogus: 1 }\n");
        };
        assertEquals(section + ".bogus", rejects(yaml).path());
    }

    // ---------------------------------------------------------------- wrong types

    @Test
    void stringWhereANumberIsExpected() {
        SpecException e = rejects(minimalWith("optimizer: { learningRate: fast }\n"));
        assertEquals("optimizer.learningRate", e.path());
        assertTrue(e.getMessage().contains("a number in (0, 10.0]"), e.getMessage());
        assertTrue(e.getMessage().contains("fast"), "the message should quote the bad value: " + e.getMessage());
    }

    @Test
    void stringWhereAnIntegerIsExpected() {
        SpecException e = rejects(minimalWith("batchSize: lots\n"));
        assertEquals("batchSize", e.path());
        assertTrue(e.getMessage().contains("integer"), e.getMessage());
    }

    @Test
    void fractionWhereAnIntegerIsExpected() {
        SpecException e = rejects(minimalWith("maxEpochs: 2.5\n"));
        assertEquals("maxEpochs", e.path());
        assertTrue(e.getMessage().contains("integer"), e.getMessage());
    }

    @Test
    void scalarWhereAMappingIsExpected() {
        SpecException e = rejects(minimalWith("regularization: 0.1\n"));
        assertEquals("regularization", e.path());
        assertTrue(e.getMessage().contains("mapping"), e.getMessage());
    }

    @Test
    void badListElementIsNamedByIndex() {
        SpecException e = rejects("run: r\ndata: {train: t}\nmodel: {inputs: 4, hidden: [8, wide]}\n");
        assertEquals("model.hidden[1]", e.path());
    }

    @Test
    void unknownChoiceListsTheChoices() {
        SpecException e = rejects(minimalWith("optimizer: { type: rmsprop }\n"));
        assertEquals("optimizer.type", e.path());
        assertTrue(
                e.getMessage().contains("sgd")
                        && e.getMessage().contains("adam")
                        && e.getMessage().contains("adamw"),
                e.getMessage());
    }

    /** Scientific notation is how learning rates are usually written. */
    @Test
    void scientificNotationIsANumber() {
        RunSpec s =
                RunSpecParser.parse(minimalWith("optimizer: { learningRate: 3e-4 }\nregularization: { l2: 5.0e-4 }\n"));
        assertEquals(3e-4, s.optimizer().learningRate(), 1e-15);
        assertEquals(5e-4, s.regularization().l2(), 1e-15);
    }

    // ---------------------------------------------------------------- impossible values

    @Test
    void negativeLearningRate() {
        SpecException e = rejects(minimalWith("optimizer: { learningRate: -0.1 }\n"));
        assertEquals("optimizer.learningRate", e.path());
        assertTrue(e.getMessage().contains("allowed: a number in (0, 10.0]"), e.getMessage());
    }

    /** Values that pass "≥ 0" but overflow every weight in one step: a typo, or a hostile SET (which obeys the same checks). */
    @ParameterizedTest
    @CsvSource({
        "optimizer, learningRate, 1e300",
        "optimizer, learningRate, 10.5",
        "regularization, l1, 11",
        "regularization, l2, 1e300",
        "regularization, l2sp, 1e10",
        "regularization, weightDecay, 1e308",
        "regularization, weightDecay, 1.01"
    })
    void absurdlyLargeRatesAndPenaltiesAreRefused(String section, String key, String value) {
        SpecException e = rejects(minimalWith(section + ": { " + key + ": " + value + " }\n"));
        assertEquals(section + "." + key, e.path());
        assertTrue(e.getMessage().contains("out of range"), e.getMessage());
    }

    @Test
    void theLargestAllowedValuesParse() {
        RunSpec s = RunSpecParser.parse(
                minimalWith("optimizer: { learningRate: 10 }\nregularization: { l1: 10, l2: 10, l2sp: 10,"
                        + " weightDecay: 1 }\n"));
        assertEquals(10, s.optimizer().learningRate());
        assertEquals(1, s.regularization().weightDecay());
    }

    @Test
    void zeroLearningRate() {
        assertEquals(
                "optimizer.learningRate",
                rejects(minimalWith("optimizer: { learningRate: 0 }\n")).path());
    }

    @ParameterizedTest
    @ValueSource(strings = {"1.0", "1.5", "-0.1"})
    void dropoutOutsideZeroToOne(String rate) {
        SpecException e = rejects("run: r\ndata: {train: t}\nmodel: {inputs: 4, dropout: " + rate + "}\n");
        assertEquals("model.dropout", e.path());
        assertTrue(e.getMessage().contains("[0, 1)"), e.getMessage());
    }

    @Test
    void dropoutJustBelowOneIsAllowed() {
        RunSpec s = RunSpecParser.parse("run: r\ndata: {train: t}\nmodel: {inputs: 4, dropout: 0.99}\n");
        assertEquals(0.99, s.model().dropout());
    }

    @ParameterizedTest
    @ValueSource(strings = {"l1", "l2", "l2sp", "weightDecay", "clipGradNorm"})
    void negativeRegularizationStrength(String key) {
        SpecException e = rejects(minimalWith("regularization: { " + key + ": -0.01 }\n"));
        assertEquals("regularization." + key, e.path());
        assertTrue(e.getMessage().contains("[0, ") || e.getMessage().contains(">= 0"), e.getMessage());
    }

    @Test
    void missingDataTrain() {
        SpecException e = rejects("run: r\ndata: { validation: v }\nmodel: { inputs: 4 }\n");
        assertEquals("data.train", e.path());
        assertTrue(e.getMessage().contains("required"), e.getMessage());
    }

    @Test
    void missingDataSection() {
        assertEquals("data.train", rejects("run: r\nmodel: { inputs: 4 }\n").path());
    }

    @Test
    void missingRun() {
        SpecException e = rejects("data: { train: t }\nmodel: { inputs: 4 }\n");
        assertEquals("run", e.path());
        assertTrue(e.getMessage().contains("required"), e.getMessage());
    }

    @Test
    void missingModelInputs() {
        SpecException e = rejects("run: r\ndata: { train: t }\nmodel: { classes: 10 }\n");
        assertEquals("model.inputs", e.path());
        assertTrue(e.getMessage().contains(">= 1"), e.getMessage());
    }

    @Test
    void oneClassIsRefused() {
        SpecException e = rejects("run: r\ndata: { train: t }\nmodel: { inputs: 4, classes: 1 }\n");
        assertEquals("model.classes", e.path());
        assertTrue(e.getMessage().contains("2 or more"), e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(strings = {"\"my run\"", "team/run", "\"\"", "run:1", "a.b", "\"..\"", "col_a", "Fashion", "-x", "x-"})
    void unusableRunName(String name) {
        SpecException e = rejects("run: " + name + "\ndata: { train: t }\nmodel: { inputs: 4 }\n");
        assertEquals("run", e.path());
        assertTrue(
                e.getMessage().contains("required")
                        || e.getMessage().contains("lower-case letters a-z, digits 0-9 and hyphens"),
                e.getMessage());
    }

    @Test
    void aKeyGivenTwiceIsAnErrorNotTheLastOneSilently() {
        SpecException e = rejects(minimalWith("regularization: { l2: 0.001 }\nregularization: { l2: 0.5 }\n"));
        assertTrue(e.getMessage().contains("regularization") && e.getMessage().contains("Duplicate"), e.getMessage());
        SpecException inner = rejects(minimalWith("optimizer: { learningRate: 0.1, learningRate: 0.2 }\n"));
        assertTrue(inner.getMessage().contains("learningRate"), inner.getMessage());
    }

    @ParameterizedTest
    @ValueSource(strings = {"r", "fashion-mlp-01", "0a", "a-b-c"})
    void usableRunName(String name) {
        assertEquals(
                name,
                RunSpecParser.parse("run: " + name + "\ndata: { train: t.x_y }\nmodel: { inputs: 4 }\n")
                        .run());
    }

    @Test
    void unusableTopicName() {
        SpecException e = rejects("run: r\ndata: { train: \"my topic\" }\nmodel: { inputs: 4 }\n");
        assertEquals("data.train", e.path());
        assertTrue(e.getMessage().contains("A-Z a-z 0-9 . _ -"), e.getMessage());
    }

    @Test
    void cosineScheduleWithoutDecaySteps() {
        SpecException e = rejects(minimalWith("optimizer: { schedule: { type: cosine, warmupSteps: 10 } }\n"));
        assertEquals("optimizer.schedule.decaySteps", e.path());
        assertTrue(e.getMessage().contains("required") && e.getMessage().contains(">= 1"), e.getMessage());
    }

    @Test
    void minLearningRateAbovePeak() {
        SpecException e = rejects(
                minimalWith(
                        "optimizer: { learningRate: 0.01, schedule: { type: cosine, decaySteps: 10, minLearningRate: 0.1 } }\n"));
        assertEquals("optimizer.schedule.minLearningRate", e.path());
    }

    @Test
    void s3CheckpointStoreIsRefused() {
        SpecException e = rejects(minimalWith("checkpoints: { store: \"s3://x\" }\n"));
        assertEquals("checkpoints.store", e.path());
        assertTrue(e.getMessage().contains("kafka") && e.getMessage().contains("file:///"), e.getMessage());
    }

    @Test
    void zeroBatchSize() {
        SpecException e = rejects(minimalWith("batchSize: 0\n"));
        assertEquals("batchSize", e.path());
        assertTrue(e.getMessage().contains("[1, 1000000]"), e.getMessage());
    }

    // ---------------------------------------------------------------- earlyStopping keys

    private static EarlyStoppingSpec earlyStopping(String entries) {
        return RunSpecParser.parse(minimalWith("earlyStopping: { " + entries + " }\n"))
                .earlyStopping();
    }

    private static SpecException rejectsEarlyStopping(String entries) {
        return rejects(minimalWith("earlyStopping: { " + entries + " }\n"));
    }

    @Test
    void earlyStoppingDefaults() {
        EarlyStoppingSpec e = RunSpecParser.parse(MINIMAL).earlyStopping();
        assertAll(
                () -> assertEquals("val_loss", e.monitor()),
                () -> assertEquals("min", e.mode()),
                () -> assertEquals(3, e.patience()),
                () -> assertEquals(0.0, e.minDelta()),
                () -> assertTrue(e.enabled()),
                () -> assertEquals(1, e.startFromEpoch()),
                () -> assertNull(e.baseline()),
                () -> assertNull(e.stoppingThreshold()),
                () -> assertNull(e.divergenceThreshold()),
                () -> assertTrue(e.checkFinite()),
                () -> assertEquals("patience", e.criterion()),
                () -> assertNull(e.alpha(), "alpha only exists for gl and pq"),
                () -> assertNull(e.strip(), "strip only exists for pq and up"),
                () -> assertNull(e.successive(), "successive only exists for up"));
    }

    @Test
    void modeDefaultsToMaxForAccuracyOnly() {
        assertEquals("max", earlyStopping("monitor: val_accuracy").mode());
        assertEquals("min", earlyStopping("monitor: val_perplexity").mode());
        assertEquals("min", earlyStopping("monitor: val_accuracy, mode: min").mode());
    }

    @Test
    void criterionDefaults() {
        EarlyStoppingSpec gl = earlyStopping("criterion: gl");
        assertEquals(5.0, gl.alpha());
        assertNull(gl.strip());
        assertNull(gl.successive());
        EarlyStoppingSpec pq = earlyStopping("criterion: pq");
        assertEquals(0.5, pq.alpha());
        assertEquals(5, pq.strip());
        assertNull(pq.successive());
        EarlyStoppingSpec up = earlyStopping("criterion: up");
        assertNull(up.alpha());
        assertEquals(5, up.strip());
        assertEquals(3, up.successive());
    }

    @Test
    void everyEarlyStoppingKeyIsRead() {
        EarlyStoppingSpec e = earlyStopping("enabled: false, monitor: val_perplexity, mode: min, patience: 4,"
                + " minDelta: 0.5, startFromEpoch: 3, baseline: 100, stoppingThreshold: 1.5, divergenceThreshold: 1000,"
                + " checkFinite: false, criterion: up, strip: 2, successive: 4");
        assertEquals(
                new EarlyStoppingSpec(
                        "val_perplexity", "min", 4, 0.5, false, 3, 100.0, 1.5, 1000.0, false, "up", null, 2, 4),
                e);
        assertEquals(
                new EarlyStoppingSpec("val_loss", "min", 3, 0.0, true, 1, -1.0, null, null, true, "pq", 2.0, 7, null),
                earlyStopping("baseline: -1, criterion: pq, alpha: 2, strip: 7"));
    }

    @Test
    void earlyStoppingRoundTripsThroughYamlAndJson() {
        RunSpec original = RunSpecParser.parse(minimalWith("earlyStopping: { enabled: false, baseline: 0.5,"
                + " stoppingThreshold: 0.125, divergenceThreshold: 8, checkFinite: false, startFromEpoch: 2,"
                + " criterion: gl, alpha: 2.5 }\n"));
        assertEquals(original, RunSpecParser.parse(RunSpecParser.toYaml(original)));
        assertEquals(original, RunSpecParser.parse(RunSpecParser.toJson(original)));
        RunSpec up = RunSpecParser.parse(minimalWith("earlyStopping: { criterion: up }\n"));
        assertEquals(up, RunSpecParser.parse(RunSpecParser.toYaml(up)));
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "enabled: \"true\"|enabled|true or false",
                "enabled: 1|enabled|true or false",
                "checkFinite: \"no\"|checkFinite|true or false",
                "startFromEpoch: 1.5|startFromEpoch|integer",
                "baseline: low|baseline|a number",
                "stoppingThreshold: [1]|stoppingThreshold|a number",
                "divergenceThreshold: \"9\"|divergenceThreshold|a number",
                "criterion: 5|criterion|string",
                "criterion: gl, alpha: big|alpha|a number > 0",
                "criterion: up, strip: 2.5|strip|integer",
                "criterion: up, successive: many|successive|integer"
            })
    void earlyStoppingWrongTypes(String caseText) {
        String[] c = caseText.split("\\|");
        SpecException e = rejectsEarlyStopping(c[0]);
        assertEquals("earlyStopping." + c[1], e.path(), e.getMessage());
        assertTrue(e.getMessage().startsWith("earlyStopping." + c[1] + ": "), e.getMessage());
        assertTrue(e.getMessage().contains(c[2]), e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "monitor: val_f1|monitor|val_loss, val_accuracy, val_perplexity",
                "criterion: sgd|criterion|patience, gl, pq, up",
                "startFromEpoch: 0|startFromEpoch|[1, 1000000]",
                "criterion: gl, alpha: 0|alpha|> 0",
                "criterion: pq, alpha: -1|alpha|> 0",
                "criterion: up, strip: 0|strip|[1, 1000000]",
                "criterion: pq, strip: 1|strip|[2, 1000000]",
                "criterion: up, successive: 0|successive|[1, 1000000]",
                "alpha: 5|alpha|gl or pq",
                "criterion: up, alpha: 5|alpha|gl or pq",
                "criterion: gl, strip: 5|strip|pq or up",
                "criterion: pq, successive: 2|successive|up",
                "stoppingThreshold: 1, divergenceThreshold: 1|divergenceThreshold|above stoppingThreshold 1",
                "mode: max, stoppingThreshold: 0.5, divergenceThreshold: 0.75|divergenceThreshold|below stoppingThreshold 0.5"
            })
    void earlyStoppingImpossibleValues(String caseText) {
        String[] c = caseText.split("\\|");
        SpecException e = rejectsEarlyStopping(c[0]);
        assertEquals("earlyStopping." + c[1], e.path(), e.getMessage());
        assertTrue(e.getMessage().contains(c[2]), e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(strings = {"gl", "pq", "up"})
    void precheltCriteriaNeedModeMin(String criterion) {
        SpecException e = rejectsEarlyStopping("mode: max, criterion: " + criterion);
        assertEquals("earlyStopping.criterion", e.path());
        assertTrue(
                e.getMessage().contains("mode min") && e.getMessage().contains("allowed with mode max: patience"),
                e.getMessage());
    }

    @Test
    void glWithAccuracySaysTheModeWasDefaulted() {
        SpecException e = rejectsEarlyStopping("monitor: val_accuracy, criterion: gl");
        assertEquals("earlyStopping.criterion", e.path());
        assertTrue(e.getMessage().contains("the default for val_accuracy"), e.getMessage());
    }

    @Test
    void unknownEarlyStoppingKeyListsTheNewKeys() {
        SpecException e = rejectsEarlyStopping("patiense: 3");
        assertEquals("earlyStopping.patiense", e.path());
        for (String k : List.of(
                "enabled",
                "monitor",
                "mode",
                "patience",
                "minDelta",
                "startFromEpoch",
                "baseline",
                "stoppingThreshold",
                "divergenceThreshold",
                "checkFinite",
                "criterion",
                "alpha",
                "strip",
                "successive")) {
            assertTrue(e.getMessage().contains(k), "allowed key " + k + " missing from: " + e.getMessage());
        }
    }

    // ---------------------------------------------------------------- documents that are not specs

    @Test
    void invalidYamlIsASpecException() {
        SpecException e = rejects("run: r\ndata: { train: t\nmodel: [\n");
        assertEquals("", e.path());
        assertTrue(e.getMessage().contains("not valid YAML"), e.getMessage());
    }

    @Test
    void emptyDocument() {
        SpecException e = rejects("");
        assertTrue(e.getMessage().contains("empty"), e.getMessage());
    }

    @Test
    void listInsteadOfMapping() {
        SpecException e = rejects("- run: r\n");
        assertEquals("", e.path());
        assertTrue(e.getMessage().contains("mapping"), e.getMessage());
    }

    // ---------------------------------------------------------------- round trip and files

    @Test
    void toYamlParsesBackToAnEqualSpec() {
        RunSpec original = RunSpecParser.parse(DESIGN_EXAMPLE);
        RunSpec back = RunSpecParser.parse(RunSpecParser.toYaml(original));
        assertEquals(original, back);
    }

    @Test
    void toYamlRoundTripsNonDefaultValues() {
        RunSpec original = RunSpecParser.parse(minimalWith("""
                init: { seed: -3, from: /w/pre.safetensors }
                optimizer:
                  type: sgd
                  learningRate: 0.5
                  momentum: 0.9
                  epsilon: 1.0e-6
                  schedule: { type: cosine, warmupSteps: 5, decaySteps: 50, minLearningRate: 0.01 }
                regularization: { l1: 1.0e-5, l2: 0.25, l2sp: 2, exclude: ["*norm*", bias], clipGradNorm: 5 }
                checkpoints: { store: "file:///tmp/x", chunkBytes: 4096 }
                """));
        assertEquals(original, RunSpecParser.parse(RunSpecParser.toYaml(original)));
        assertEquals(original, RunSpecParser.parse(RunSpecParser.toJson(original)));
        // every sync mode: a manifest carries its run's spec as JSON, and the evaluator parses it back
        for (String sync : List.of(
                "{ mode: strict }", "{ mode: streaming, encoding: int8, overlapSteps: 2 }", "{ everySteps: 1 }")) {
            RunSpec s = RunSpecParser.parse(minimalWith("sync: " + sync));
            assertEquals(s, RunSpecParser.parse(RunSpecParser.toJson(s)), sync);
            assertEquals(s, RunSpecParser.parse(RunSpecParser.toYaml(s)), sync);
        }
    }

    /** Large values are printed by Jackson as 1.0E7; the parser must read them back as numbers. */
    @Test
    void toYamlRoundTripsLargeNumbers() {
        RunSpec original = RunSpecParser.parse(minimalWith("regularization: { clipGradNorm: 10000000.0 }\n"));
        assertEquals(original, RunSpecParser.parse(RunSpecParser.toYaml(original)));
    }

    @Test
    void loadReadsAFile(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("run.yaml");
        Files.writeString(f, DESIGN_EXAMPLE);
        assertEquals(RunSpecParser.parse(DESIGN_EXAMPLE), RunSpecParser.load(f));
    }

    @Test
    void loadOfAMissingFileSaysSo(@TempDir Path dir) {
        Path missing = dir.resolve("nope.yaml");
        SpecException e = assertThrows(SpecException.class, () -> RunSpecParser.load(missing));
        assertTrue(e.getMessage().contains(missing.toString()), e.getMessage());
        assertTrue(e.getMessage().contains("does not exist"), e.getMessage());
    }
}
