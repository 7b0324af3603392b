package io.streamtrain.core.spec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/** The run spec's model types (mlp, cnn, causal-lm) and the fine-tuning keys of init. */
class ModelAndInitSpecTest {

    private static RunSpec parse(String model) {
        return RunSpecParser.parse("run: r\ndata: { train: t }\nmodel: " + model + "\n");
    }

    private static RunSpec withInit(String init) {
        return RunSpecParser.parse("run: r\ndata: { train: t }\nmodel: { inputs: 4 }\ninit: " + init + "\n");
    }

    private static SpecException rejects(String yaml, String path) {
        SpecException e = assertThrows(SpecException.class, () -> RunSpecParser.parse(yaml));
        assertEquals(path, e.path(), e.getMessage());
        return e;
    }

    private static void roundTrips(RunSpec s) {
        assertEquals(s, RunSpecParser.parse(RunSpecParser.toYaml(s)));
        assertEquals(s, RunSpecParser.parse(RunSpecParser.toJson(s)));
    }

    // ---------------------------------------------------------------- cnn and causal-lm

    @Test
    void cnnWithItsDefaults() {
        RunSpec s = parse("{ type: cnn, inputShape: [1, 28, 28], conv: [32, 64], classes: 10 }");
        ModelSpec m = s.model();
        assertEquals("cnn", m.type());
        assertEquals(784, m.inputs(), "x carries C*H*W values per sample");
        assertEquals(new ModelSpec.Conv(List.of(1, 28, 28), List.of(32, 64), 3, 2, 0.0), m.conv());
        assertEquals(List.of(64, 7, 7), m.conv().outputShape());
        assertEquals(List.of(), m.hidden());
        assertEquals("relu", m.activation());
        assertEquals(1, m.yWidth());
        roundTrips(s);
    }

    @Test
    void cnnWithEveryKey() {
        RunSpec s =
                parse("{ type: cnn, inputShape: [3, 32, 32], conv: [16, 32, 64], kernel: 5, pool: 2, convDropout: 0.1,"
                        + " hidden: [128, 64], activation: gelu, classes: 10, dropout: 0.5 }");
        assertEquals(
                new ModelSpec.Conv(List.of(3, 32, 32), List.of(16, 32, 64), 5, 2, 0.1),
                s.model().conv());
        assertEquals(List.of(128, 64), s.model().hidden());
        assertEquals(0.5, s.model().dropout());
        assertEquals(3 * 32 * 32, s.model().inputs());
        roundTrips(s);
    }

    @ParameterizedTest
    @CsvSource(
            delimiter = '|',
            value = {
                "{ type: cnn, conv: [8], classes: 2 }|model.inputShape|is required",
                "{ type: cnn, inputShape: [28, 28], conv: [8], classes: 2 }|model.inputShape|[C, H, W]",
                "{ type: cnn, inputShape: [1, 28, 28], classes: 2 }|model.conv|is required",
                "{ type: cnn, inputShape: [1, 28, 28], conv: [], classes: 2 }|model.conv|is required",
                "{ type: cnn, inputShape: [1, 28, 28], conv: [8], kernel: 4, classes: 2 }|model.kernel|odd",
                "{ type: cnn, inputShape: [1, 8, 8], conv: [4, 4, 4, 4], classes: 2 }|model.conv|do not fit",
                "{ type: cnn, inputShape: [1, 28, 28], conv: [8], convDropout: 1, classes: 2 }|model.convDropout|[0, 1)",
                "{ type: cnn, inputs: 784, inputShape: [1, 28, 28], conv: [8], classes: 2 }|model.inputs|unknown key 'inputs'",
                "{ type: cnn, inputShape: [1, 28, 28], conv: [8], context: 8 }|model.context|unknown key 'context'",
                "{ type: causal-lm }|model.context|is required",
                "{ type: causal-lm, context: 8, width: 30, heads: 4 }|model.width|multiple of heads",
                "{ type: causal-lm, context: 8, classes: 10 }|model.classes|unknown key 'classes'",
                "{ type: causal-lm, context: 8, attentionDropout: -0.1 }|model.attentionDropout|[0, 1)",
                "{ type: causal-lm, context: 8, tieEmbeddings: yes please }|model.tieEmbeddings|true or false",
                "{ type: transformer, context: 8 }|model.type|allowed: mlp, cnn, causal-lm"
            })
    void mistakesAreNamedByPath(String model, String path, String says) {
        SpecException e = rejects("run: r\ndata: { train: t }\nmodel: " + model + "\n", path);
        assertTrue(e.getMessage().contains(says), e.getMessage());
    }

