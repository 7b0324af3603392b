package io.streamtrain.cli.export;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The files an export writes, without a broker. */
class ExportFilesTest {

    @Test
    void theManifestGoesBesideTheFileWithAnExportedSection() throws Exception {
        assertEquals(Path.of("out/model.json"), ExportFiles.manifestPath(Path.of("out/model.safetensors")));
        assertEquals(Path.of("weights.json"), ExportFiles.manifestPath(Path.of("weights")));
        byte[] record = "{\"checkpointId\":\"r-e3\",\"payload\":{\"sha256\":\"abc\"},\"future\":1}"
                .getBytes(StandardCharsets.UTF_8);
        JsonNode json = new ObjectMapper()
                .readTree(ExportFiles.manifestJson(record, Path.of("out/model.safetensors"), new byte[] {1, 2}, false));
        assertEquals("r-e3", json.get("checkpointId").asText());
        assertEquals("abc", json.get("payload").get("sha256").asText(), "the payload's hash, as verified");
        assertEquals(1, json.get("future").asInt(), "fields this version does not know are kept");
        assertEquals("model.safetensors", json.get("exported").get("file").asText());
        assertEquals(2, json.get("exported").get("size").asInt());
        assertEquals("model parameters", json.get("exported").get("contents").asText());
    }
}
