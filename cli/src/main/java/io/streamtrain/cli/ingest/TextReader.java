package io.streamtrain.cli.ingest;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** The texts a language-model ingest reads: raw files as they are, or the Brown corpus's words. */
final class TextReader {
    private TextReader() {}

    /** Each file's bytes (gunzipped when gzip) as one text; directories give the files below them. */
    static List<TokenWindows.Text> raw(List<Path> inputs) throws InputException {
        List<TokenWindows.Text> out = new ArrayList<>();
        for (Path f : InputFiles.expand(inputs)) {
            out.add(new TokenWindows.Text(f, InputFiles.readAll(f)));
        }
        return out;
    }

    /** Each Brown corpus file of the genres (all when empty) as one text of its words, UTF-8. */
    static List<TokenWindows.Text> brown(List<Path> inputs, java.util.Set<Character> genres, BadLines bad)
            throws InputException {
        List<TokenWindows.Text> out = new ArrayList<>();
        for (Path f : BrownCorpus.files(inputs, genres)) {
            out.add(new TokenWindows.Text(f, BrownCorpus.text(f, bad).getBytes(StandardCharsets.UTF_8)));
        }
        return out;
    }
}