    @Test
    void aKeyOfAnotherTypeListsTheKeysOfThisOne() {
        SpecException e =
                rejects("run: r\ndata: { train: t }\nmodel: { type: mlp, inputs: 4, conv: [8] }\n", "model.conv");
        assertTrue(e.getMessage().contains("allowed keys: type, inputs, hidden"), e.getMessage());
    }

    // ---------------------------------------------------------------- causal-lm

    @Test
    void causalLmWithItsDefaults() {
        RunSpec s = parse("{ type: causal-lm, context: 64 }");
        ModelSpec m = s.model();
        assertEquals(new ModelSpec.Transformer(64, 2, 4, 128, 512, 0.0, true), m.transformer());
        assertEquals(256, m.classes(), "byte-level vocabulary");
        assertEquals(64, m.inputs());
        assertEquals(64, m.yWidth(), "the next token at every position");
        assertEquals("gelu", m.activation());
        roundTrips(s);
    }

    @Test
    void causalLmWithEveryKey() {
        RunSpec s = parse(
                "{ type: causal-lm, context: 128, layers: 4, heads: 8, width: 256, mlpWidth: 640, activation: relu,"
                        + " dropout: 0.1, attentionDropout: 0.2, tieEmbeddings: false }");
        assertEquals(
                new ModelSpec.Transformer(128, 4, 8, 256, 640, 0.2, false),
                s.model().transformer());
        assertEquals(0.1, s.model().dropout());
        roundTrips(s);
    }

    @Test
    void anMlpSpecIsWrittenWithTheKeysItAlwaysHad() {
        // checkpoint manifests of earlier runs carry these keys; the parser must keep reading them
        assertEquals(
                List.of("type", "inputs", "hidden", "activation", "classes", "outputs", "dropout"),
                List.copyOf(
                        parse("{ inputs: 4, classes: 3 }").model().asDocument().keySet()));
    }

    // ---------------------------------------------------------------- init

    @Test
    void initFromAFileFreezingByPattern() {
        InitSpec init = withInit("{ from: /w/base.safetensors, freeze: [tokenEmbedding, \"*layer_01*\"] }")
                .init();
        assertEquals(Optional.of("/w/base.safetensors"), init.file());
        assertEquals(Optional.empty(), init.checkpoint());
        assertEquals(List.of("tokenEmbedding", "*layer_01*"), init.freeze());
        roundTrips(withInit("{ from: /w/base.safetensors, freeze: [tokenEmbedding] }"));
    }

    @ParameterizedTest
    @CsvSource({
        "run:brown-pre, brown-pre, LATEST, 0",
        "run:brown-pre@latest, brown-pre, LATEST, 0",
        "run:brown-pre@best, brown-pre, BEST, 0",
        "run:brown-pre@promoted, brown-pre, PROMOTED, 0",
        "run:brown-pre-2@12, brown-pre-2, EPOCH, 12"
    })
    void initFromAnotherRunsCheckpoint(String from, String run, CheckpointRef.Which which, int epoch) {
        RunSpec s = withInit("{ from: \"" + from + "\" }");
        assertEquals(Optional.of(new CheckpointRef(run, which, epoch)), s.init().checkpoint());
        assertEquals(Optional.empty(), s.init().file());
        assertEquals(from.replace("@latest", ""), s.init().checkpoint().get().toString());
        roundTrips(s);
    }

    @ParameterizedTest
    @ValueSource(strings = {"run:", "run:a b", "run:x@worst", "run:x@0", "run:x@-1", "run:x@1.5", "run:x@best@2"})
    void aBadCheckpointReferenceSaysWhatIsAllowed(String from) {
        SpecException e = rejects(
                "run: r\ndata: { train: t }\nmodel: { inputs: 4 }\ninit: { from: \"" + from + "\" }\n", "init.from");
        assertTrue(e.getMessage().contains("run:NAME@best") || e.getMessage().contains("count from 1"), e.getMessage());
    }

    @Test
    void aRunCannotStartFromItsOwnCheckpoints() {
        SpecException e = rejects(
                "run: r\ndata: { train: t }\nmodel: { inputs: 4 }\ninit: { from: \"run:r@best\" }\n", "init.from");
        assertTrue(e.getMessage().contains("own checkpoints"), e.getMessage());
    }

    @Test
    void freezeEntriesMustBeStrings() {
        rejects("run: r\ndata: { train: t }\nmodel: { inputs: 4 }\ninit: { freeze: [\"\"] }\n", "init.freeze[0]");
        rejects("run: r\ndata: { train: t }\nmodel: { inputs: 4 }\ninit: { freeze: bias }\n", "init.freeze");
    }
}
