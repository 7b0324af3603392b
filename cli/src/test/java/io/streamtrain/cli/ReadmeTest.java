package io.streamtrain.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.core.spec.RunSpecParser;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The README's example run spec is one the parser accepts, with the values it shows. */
class ReadmeTest {
    @Test
    void theExampleSpecParses() throws Exception {
        String readme = Files.readString(Path.of("..", "README.md"));
        Matcher yaml = Pattern.compile("```yaml\\n(.*?)```", Pattern.DOTALL).matcher(readme);
        assertTrue(yaml.find(), "README has a yaml example");
        RunSpec spec = RunSpecParser.parse(yaml.group(1));
        assertEquals("fashion-mlp-01", spec.run());
        assertEquals(0.0001, spec.regularization().l2());
        assertEquals(3, spec.earlyStopping().patience());
        assertEquals("cosine", spec.optimizer().schedule().type());
    }
}
