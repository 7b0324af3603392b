package io.streamtrain.trainer.control;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.junit.jupiter.api.Test;

class SettingsLogTest {
    @Test
    void eachStepGetsTheSettingsInEffectWhenItWasFirstTrained() {
        SettingsLog log = new SettingsLog(SettingsTest.SPEC);
        log.add(10, Map.of("learningRate", 0.5));
        log.add(4, Map.of("l2", 0.25));
        log.add(10, Map.of("learningRate", 0.125)); // later at the same step: wins
        assertEquals(0.01, log.at(3).optimizer().learningRate());
        assertEquals(0.0, log.at(3).regularization().l2());
        assertEquals(0.25, log.at(4).regularization().l2(), "from the step after 4 steps were taken");
        assertEquals(0.01, log.at(9).optimizer().learningRate());
        assertEquals(0.125, log.at(10).optimizer().learningRate());
        assertEquals(0.25, log.at(1_000).regularization().l2());
        // a rollback to step 5 gets step 5's settings back
        assertEquals(0.01, log.at(5).optimizer().learningRate());
    }

    @Test
    void aSetTheSpecWouldRefuseIsNotRecorded() {
        SettingsLog log = new SettingsLog(SettingsTest.SPEC);
        assertThrows(IllegalArgumentException.class, () -> log.add(1, Map.of("l1", -1.0)));
        assertEquals(SettingsTest.SPEC, log.at(100));
    }

    @Test
    void l2spCannotBeTurnedOnInARunThatStartedWithoutItsAnchors() {
        SettingsLog log = new SettingsLog(SettingsTest.SPEC);
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> log.add(1, Map.of("l2sp", 0.5)));
        assertTrue(e.getMessage().contains("l2sp") && e.getMessage().contains("anchors"), e.getMessage());
        assertEquals(SettingsTest.SPEC, log.at(100), "nothing recorded");
        log.add(2, Map.of("l2sp", 0.0)); // setting it to what it is stays allowed

        SettingsLog withAnchors = new SettingsLog(Settings.apply(SettingsTest.SPEC, Map.of("l2sp", 0.1)));
        withAnchors.add(1, Map.of("l2sp", 0.5));
        assertEquals(0.5, withAnchors.at(1).regularization().l2sp());
    }
}
