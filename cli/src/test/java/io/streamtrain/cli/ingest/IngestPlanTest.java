package io.streamtrain.cli.ingest;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.core.codec.Batch;
import io.streamtrain.core.codec.BatchCodec;
import io.streamtrain.core.codec.DType;
import io.streamtrain.core.codec.SafeTensors;
import io.streamtrain.core.codec.Tensor;
import io.streamtrain.core.spec.RunSpecParser;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/** Shuffling, splitting, packing into records, and how progress reads. */
class IngestPlanTest {
    @Test
    void theShuffleIsAPermutationFixedByTheSeedAndTheSplitTakesItsShare() {
        IngestPlan a = IngestPlan.of(1000, true, 7, 0, 0.1);
        IngestPlan b = IngestPlan.of(1000, true, 7, 0, 0.1);
        assertArrayEquals(a.train(), b.train());
        assertArrayEquals(a.validation(), b.validation());
        assertEquals(900, a.train().length);
        assertEquals(100, a.validation().length);
        int[] all = IntStream.concat(Arrays.stream(a.train()), Arrays.stream(a.validation()))
                .sorted()
                .toArray();
        assertArrayEquals(IntStream.range(0, 1000).toArray(), all, "every sample once");
        assertNotEquals(
                Arrays.toString(IngestPlan.of(1000, true, 8, 0, 0).train()),
                Arrays.toString(IngestPlan.of(1000, true, 7, 0, 0).train()));

        IngestPlan ordered = IngestPlan.of(10, false, 7, 0, 0.2);
        assertArrayEquals(new int[] {0, 1}, ordered.validation());
        assertArrayEquals(new int[] {2, 3, 4, 5, 6, 7, 8, 9}, ordered.train());
        assertEquals(
                1,
                IngestPlan.of(10, false, 7, 0, 0.01).validation().length,
                "a fraction above zero gives at least one");
        assertEquals(6, IngestPlan.of(10, true, 7, 6, 0).train().length, "--limit");
        IngestPlan split = IngestPlan.of(100, true, 7, 0, 0.2);
        assertArrayEquals(
                Arrays.copyOf(split.validation(), 5),
                split.validation(5),
                "--validation-limit: the first of the share");
        assertArrayEquals(split.validation(), split.validation(0), "0: all of it");
        assertArrayEquals(split.validation(), split.validation(50), "a limit above the share takes the share");
        assertEquals(80, split.train().length, "the train topic keeps its share whatever the validation limit");
    }

    @Test
    void recordsHoldTheirSamplesInOrderAndTheTrainerDecodesThem() throws Exception {
        Samples s = new Samples() {
            final SampleLayout layout = new SampleLayout(DType.F32, new long[] {2}, DType.I64, new long[0]);

            @Override
            public int size() {
                return 5;
            }

            @Override
            public SampleLayout layout() {
                return layout;
            }

            @Override
            public void putX(int i, java.nio.ByteBuffer out) {
                out.putFloat(i).putFloat(-i);
            }

            @Override
            public void putY(int i, java.nio.ByteBuffer out) {
                out.putLong(i % 3);
            }
        };
        int[] order = {4, 2, 0, 1, 3};
        assertEquals(3, RecordEncoder.records(5, 2));
        byte[] record = RecordEncoder.encode(s, order, 2, 4);
        SafeTensors.Document doc = SafeTensors.read(record);
        Tensor x = doc.tensor("x");
        assertEquals(List.of("x", "y"), List.copyOf(doc.tensors().keySet()));
        assertArrayEquals(new long[] {2, 2}, x.shape());
        assertArrayEquals(new float[] {0, 0, 1, -1}, x.toFloats());
        assertEquals(DType.I64, doc.tensor("y").dtype());
        assertArrayEquals(new long[] {0, 1}, doc.tensor("y").toLongs());

        Batch batch = new BatchCodec(RunSpecParser.parse("""
                run: r
                data: { train: t }
                model: { inputs: 2, classes: 3 }
                """).model()).decode(RecordEncoder.encode(s, order, 0, 5));
        assertEquals(5, batch.samples());
        assertArrayEquals(new long[] {1, 2, 0, 1, 0}, batch.classLabels());
    }

    @Test
    void progressReadsAsABarOrAPlainLine() {
        assertEquals(
                "t [###############>..............]  50%  5/10 records  2 records/s  1.0 KiB/s",
                Progress.bar("t", 5, 10, 2560, 2.5, 30));
        assertEquals(
                "t [##########] 100%  10/10 records  4 records/s  1.0 KiB/s", Progress.bar("t", 10, 10, 2560, 2.5, 10));
        assertEquals("ingest t: 5/10 records (50%), 2 records/s, 1.0 KiB/s", Progress.line("t", 5, 10, 2560, 2.5));
        assertEquals("512 B", Progress.bytes(512));
        assertEquals("188.4 MiB", Progress.bytes(188.4 * 1024 * 1024));
    }

    @Test
    void badLinesPastTheListedOnesAreCountedWithOneNote() {
        List<String> sink = new ArrayList<>();
        BadLines bad = new BadLines(sink::add, 2);
        for (int i = 1; i <= 5; i++) {
            bad.report(Path.of("f.csv"), i, "bad");
        }
        assertEquals(
                List.of(
                        "bad line f.csv:1: bad",
                        "bad line f.csv:2: bad",
                        "(more than 2 bad lines: the rest are counted, not listed)"),
                sink);
        assertEquals(5, bad.count());
        assertTrue(bad.summary().equals("5 bad lines skipped (f.csv: 5)"), bad.summary());
    }
}
