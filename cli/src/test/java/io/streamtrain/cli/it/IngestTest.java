package io.streamtrain.cli.it;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.cli.ingest.IdxFiles;
import io.streamtrain.core.codec.DType;
import io.streamtrain.core.codec.SafeTensors;
import io.streamtrain.core.codec.Tensor;
import io.streamtrain.testkit.KafkaFixture;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code streamtrain ingest} against a real broker: each format is written and read back
 * from the topic with a plain consumer, its records decoded and compared with the source.
 */
@Tag("integration")
class IngestTest {
    @RegisterExtension
    static final KafkaFixture kafka = new KafkaFixture();

    static String bootstrap;

    @BeforeAll
    static void broker() throws Exception {
        bootstrap = kafka.broker.bootstrapServers();
    }

    static CommandRun ingest(String... args) {
        List<String> all = new ArrayList<>(List.of("ingest"));
        all.addAll(List.of(args));
        all.addAll(List.of("--bootstrap-servers", bootstrap));
        return CommandRun.of(all.toArray(String[]::new));
    }

    /** The records of a topic decoded, in partition then offset order. */
    static List<SafeTensors.Document> documents(String topic) throws Exception {
        List<SafeTensors.Document> out = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> r : kafka.readAll(topic)) {
            out.add(SafeTensors.read(r.value()));
        }
        return out;
    }

    static long samples(List<SafeTensors.Document> docs) {
        return docs.stream().mapToLong(d -> d.tensor("x").dim(0)).sum();
    }

    @Test
    void idxImagesAndLabelsAreSplitShuffledAndWrittenRoundRobin(@TempDir Path dir) throws Exception {
        int n = 50;
        int pixels = 16;
        byte[] images = new byte[n * pixels];
        byte[] labels = new byte[n];
        for (int i = 0; i < n; i++) {
            images[i * pixels] = (byte) i; // the first pixel names the image
            for (int p = 1; p < pixels; p++) {
                images[i * pixels + p] = (byte) (i * 7 + p * 13);
            }
            labels[i] = (byte) (i % 10);
        }
        Path imagesFile = Files.write(
                dir.resolve("train-images-idx3-ubyte.gz"), IdxFiles.gzip(IdxFiles.idx(new int[] {n, 4, 4}, images)));
        Path labelsFile = Files.write(dir.resolve("train-labels-idx1-ubyte"), IdxFiles.idx(new int[] {n}, labels));

        CommandRun run = ingest(
                "idx",
                labelsFile.toString(),
                imagesFile.toString(),
                "--topic",
                "idx.train",
                "--partitions",
                "3",
                "--validation-topic",
                "idx.validation",
                "--validation-fraction",
                "0.2",
                "--records-per-message",
                "8",
                "--progress",
                "bar");
        assertEquals(0, run.exitCode(), run.toString());
        assertTrue(
                run.out().contains("read 50 samples from 2 files (x F32 [B, 16], y I64 [B]): no bad lines"), run.out());
        assertTrue(
                run.out().contains("wrote 40 samples to idx.train: 5 records of up to 8 samples over 3 partitions"),
                run.out());
        assertTrue(
                run.out().contains("wrote 10 samples to idx.validation: 2 records of up to 8 samples over 1 partition"),
                run.out());
        assertTrue(
                run.err().contains("idx.train [##############################] 100%  5/5 records"),
                "the bar, drawn complete: " + run.err());

        List<ConsumerRecord<byte[], byte[]>> train = kafka.readAll("idx.train");
        assertEquals(
                List.of(0, 0, 1, 1, 2),
                train.stream().map(ConsumerRecord::partition).toList(),
                "records 0..4 round-robin over 3 partitions");
        List<SafeTensors.Document> docs = new ArrayList<>(documents("idx.train"));
        docs.addAll(documents("idx.validation"));
        assertEquals(50, samples(docs));
        List<Integer> seen = new ArrayList<>();
        for (SafeTensors.Document d : docs) {
            Tensor x = d.tensor("x");
            assertEquals(DType.F32, x.dtype());
            assertEquals(16, x.dim(1));
            float[] xs = x.toFloats();
            long[] ys = d.tensor("y").toLongs();
            for (int s = 0; s < ys.length; s++) {
                int image = Math.round(xs[s * pixels] * 255);
                seen.add(image);
                for (int p = 0; p < pixels; p++) {
                    assertEquals(
                            (images[image * pixels + p] & 0xff) / 255f,
                            xs[s * pixels + p],
                            "image " + image + " pixel " + p);
                }
                assertEquals(labels[image], ys[s], "label of image " + image);
            }
        }
        assertEquals(50, seen.stream().distinct().count(), "every image once, across both topics");
        assertFalse(seen.subList(0, 10).equals(List.of(0, 1, 2, 3, 4, 5, 6, 7, 8, 9)), "shuffled: " + seen);
    }

    @Test
    void csvWithBadLinesWritesTheGoodOnesAndReportsEachBadOneByFileAndLine(@TempDir Path dir) throws Exception {
        Path csv = Files.writeString(dir.resolve("iris.csv"), """
                sepal_length,sepal_width,species
                5.1,3.5,0
                4.9,oops,1
                4.7,3.2,1
                6.0,2
                6.3,3.3,2
                """);
        CommandRun run = ingest(
                "csv",
                csv.toString(),
                "--label",
                "species",
                "--topic",
                "csv.train",
                "--no-shuffle",
                "--records-per-message",
                "2",
                "--partitions",
                "1",
                "--progress",
                "plain");
        assertEquals(0, run.exitCode(), run.toString());
        assertTrue(run.err().contains(csv + ":3: column 'sepal_width': 'oops' is not a number"), run.err());
        assertTrue(run.err().contains(csv + ":5: expected 3 fields, found 2"), run.err());
        assertTrue(run.out().contains("2 bad lines skipped (" + csv + ": 2)"), run.out());
        List<SafeTensors.Document> docs = documents("csv.train");
        assertEquals(2, docs.size());
        assertArrayEquals(
                new float[] {5.1f, 3.5f, 4.7f, 3.2f}, docs.get(0).tensor("x").toFloats());
        assertArrayEquals(new long[] {0, 1}, docs.get(0).tensor("y").toLongs());
        assertArrayEquals(new float[] {6.3f, 3.3f}, docs.get(1).tensor("x").toFloats());
        assertArrayEquals(new long[] {2}, docs.get(1).tensor("y").toLongs());
    }

    @Test
    void jsonlRoundTripsWithASeparateValidationSource(@TempDir Path dir) throws Exception {
        Path train = Files.writeString(dir.resolve("train.jsonl"), """
                {"x": [[1, 2], [3, 4]], "y": 0.5}
                {"x": [[5, 6], [7, 8]], "y": 1.5}
                {"x": [[9, 10]], "y": 1}
                """);
        Path validation = Files.writeString(dir.resolve("validation.jsonl"), "{\"x\": [[0, 0], [0, 1]], \"y\": 2.5}\n");
        CommandRun run = ingest(
                "jsonl",
                train.toString(),
                "--topic",
                "jsonl.train",
                "--no-shuffle",
                "--validation-topic",
                "jsonl.validation",
                "--validation-input",
                validation.toString(),
                "--progress",
                "none");
        assertEquals(0, run.exitCode(), run.toString());
        assertTrue(run.err().contains(train + ":3: x has shape [1, 2]"), run.err());
        SafeTensors.Document d = documents("jsonl.train").get(0);
        assertArrayEquals(new long[] {2, 2, 2}, d.tensor("x").shape());
        assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6, 7, 8}, d.tensor("x").toFloats());
        assertEquals(DType.F32, d.tensor("y").dtype(), "targets written as decimals are float32");
        assertArrayEquals(new float[] {0.5f, 1.5f}, d.tensor("y").toFloats());
        SafeTensors.Document v = documents("jsonl.validation").get(0);
        assertArrayEquals(new float[] {0, 0, 0, 1}, v.tensor("x").toFloats());
        assertArrayEquals(new float[] {2.5f}, v.tensor("y").toFloats());
    }

    @Test
    void textBecomesByteWindowsWithTargetsShiftedByOne(@TempDir Path dir) throws Exception {
        String text = "the quick brown fox jumps over the lazy dog";
        Path file = Files.writeString(dir.resolve("fox.txt"), text);
        CommandRun run = ingest(
                "text",
                file.toString(),
                "--context",
                "8",
                "--topic",
                "text.train",
                "--no-shuffle",
                "--progress",
                "none");
        assertEquals(0, run.exitCode(), run.toString());
        byte[] bytes = text.getBytes(StandardCharsets.US_ASCII);
        List<SafeTensors.Document> docs = documents("text.train");
        assertEquals((bytes.length - 9) / 8 + 1, samples(docs));
        Tensor x = docs.get(0).tensor("x");
        Tensor y = docs.get(0).tensor("y");
        assertEquals(DType.I64, x.dtype());
        assertArrayEquals(new long[] {x.dim(0), 8}, y.shape());
        long[] xs = x.toLongs();
        long[] ys = y.toLongs();
        for (int w = 0; w < x.dim(0); w++) {
            for (int k = 0; k < 8; k++) {
                assertEquals(bytes[w * 8 + k], xs[w * 8 + k]);
                assertEquals(bytes[w * 8 + k + 1], ys[w * 8 + k]);
            }
        }
    }

    @Test
    void theBrownCorpusGenreSelectionKeepsOnlyThatGenresWords(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("ca01"), "\tNewspaper/nn words/nns here/rb ./.\n");
        Files.writeString(
                dir.resolve("ch01"),
                "\tThe/at Office/nn-tl of/in-tl Business/nn-tl Economics/nn-tl ./.\n\tbroken line/nn\n");
        Files.writeString(dir.resolve("cats.txt"), "ca01 news\nch01 government\n");
        CommandRun run = ingest(
                "brown",
                dir.toString(),
                "--genres",
                "government",
                "--context",
                "4",
                "--topic",
                "brown.gov",
                "--no-shuffle",
                "--progress",
                "none");
        assertEquals(0, run.exitCode(), run.toString());
        assertTrue(run.err().contains(dir.resolve("ch01") + ":2: token 'broken' is not word/tag"), run.err());
        StringBuilder windows = new StringBuilder();
        for (SafeTensors.Document d : documents("brown.gov")) {
            for (long t : d.tensor("x").toLongs()) {
                windows.append((char) t);
            }
        }
        String expected = "The Office of Business Economics .\n";
        assertEquals(
                expected.substring(0, windows.length()),
                windows.toString(),
                "the government file's words, tags dropped");
        assertEquals((expected.length() - 5) / 4 + 1, windows.length() / 4);
    }

    @Test
    void brownValidationDocumentsAreWholeFilesNoTrainingWindowComesFrom(@TempDir Path dir) throws Exception {
        // four government documents, each of one repeated word: a window's text names its document
        for (String doc : List.of("ch01", "ch02", "ch03", "ch04")) {
            Files.writeString(dir.resolve(doc), ("\t" + doc + "/nn ./.\n").repeat(20));
        }
        CommandRun run = ingest(
                "brown",
                dir.toString(),
                "--genres",
                "h",
                "--context",
                "8",
                "--topic",
                "docs.train",
                "--validation-topic",
                "docs.validation",
                "--validation-documents",
                "0.25",
                "--progress",
                "none");
        assertEquals(0, run.exitCode(), run.toString());
        java.util.regex.Matcher held = java.util.regex.Pattern.compile("validation documents \\(1 of 4\\): (ch0\\d)")
                .matcher(run.out());
        assertTrue(held.find(), run.out());
        Set<String> train = documentsIn("docs.train");
        assertEquals(
                Set.of(held.group(1)),
                documentsIn("docs.validation"),
                "the validation topic holds the held-out document only");
        assertEquals(3, train.size(), "train: " + train);
        assertFalse(train.contains(held.group(1)), "train: " + train);

        CommandRun limited = ingest(
                "brown",
                dir.toString(),
                "--context",
                "8",
                "--topic",
                "docs.limited.train",
                "--validation-topic",
                "docs.limited.validation",
                "--validation-documents",
                "0.25",
                "--validation-limit",
                "3",
                "--progress",
                "none");
        assertEquals(0, limited.exitCode(), limited.toString());
        assertEquals(3, samples(documents("docs.limited.validation")), "--validation-limit 3");
        assertTrue(samples(documents("docs.limited.train")) > 3, "the train topic is not limited by it");

        CommandRun sameTopic = ingest(
                "brown",
                dir.toString(),
                "--topic",
                "same",
                "--validation-topic",
                "same",
                "--validation-documents",
                "0.25");
        assertEquals(2, sameTopic.exitCode(), sameTopic.toString());
        assertTrue(sameTopic.err().contains("--topic and --validation-topic must differ"), sameTopic.err());
        assertFalse(
                sameTopic.out().contains("validation documents"),
                "nothing said of the documents before the error: " + sameTopic.out());

        CommandRun limitAlone = ingest("brown", dir.toString(), "--topic", "never.written", "--validation-limit", "3");
        assertEquals(2, limitAlone.exitCode(), limitAlone.toString());
        assertTrue(limitAlone.err().contains("--validation-limit needs --validation-topic"), limitAlone.err());

        CommandRun both = ingest(
                "brown",
                dir.toString(),
                "--topic",
                "never.written",
                "--validation-topic",
                "never.validation",
                "--validation-documents",
                "0.25",
                "--validation-fraction",
                "0.1");
        assertEquals(2, both.exitCode(), both.toString());
        assertTrue(
                both.err().contains("give one of --validation-documents, --validation-fraction and --validation-input"),
                both.err());
    }

    /** The document names (chNN) in the windows of a topic, read window by window. */
    private static Set<String> documentsIn(String topic) throws Exception {
        Set<String> names = new java.util.TreeSet<>();
        for (SafeTensors.Document d : documents(topic)) {
            Tensor x = d.tensor("x");
            long[] tokens = x.toLongs();
            int context = (int) x.dim(1);
            for (int w = 0; w < x.dim(0); w++) {
                StringBuilder window = new StringBuilder();
                for (int k = 0; k < context; k++) {
                    window.append((char) tokens[w * context + k]);
                }
                java.util.regex.Matcher m =
                        java.util.regex.Pattern.compile("ch0\\d").matcher(window);
                while (m.find()) {
                    names.add(m.group());
                }
            }
        }
        return names;
    }

    @Test
    void inputsThatCannotBeIngestedAreOneClearLineAndExitTwoWithNothingWritten(@TempDir Path dir) throws Exception {
        Path bad = Files.writeString(dir.resolve("bad.csv"), "a,y\nx,1\n,2\n");
        CommandRun allBad = ingest("csv", bad.toString(), "--label", "y", "--topic", "never.written");
        assertEquals(2, allBad.exitCode(), allBad.toString());
        assertTrue(allBad.err().contains("every data line was bad (2 bad lines skipped"), allBad.err());
        Path empty = Files.writeString(dir.resolve("empty.jsonl"), "\n");
        CommandRun none = ingest("jsonl", empty.toString(), "--topic", "never.written");
        assertEquals(2, none.exitCode(), none.toString());
        assertTrue(none.err().contains("the input is empty"), none.err());
        CommandRun missing = ingest("text", dir.resolve("nope.txt").toString(), "--topic", "never.written");
        assertEquals(2, missing.exitCode(), missing.toString());
        assertTrue(missing.err().contains("nope.txt: no such file"), missing.err());
        CommandRun badOption =
                ingest("csv", bad.toString(), "--label", "y", "--topic", "t", "--validation-fraction", "0.2");
        assertEquals(2, badOption.exitCode(), badOption.toString());
        assertTrue(badOption.err().contains("need --validation-topic"), badOption.err());
        CommandRun usage = ingest("csv", bad.toString(), "--topic", "t");
        assertEquals(2, usage.exitCode());
        assertEquals(
                2, usage.err().lines().count(), "a usage mistake is one line and a pointer to --help: " + usage.err());
        try (Admin admin = Admin.create(kafka.settings.admin())) {
            assertFalse(admin.listTopics().names().get(10, TimeUnit.SECONDS).contains("never.written"));
        }
    }

    @Test
    void anExistingTopicIsCheckedForRoomAndRecordsBeforeAnythingIsWritten(@TempDir Path dir) throws Exception {
        StringBuilder lines = new StringBuilder("a,b,y\n");
        for (int i = 0; i < 100; i++) {
            lines.append(i).append(',').append(-i).append(',').append(i % 2).append('\n');
        }
        Path csv = Files.writeString(dir.resolve("d.csv"), lines);
        try (Admin admin = Admin.create(kafka.settings.admin())) {
            admin.createTopics(List.of(
                            new NewTopic("small.train", 2, (short) 1).configs(Map.of("max.message.bytes", "1024"))))
                    .all()
                    .get(30, TimeUnit.SECONDS);
        }
        CommandRun tooSmall =
                ingest("csv", csv.toString(), "--label", "y", "--topic", "small.train", "--records-per-message", "100");
        assertEquals(2, tooSmall.exitCode(), tooSmall.toString());
        assertTrue(
                tooSmall.err().contains("topic small.train accepts records of at most 1024 bytes (max.message.bytes)")
                        && tooSmall.err().contains("--records-per-message"),
                tooSmall.err());
        assertEquals(0, kafka.readAll("small.train").size());

        CommandRun fits = ingest(
                "csv",
                csv.toString(),
                "--label",
                "y",
                "--topic",
                "small.train",
                "--records-per-message",
                "10",
                "--progress",
                "none");
        assertEquals(0, fits.exitCode(), fits.toString());
        assertTrue(
                fits.out().contains("over 2 partitions") && fits.out().contains("to the existing topic"), fits.out());
        assertEquals(10, kafka.readAll("small.train").size());

        CommandRun again =
                ingest("csv", csv.toString(), "--label", "y", "--topic", "small.train", "--records-per-message", "10");
        assertEquals(2, again.exitCode(), again.toString());
        assertTrue(
                again.err().contains("already holds 10 records") && again.err().contains("--append"), again.err());
        CommandRun append = ingest(
                "csv",
                csv.toString(),
                "--label",
                "y",
                "--topic",
                "small.train",
                "--records-per-message",
                "10",
                "--append",
                "--progress",
                "none");
        assertEquals(0, append.exitCode(), append.toString());
        assertEquals(20, kafka.readAll("small.train").size());
    }

    @Test
    void aRecordLargerThanKafkasDefaultGetsATopicThatTakesIt(@TempDir Path dir) throws Exception {
        Path file = Files.write(dir.resolve("big.txt"), new byte[600_000]);
        // 2 windows of 100k tokens: 2 x (x + y) x 8 bytes = 3.2 MB in one record
        CommandRun run = ingest(
                "text",
                file.toString(),
                "--context",
                "100000",
                "--records-per-message",
                "2",
                "--topic",
                "big.train",
                "--progress",
                "none");
        assertEquals(0, run.exitCode(), run.toString());
        List<ConsumerRecord<byte[], byte[]>> records = kafka.readAll("big.train");
        assertEquals(
                5,
                samples(documents("big.train")),
                "600000 bytes hold windows of 100000 + 1 at 0, 100000, ..., 400000");
        assertEquals(3, records.size(), "2 windows a record");
        assertTrue(
                records.get(0).value().length > 3_000_000,
                "one record of " + records.get(0).value().length + " bytes");
    }

    @Test
    void anUnreachableBrokerIsExitOneWithinSeconds(@TempDir Path dir) throws Exception {
        Path csv = Files.writeString(dir.resolve("ok.csv"), "a,y\n1,0\n");
        long started = System.nanoTime();
        CommandRun run = CommandRun.of(
                "ingest", "csv", csv.toString(), "--label", "y", "--topic", "t", "--bootstrap-servers", "127.0.0.1:1");
        assertEquals(1, run.exitCode(), run.toString());
        assertTrue(run.err().contains("cannot reach Kafka at 127.0.0.1:1"), run.err());
        assertTrue(System.nanoTime() - started < TimeUnit.SECONDS.toNanos(30));
        assertTrue(
                Arrays.stream(run.err().split("\n"))
                                .filter(l -> l.startsWith("streamtrain:"))
                                .count()
                        == 1,
                run.err());
    }
}
