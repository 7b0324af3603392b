package io.streamtrain.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.core.spec.RunSpec;
import io.streamtrain.core.spec.RunSpecParser;
import io.streamtrain.testkit.Repo;
import java.nio.file.Files;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The README's example run specs are ones the parser accepts, with the values they show. */
class ReadmeTest {
    @Test
    void theExampleSpecParses() throws Exception {
        String readme = Files.readString(Repo.path("README.md"));
        Matcher yaml = Pattern.compile("```yaml\\n(.*?)```", Pattern.DOTALL).matcher(readme);
        assertTrue(yaml.find(), "README has a yaml example");
        RunSpec spec = RunSpecParser.parse(yaml.group(1));
        assertEquals("fashion-mlp-01", spec.run());
        assertEquals(0.0001, spec.regularization().l2());
        assertEquals(3, spec.earlyStopping().patience());
        assertEquals("cosine", spec.optimizer().schedule().type());
    }

    @Test
    void everyExampleSpecParses() throws Exception {
        String readme = Files.readString(Repo.path("README.md"));
        Matcher yaml =
                Pattern.compile("```yaml\\n(run: .*?)```", Pattern.DOTALL).matcher(readme);
        Map<String, RunSpec> specs = new LinkedHashMap<>();
        while (yaml.find()) {
            RunSpec spec = RunSpecParser.parse(yaml.group(1));
            specs.put(spec.run(), spec);
        }
        assertEquals(
                List.of("fashion-mlp-01", "fashion-cnn-01", "brown-pretrain", "brown-gov-tuned", "clicks-live"),
                List.copyOf(specs.keySet()));
        assertTrue(specs.get("clicks-live").data().continuous(), "the continuous-run example is one");
        assertEquals(
                List.of(1, 28, 28), specs.get("fashion-cnn-01").model().conv().inputShape());
        RunSpec tuned = specs.get("brown-gov-tuned");
        assertEquals(specs.get("brown-pretrain").model(), tuned.model(), "a fine-tune builds the model it starts from");
        assertEquals("brown-pretrain", tuned.init().checkpoint().orElseThrow().run());
    }
}
