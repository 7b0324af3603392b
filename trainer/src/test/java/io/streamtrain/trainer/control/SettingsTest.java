package io.streamtrain.trainer.control;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.core.spec.RunSpecParser;
import java.util.Map;
import org.junit.jupiter.api.Test;

class SettingsTest {
    static final RunSpec SPEC = RunSpecParser.parse("""
            run: r
            data: { train: t }
            model: { type: mlp, inputs: 4, hidden: [8], classes: 2, dropout: 0.25 }
            optimizer: { type: adam, learningRate: 0.01 }
            regularization: { l1: 0.001, weightDecay: 0.1, exclude: [bias] }
            """);

    @Test
    void eachSettableKeyLandsAtItsPathAndNothingElseChanges() {
        RunSpec s = Settings.apply(
                SPEC, Map.of("learningRate", 0.5, "weightDecay", 0.0, "l1", 0.25, "l2", 0.125, "l2sp", 2.0));
        assertEquals(0.5, s.optimizer().learningRate());
        assertEquals(0.0, s.regularization().weightDecay());
        assertEquals(0.25, s.regularization().l1());
        assertEquals(0.125, s.regularization().l2());
        assertEquals(2.0, s.regularization().l2sp());
        assertEquals(SPEC.model(), s.model());
        assertEquals(SPEC.regularization().exclude(), s.regularization().exclude());
        assertEquals(SPEC.optimizer().type(), s.optimizer().type());
        assertEquals(SPEC.run(), s.run());
    }

    @Test
    void whatASpecWouldRefuseASetRefusesByPath() {
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> Settings.apply(SPEC, Map.of("l2", -1.0)));
        assertTrue(e.getMessage().contains("regularization.l2"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Settings.apply(SPEC, Map.of("learningRate", 0.0)));
        assertTrue(e.getMessage().contains("optimizer.learningRate"), e.getMessage());
    }

    @Test
    void modelSettingsAndUnknownKeysAreRefused() {
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> Settings.apply(SPEC, Map.of("dropout", 0.5)));
        assertTrue(e.getMessage().contains("part of the model"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Settings.apply(SPEC, Map.of("momentum", 0.5)));
        assertTrue(e.getMessage().contains("settable"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Settings.apply(SPEC, Map.of()));
    }
}
