package io.streamtrain.trainer.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Without the PyTorch native library DJL would try the network; streamtrain stays offline
 * and says, in one message, what is missing and where it looked.
 */
@Tag("integration")
class NativeLibraryTest {
    @Test
    void aMissingNativeLibraryIsOneClearErrorAndExitCode2(@TempDir Path dir) throws Exception {
        String classpath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        String without = Arrays.stream(classpath.split(File.pathSeparator))
                .filter(p -> !p.contains("pytorch-native-cpu"))
                .collect(Collectors.joining(File.pathSeparator));
        assertTrue(without.length() < classpath.length(), "the test class path has the native jar to leave out");
        Path spec = Files.writeString(dir.resolve("run.yaml"), """
                run: native
                data: { train: native.train }
                model: { type: mlp, inputs: 4, classes: 2 }
                """);
        Path cache = Files.createDirectory(dir.resolve("djl-cache"));
        ProcessBuilder pb = new ProcessBuilder(List.of(
                        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                        "-cp",
                        without,
                        "io.streamtrain.trainer.TrainerMain",
                        "--spec",
                        spec.toString(),
                        "--bootstrap-servers",
                        "127.0.0.1:9"))
                .redirectErrorStream(true);
        pb.environment().put("DJL_CACHE_DIR", cache.toString());
        pb.environment().put("ENGINE_CACHE_DIR", cache.toString());
        Process p = pb.start();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "it must not hang");
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(2, p.exitValue(), out);
        assertTrue(
                out.contains("cannot load the PyTorch native library")
                        && out.contains("pytorch-native-cpu")
                        && out.contains(cache.toString()),
                out);
        assertFalse(out.contains("cannot reach Kafka"), "the engine is checked before the broker: " + out);
    }
}
