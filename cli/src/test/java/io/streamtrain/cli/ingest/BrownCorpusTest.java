package io.streamtrain.cli.ingest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** A small corpus in the Brown layout: genre by file name, word/tag tokens, one sentence a line. */
class BrownCorpusTest {
    static Path corpus(Path dir) throws Exception {
        Files.writeString(dir.resolve("ca01"), """


                \tThe/at Fulton/np-tl County/nn-tl said/vbd ./.


                \tIt/pps was/bedz ``/`` fine/jj ''/'' ./.
                """);
        Files.writeString(dir.resolve("ch01"), """
                \tThe/at Office/nn-tl of/in-tl Business/nn-tl Economics/nn-tl ./.
                \tThis/dt line/nn is broken/vbn ./.
                \tA/at 1/2/cd inch/nn ./.
                """);
        Files.writeString(dir.resolve("ch02"), "\tGovernment/nn reports/nns ./.\n");
        Files.writeString(dir.resolve("cats.txt"), "ca01 news\nch01 government\nch02 government\n");
        Files.writeString(dir.resolve("README"), "BROWN CORPUS\n");
        return dir;
    }

    @Test
    void genresAreChosenByLetterOrNameAndTheFileNameIsTheGenre(@TempDir Path dir) throws Exception {
        corpus(dir);
        assertEquals(Set.of('h'), BrownCorpus.genres(List.of("government")));
        assertEquals(Set.of('a', 'h', 'g'), BrownCorpus.genres(List.of("H,news", "belles-lettres")));
        assertEquals(List.of(dir.resolve("ch01"), dir.resolve("ch02")), BrownCorpus.files(List.of(dir), Set.of('h')));
        assertEquals(
                List.of(dir.resolve("ca01"), dir.resolve("ch01"), dir.resolve("ch02")),
                BrownCorpus.files(List.of(dir), Set.of()),
                "cats.txt and README are not corpus files");
        InputException unknown = assertThrows(InputException.class, () -> BrownCorpus.genres(List.of("poetry")));
        assertTrue(
                unknown.getMessage().contains("poetry") && unknown.getMessage().contains("h=government"),
                unknown.getMessage());
        InputException none = assertThrows(InputException.class, () -> BrownCorpus.files(List.of(dir), Set.of('r')));
        assertTrue(none.getMessage().contains("r=humor"), none.getMessage());
        InputException misnamed =
                assertThrows(InputException.class, () -> BrownCorpus.files(List.of(dir.resolve("README")), Set.of()));
        assertTrue(misnamed.getMessage().contains("not named like a Brown corpus file"), misnamed.getMessage());
    }

    @Test
    void wordsAreJoinedAsTextTagsDroppedAndABadLineIsReportedAndLeftOut(@TempDir Path dir) throws Exception {
        corpus(dir);
        List<String> reports = new ArrayList<>();
        BadLines bad = SampleValues.badLines(reports);
        assertEquals("The Fulton County said .\nIt was `` fine '' .\n", BrownCorpus.text(dir.resolve("ca01"), bad));
        assertEquals(
                "The Office of Business Economics .\nA 1/2 inch .\n",
                BrownCorpus.text(dir.resolve("ch01"), bad),
                "the last slash separates the tag: 1/2/cd is the word 1/2");
        assertEquals(List.of("bad line " + dir.resolve("ch01") + ":2: token 'is' is not word/tag"), reports);
    }

    @Test
    void holdingOutDocumentsTakesEachGenresShareAsWholeFilesTheSameForTheSameSeed() {
        List<Path> files = new ArrayList<>();
        for (int i = 1; i <= 20; i++) {
            files.add(Path.of(String.format("ca%02d", i)));
        }
        for (int i = 1; i <= 3; i++) {
            files.add(Path.of(String.format("ch%02d", i)));
        }
        files.add(Path.of("cr01"));
        BrownCorpus.Split split = BrownCorpus.holdOut(files, 0.1, 42);
        assertEquals(
                2,
                split.validation().stream()
                        .filter(f -> f.toString().startsWith("ca"))
                        .count(),
                "10 % of 20 news files");
        assertEquals(
                1,
                split.validation().stream()
                        .filter(f -> f.toString().startsWith("ch"))
                        .count(),
                "at least one of a genre");
        assertTrue(split.train().contains(Path.of("cr01")), "a genre's only file stays in training");
        assertEquals(files.size(), split.train().size() + split.validation().size());
        assertTrue(split.train().stream().noneMatch(split.validation()::contains));
        assertEquals(split, BrownCorpus.holdOut(files, 0.1, 42));
        assertTrue(!split.equals(BrownCorpus.holdOut(files, 0.1, 7)), "another seed, other documents");
        List<Path> governmentOnly =
                files.stream().filter(f -> f.toString().startsWith("ch")).toList();
        assertEquals(
                split.validation().stream()
                        .filter(f -> f.toString().startsWith("ch"))
                        .toList(),
                BrownCorpus.holdOut(governmentOnly, 0.1, 42).validation(),
                "a genre's choice does not depend on the other genres");
        assertEquals(
                2,
                BrownCorpus.holdOut(files, 0.9, 42).validation().stream()
                        .filter(f -> f.toString().startsWith("ch"))
                        .count(),
                "never all of a genre");
    }

    @Test
    void theHelpListsTheGenresAsTheParserKnowsThem() {
        String help = new CommandLine(new IngestCommand())
                .getSubcommands()
                .get("brown")
                .getUsageMessage();
        assertTrue(help.replaceAll("\\s+", " ").contains(BrownCorpus.describeGenres()), help);
    }
}
