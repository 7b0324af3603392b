package io.streamtrain.core.control;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.streamtrain.core.evaluation.BestCheckpoint;
import io.streamtrain.core.evaluation.EvaluationRecord;
import io.streamtrain.core.evaluation.ValidationPlan;
import io.streamtrain.core.protocol.Messages;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.Test;

class MessagesTest {
    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void aStopIsASmallJsonDocumentWithTypeRunIdAndTime() throws Exception {
        ControlMessage.Stop stop = new ControlMessage.Stop(
                "r1",
                "id-1",
                "2026-11-29T04:00:00Z",
                "patience-exhausted",
                "no improvement for 3 evaluations",
                new BestCheckpoint(5, "r1-e0005-abcd", "val_loss", 0.25),
                "evaluator");
        JsonNode json = new ObjectMapper().readTree(Messages.encode(stop));
        assertEquals("stop", json.get("type").asText());
        assertEquals("r1", json.get("run").asText());
        assertEquals("id-1", json.get("id").asText());
        assertEquals("2026-11-29T04:00:00Z", json.get("time").asText());
        assertEquals("r1-e0005-abcd", json.get("best").get("checkpointId").asText());
        assertEquals(stop, Messages.decodeControl(Messages.encode(stop)).orElseThrow());
    }

    @Test
    void anAckRoundTrips() throws Exception {
        ControlMessage.Ack ack = new ControlMessage.Ack("r1", "id-2", "t", "id-1", "node-0", 42, "applied");
        assertEquals(ack, Messages.decodeControl(Messages.encode(ack)).orElseThrow());
    }

    @Test
    void pauseResumeAndSetRoundTripWithTheirTypes() throws Exception {
        ControlMessage.Pause pause = new ControlMessage.Pause("r1", "p", "t", "ops");
        ControlMessage.Resume resume = new ControlMessage.Resume("r1", "q", "t", "ops");
        ControlMessage.Set set = new ControlMessage.Set("r1", "s", "t", Map.of("learningRate", 0.5), "ops");
        assertEquals(
                "pause",
                new ObjectMapper().readTree(Messages.encode(pause)).get("type").asText());
        assertEquals(
                "resume",
                new ObjectMapper().readTree(Messages.encode(resume)).get("type").asText());
        assertEquals(
                "set",
                new ObjectMapper().readTree(Messages.encode(set)).get("type").asText());
        assertEquals(pause, Messages.decodeControl(Messages.encode(pause)).orElseThrow());
        assertEquals(resume, Messages.decodeControl(Messages.encode(resume)).orElseThrow());
        assertEquals(set, Messages.decodeControl(Messages.encode(set)).orElseThrow());
    }

    @Test
    void unknownTypesAndFieldsAreNotErrors() throws Exception {
        assertTrue(Messages.decodeControl(utf8("{\"type\":\"rewind\",\"run\":\"r\",\"id\":\"x\"}"))
                .isEmpty());
        ControlMessage m = Messages.decodeControl(utf8(
                        "{\"type\":\"stop\",\"run\":\"r\",\"id\":\"x\",\"reason\":\"operator\",\"color\":\"blue\"}"))
                .orElseThrow();
        assertEquals("operator", assertInstanceOf(ControlMessage.Stop.class, m).reason());
    }

    @Test
    void malformedMessagesSayWhy() {
        assertTrue(assertThrows(MalformedMessageException.class, () -> Messages.decodeControl(utf8("STOP!")))
                .getMessage()
                .contains("not JSON"));
        assertTrue(assertThrows(MalformedMessageException.class, () -> Messages.decodeControl(utf8("[1,2]")))
                .getMessage()
                .contains("JSON object"));
        assertTrue(
                assertThrows(MalformedMessageException.class, () -> Messages.decodeControl(utf8("{\"type\":\"stop\"}")))
                        .getMessage()
                        .contains("'run' and 'id'"));
        assertThrows(MalformedMessageException.class, () -> Messages.decodeControl(null));
    }

    /** Jackson quotes the document's own text in its errors, and the readers log them: it comes escaped. */
    @Test
    void aMalformedMessagesReasonCarriesNoLineOrEscapeSequenceOfItsText() throws Exception {
        com.fasterxml.jackson.databind.node.ObjectNode m = new ObjectMapper()
                .createObjectNode()
                .put("type", "set")
                .put("run", "r")
                .put("id", "x");
        m.putObject("values").put("l2", "x\n2026-01-01 INFO forged \u001b[2J");
        byte[] set = new ObjectMapper().writeValueAsBytes(m);
        String why = assertThrows(MalformedMessageException.class, () -> Messages.decodeControl(set))
                .getMessage();
        assertTrue(why.contains("at values.l2: ") && why.contains("x\\n2026-01-01 INFO forged \\u001b[2J"), why);
        String token = "{\"type\":\"stop\",\"run\":\"r\",\"id\":x\u001b[2J}";
        String parse = assertThrows(MalformedMessageException.class, () -> Messages.decodeControl(utf8(token)))
                .getMessage();
        assertTrue(parse.startsWith("not JSON: "), parse);
        for (String reason : java.util.List.of(why, parse)) {
            assertTrue(reason.chars().noneMatch(Character::isISOControl), reason);
        }
    }

    @Test
    void anEvaluationRoundTripsAndOtherDocumentsAreSkipped() throws Exception {
        EvaluationRecord e = new EvaluationRecord(
                EvaluationRecord.TYPE,
                "r",
                "id",
                "t",
                EvaluationRecord.EVALUATED,
                3,
                "r-e0003-x",
                Map.of("val_loss", 0.5, "val_accuracy", 0.75),
                0.25,
                new BestCheckpoint(2, "r-e0002-y", "val_loss", 0.375),
                1,
                2,
                EvaluationRecord.CONTINUE,
                null,
                "improving",
                0.125,
                new ValidationPlan("r.validation", Map.of(0, 40L, 1, 7L)));
        assertEquals(e, Messages.decodeEvaluation(Messages.encode(e)).orElseThrow());
        JsonNode json = new ObjectMapper().readTree(Messages.encode(e));
        assertEquals("r.validation", json.get("validation").get("topic").asText());
        assertEquals(7, json.get("validation").get("endOffsets").get("1").asLong());
        assertTrue(Messages.decodeEvaluation(utf8("{\"type\":\"stop\"}")).isEmpty());
    }

    @Test
    void anEvaluationWrittenBeforeValidationPlansHasNone() throws Exception {
        // as evaluators wrote them before the plan was recorded: a restarted evaluator plans such a run anew
        EvaluationRecord old = Messages.decodeEvaluation(utf8("""
                {"type":"evaluation","run":"r","id":"id","time":"t","status":"evaluated","epoch":1,"checkpointId":"r-e0001-x",
                 "metrics":{"val_loss":0.5},"trainLoss":0.25,"best":null,"waitCount":0,"patienceLeft":3,"decision":"continue",
                 "reason":null,"explanation":"first","evaluationSeconds":0.01}
                """)).orElseThrow();
        assertEquals(0.5, old.metrics().get("val_loss"));
        assertNull(old.validation());
    }
}
