package io.streamtrain.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** A Dockerfile read as the tests need it: its instructions, continuation lines joined, comments dropped. */
record Dockerfile(List<Dockerfile.Instruction> instructions) {
    record Instruction(String keyword, String arguments) {}

    /** A COPY: a path in the build context to a path in the image. */
    record Copy(String source, String destination) {}

    private static final ObjectMapper JSON = new ObjectMapper();

    static Dockerfile read(Path file) throws IOException {
        List<Instruction> out = new ArrayList<>();
        StringBuilder current = new StringBuilder();
        for (String line : Files.readAllLines(file)) {
            String t = line.strip();
            if (t.startsWith("#") || (t.isEmpty() && current.isEmpty())) {
                continue;
            }
            if (t.endsWith("\\")) {
                current.append(t, 0, t.length() - 1).append(' ');
                continue;
            }
            current.append(t);
            String[] parts = current.toString().strip().split("\\s+", 2);
            out.add(new Instruction(parts[0].toUpperCase(java.util.Locale.ROOT), parts.length > 1 ? parts[1] : ""));
            current.setLength(0);
        }
        return new Dockerfile(out);
    }

    List<String> all(String keyword) {
        return instructions.stream()
                .filter(i -> i.keyword().equals(keyword))
                .map(Instruction::arguments)
                .toList();
    }

    /** The last instruction of a kind (the one that counts for USER, ENTRYPOINT, CMD). */
    String last(String keyword) {
        List<String> all = all(keyword);
        if (all.isEmpty()) {
            throw new AssertionError("the Dockerfile has no " + keyword);
        }
        return all.get(all.size() - 1);
    }

    /** An instruction in exec form (a JSON array), as its words. */
    List<String> exec(String keyword) {
        try {
            List<String> words = new ArrayList<>();
            for (JsonNode n : JSON.readTree(last(keyword))) {
                words.add(n.asText());
            }
            return words;
        } catch (IOException e) {
            throw new AssertionError(keyword + " is not in exec form (a JSON array): " + last(keyword), e);
        }
    }

    List<Copy> copies() {
        return all("COPY").stream()
                .map(a -> {
                    String[] words = a.split("\\s+");
                    if (words.length != 2 || words[0].startsWith("--")) {
                        throw new AssertionError("a COPY this test does not read: " + a);
                    }
                    return new Copy(words[0], words[1]);
                })
                .toList();
    }

    /** The ENV settings, {@code NAME=value} or {@code NAME="value with spaces"}. */
    Map<String, String> env() {
        Map<String, String> env = new LinkedHashMap<>();
        Pattern setting = Pattern.compile("([A-Za-z_][A-Za-z0-9_]*)=(\"([^\"]*)\"|\\S+)");
        for (String a : all("ENV")) {
            Matcher m = setting.matcher(a);
            while (m.find()) {
                env.put(m.group(1), m.group(3) != null ? m.group(3) : m.group(2));
            }
        }
        return env;
    }
}
