package io.streamtrain.evaluator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.core.evaluation.ValidationPlan;
import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.core.spec.RunSpecParser;
import java.util.Map;
import org.junit.jupiter.api.Test;

class RunContractTest {
    private static final RunSpec SPEC = Fixtures.spec("v", "patience: 3");

    private static RunSpec with(String yaml) {
        return RunSpecParser.parse(
                "run: r\ndata: { train: t, validation: v }\nmodel: { inputs: 4, classes: 2 }\nmaxEpochs: 10\n"
                        + "earlyStopping: { patience: 3 }\n" + yaml);
    }

    @Test
    void theFirstAcceptedCheckpointFixesValidationModelAndStoppingPolicy() {
        RunState s = new RunState("r");
        assertNull(
                s.brokenBy(Fixtures.spec("other", "patience: 0")), "nothing is fixed before a checkpoint was accepted");
        s.accepted(SPEC);
        assertNull(s.brokenBy(SPEC));
        assertNull(
                s.brokenBy(with("optimizer: { learningRate: 0.5 }\nregularization: { l2: 0.01 }\n")),
                "training settings are the trainers' (SET commands change them too)");
        assertEquals("data.validation v → other", s.brokenBy(Fixtures.spec("other", "patience: 3")));
        assertEquals("earlyStopping.patience 3 → 0", s.brokenBy(Fixtures.spec("v", "patience: 0")));
        RunSpec shorter = RunSpecParser.parse(RunSpecParser.toYaml(SPEC).replace("maxEpochs: 10", "maxEpochs: 1"));
        assertEquals("maxEpochs 10 → 1", s.brokenBy(shorter));
        assertEquals("model.hidden [] → [20000,20000]", s.brokenBy(RunSpecParser.parse("""
                                run: r
                                data: { train: t, validation: v }
                                model: { inputs: 4, hidden: [20000, 20000], classes: 2 }
                                maxEpochs: 10
                                earlyStopping: { patience: 3 }
                                """)));
        s.accepted(Fixtures.spec("other", "patience: 3"));
        assertEquals(
                "data.validation v → other",
                s.brokenBy(Fixtures.spec("other", "patience: 3")),
                "the first one stays the contract");
    }

    @Test
    void afterARestartThePlanFixesTheValidationTopicUntilACheckpointIsAcceptedAgain() {
        RunState s = new RunState("r");
        s.plan = new ValidationPlan("v", Map.of(0, 10L));
        assertTrue(s.brokenBy(Fixtures.spec("other", "patience: 3"))
                .startsWith("data.validation v (the run's evaluations were scored on"));
        assertNull(s.brokenBy(SPEC));
    }
}
