package io.streamtrain.core.protocol;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.streamtrain.core.control.ControlMessage;
import io.streamtrain.core.control.MalformedMessageException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** What a reader does with the format version of each document streamtrain writes to a topic. */
class FormatVersionTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void controlMessagesCarryTheirVersionAndANewerOneIsRefusedSayingSo() throws Exception {
        ControlMessage.Pause pause = new ControlMessage.Pause("r1", "id-1", "t", "operator");
        ObjectNode doc = (ObjectNode) JSON.readTree(Messages.encode(pause));
        assertEquals(FormatVersion.CONTROL, doc.get(FormatVersion.FIELD).asInt());
        assertEquals(pause, Messages.decodeControl(Messages.encode(pause)).orElseThrow());

        doc.remove(FormatVersion.FIELD); // written before versions: version 1, read as before
        assertEquals(pause, Messages.decodeControl(JSON.writeValueAsBytes(doc)).orElseThrow());

        doc.put(FormatVersion.FIELD, FormatVersion.CONTROL + 1);
        MalformedMessageException newer = assertThrows(
                MalformedMessageException.class, () -> Messages.decodeControl(JSON.writeValueAsBytes(doc)));
        assertTrue(
                newer.getMessage()
                        .contains("a pause message is of format version 2, newer than this streamtrain reads (1)"),
                newer.getMessage());
        doc.put(FormatVersion.FIELD, "one");
        assertThrows(MalformedMessageException.class, () -> Messages.decodeControl(JSON.writeValueAsBytes(doc)));
    }

    @Test
    void evaluationRecordsCarryTheirVersionAndANewerOneIsRefused() throws Exception {
        byte[] newer = ("{\"type\":\"evaluation\",\"v\":" + (FormatVersion.EVALUATION + 1) + ",\"run\":\"r1\"}")
                .getBytes(StandardCharsets.UTF_8);
        MalformedMessageException e =
                assertThrows(MalformedMessageException.class, () -> Messages.decodeEvaluation(newer));
        assertTrue(e.getMessage().contains("an evaluation record is of format version 2"), e.getMessage());
    }

    @Test
    void aManifestOfANewerVersionIsNotReadAsIfItWereThisOne() {
        byte[] newer = "{\"version\":2,\"type\":\"checkpoint\",\"run\":\"r1\",\"checkpointId\":\"r1-e0001-abcd\"}"
                .getBytes(StandardCharsets.UTF_8);
        IOException e = assertThrows(IOException.class, () -> CheckpointCodec.manifestFromJson(newer));
        assertTrue(
                e.getMessage().contains("the manifest is of format version 2, newer than this streamtrain reads (1)"),
                e.getMessage());
    }
}
