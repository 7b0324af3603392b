package io.streamtrain.trainer.sync;

import static io.streamtrain.trainer.sync.CombinerTest.doc;
import static io.streamtrain.trainer.sync.CombinerTest.t;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.core.checkpoint.CheckpointManifest.OffsetRange;
import io.streamtrain.core.codec.SafeTensors;
import io.streamtrain.core.protocol.RoundSums;
import io.streamtrain.core.protocol.SyncMessage;
import io.streamtrain.core.spec.SyncSpec;
import io.streamtrain.trainer.feed.EpochPlan;
import io.streamtrain.trainer.feed.Windowing;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class SyncLogTest {
    private static final String TOPIC = "unit.train";
    /** Partition 2 is short: its node finishes it in round 1 and contributes nothing after. */
    private static final EpochPlan PLAN =
            new EpochPlan(TOPIC, Map.of(0, new long[] {0, 10}, 1, new long[] {100, 110}, 2, new long[] {0, 2}));

    private static final Map<Integer, Long> PLAN_START = Map.of(0, 0L, 1, 100L, 2, 0L);
    private static final SafeTensors.Document INIT = state(0, 0);
    private static final RoundState START = RoundState.start(0, 0, 0, INIT, null, -1, 0, RoundSums.ZERO);

    // round 1 of the fixture: node a (partitions 0, 1) with 1 sample, node b (partition 2) with 3
    private static final RoundSums A1 = new RoundSums(1, 3, 1, 0.5, 0.25, 0.125, 0, 7, 1, 11, 1000, 0.5);
    private static final RoundSums B1 = new RoundSums(3, 5, 2, 1.5, 0.5, 0.25, 0.0625, 2, 0, 22, 3000, 0.25);
    private static final RoundSums A2 = new RoundSums(2, 6, 1, 1.0, 0.5, 0.5, 0.5, 13, 0, 33, 2000, 1.0);

    private SyncLog log = new SyncLog(new Combiner(SyncSpec.strictDefaults()), START, null);
    private long offset;

    /** A parameter w and an L2-SP anchor every node shares. */
    private static SafeTensors.Document state(float w0, float w1) {
        return doc(t("w", w0, w1), t("anchor.w", 7, 7));
    }

    private static OffsetRange range(int partition, long from, long to) {
        return new OffsetRange(TOPIC, partition, from, to);
    }

    private static SyncMessage.Join join(String id, int generation, String node, Integer... partitions) {
        return new SyncMessage.Join(id, generation, node, List.of(partitions), PLAN.all());
    }

    private static SyncMessage.Contribution contribution(
            String id,
            int generation,
            String node,
            long round,
            int epoch,
            long steps,
            RoundSums sums,
            OffsetRange... ranges) {
        return new SyncMessage.Contribution(
                id, generation, node, round, epoch, steps, List.of(ranges), sums, null, List.of());
    }

    private RoundState put(SyncMessage m, SafeTensors.Document state) {
        return log.accept(offset++, m, state);
    }

    private RoundState put(SyncMessage m) {
        return put(m, null);
    }

    private static float[] w(RoundState r) {
        return r.state().tensor("w").toFloats();
    }

    /** Generation 1: a joins with {0, 1}, b with {2}; round 1 closes at offset 3. */
    private RoundState round1() {
        put(join("j-a", 1, "a", 0, 1));
        put(join("j-b", 1, "b", 2));
        assertNull(put(contribution("c1-a", 1, "a", 1, 1, 3, A1, range(0, 0, 4), range(1, 100, 103)), state(1, 2)));
        return put(contribution("c1-b", 1, "b", 1, 1, 5, B1, range(2, 0, 2)), state(5, 6));
    }

    @Test
    void aWindowOfTimeEndsWhereItsReadersSayItsSharesEnd() {
        Windowing seconds = Windowing.millis(1000);
        log = new SyncLog(new Combiner(SyncSpec.strictDefaults()), START, null, -1, seconds);
        List<OffsetRange> open =
                List.of(range(0, 0, EpochPlan.OPEN), range(1, 100, EpochPlan.OPEN), range(2, 0, EpochPlan.OPEN));
        put(new SyncMessage.Join("j-a", 1, "a", List.of(0, 1), open));
        put(new SyncMessage.Join("j-b", 1, "b", List.of(2), open));
        assertTrue(log.lastClosed().plan().open(0), "nobody knows where window 1 ends yet");

        // round 1: b's share ends at 2; a's go on
        put(contribution("c1-a", 1, "a", 1, 1, 3, A1, range(0, 0, 4), range(1, 100, 103)), state(1, 2));
        RoundState first = put(
                new SyncMessage.Contribution("c1-b", 1, "b", 1, 1, 5, List.of(range(2, 0, 2)), B1, null, List.of(2)),
                state(5, 6));
        assertFalse(first.epochEnd());
        assertTrue(first.finished(2), "the sync log keeps the end b declared");
        assertFalse(first.finished(0));

        // a contribution that moves an end the log fixed is refused
        assertNull(put(new SyncMessage.Contribution(
                "c2-b-moved", 1, "b", 2, 1, 0, List.of(range(2, 2, 3)), RoundSums.ZERO, null, List.of(2))));
        // one that ends a partition it does not hand in is refused too
        assertNull(put(new SyncMessage.Contribution(
                "c2-a-foreign", 1, "a", 2, 1, 1, List.of(range(0, 4, 5), range(1, 103, 104)), A2, null, List.of(2))));
        assertEquals(Map.of(0, "a", 1, "a", 2, "b"), log.missing(), "neither took its place in round 2");

        // round 2: a's shares end at 6 and 105, b hands in nothing more on its ended share
        put(
                new SyncMessage.Contribution(
                        "c2-a", 1, "a", 2, 1, 1, List.of(range(0, 4, 6), range(1, 103, 105)), A2, null, List.of(0, 1)),
                state(2, 2));
        RoundState ended = put(
                new SyncMessage.Contribution(
                        "c2-b", 1, "b", 2, 1, 0, List.of(range(2, 2, 2)), RoundSums.ZERO, null, List.of(2)),
                null);
        assertNotNull(ended);
        assertTrue(ended.epochEnd(), "every share of window 1 ended");
        assertEquals(
                List.of(range(0, 0, 6), range(1, 100, 105), range(2, 0, 2)),
                ended.endedPlan().all(),
                "the checkpoint lists the window's ranges as its readers ended them");
        assertEquals(2, ended.plan().index());
        assertEquals(
                List.of(range(0, 6, EpochPlan.OPEN), range(1, 105, EpochPlan.OPEN), range(2, 2, EpochPlan.OPEN)),
                ended.plan().all(),
                "window 2 starts where window 1 ended, its ends unknown");
        assertEquals(Map.of(0, 6L, 1, 105L, 2, 2L), ended.positions());
    }

    @Test
    void aContributionEndingASharesOutsideAWindowOfTimeIsIgnored() {
        round1();
        assertNull(
                put(new SyncMessage.Contribution(
                        "c2-a", 1, "a", 2, 1, 1, List.of(range(0, 4, 5), range(1, 103, 104)), A2, null, List.of(0))),
                "a window of records or a bounded epoch ends where its plan says");
        assertEquals(Map.of(0, "a", 1, "a", 2, "b"), log.missing());
    }

    @Test
    void twoLiveNodesUnderOneNameAreToldApartFromANodeJoiningTwice() {
        put(join("j-a", 1, "a", 0, 1));
        put(join("j-a-again", 1, "a", 0, 1)); // the same node, its assignment once more
        assertFalse(log.nameTaken("j-a-again"));
        put(join("j-a2", 1, "a", 2)); // another process calling itself a, given other partitions
        assertTrue(log.nameTaken("j-a2"), "the later join goes");
        assertFalse(log.nameTaken("j-a"), "the first keeps its name");
        put(join("j2-a2", 2, "a", 0, 1, 2)); // the next generation starts clean
        assertFalse(log.nameTaken("j2-a2"));
    }

    @Test
    void aFreshRunClosesItsFirstRoundWhenEveryPartitionIsCovered() {
        put(join("j-a", 1, "a", 0, 1));
        // a later join with another plan does not change the run's
        put(new SyncMessage.Join("j-b", 1, "b", List.of(2), List.of(range(0, 5, 9), range(1, 0, 1), range(2, 0, 99))));

        SyncLog.Resume resume = log.resume(1);
        assertNotNull(resume);
        assertEquals(0, resume.round().round());
        assertEquals(0, resume.round().step());
        assertEquals(PLAN_START, resume.round().positions());
        assertSame(INIT, resume.round().state());
        assertNull(resume.lastEpochEnd());
        assertEquals(Set.of(0, 1, 2), log.lastClosed().plan().ranges().keySet());
        assertArrayEquals(new long[] {0, 10}, log.lastClosed().plan().ranges().get(0));
        assertArrayEquals(new long[] {0, 2}, log.lastClosed().plan().ranges().get(2));

        assertNull(
                put(contribution("c1-a", 1, "a", 1, 1, 3, A1, range(0, 0, 4), range(1, 100, 103)), state(1, 2)),
                "partition 2 is still open");
        assertEquals(Map.of(2, "b"), log.missing());
        RoundState closed = put(contribution("c1-b", 1, "b", 1, 1, 5, B1, range(2, 0, 2)), state(5, 6));

        assertNotNull(closed);
        assertSame(closed, log.lastClosed());
        assertEquals(1, closed.round());
        assertEquals(0, closed.epoch());
        assertFalse(closed.epochEnd());
        assertEquals(5, closed.step(), "the most steps any node took");
        assertEquals(Map.of(0, 4L, 1, 103L, 2, 2L), closed.positions());
        assertArrayEquals(new float[] {4, 5}, w(closed), "(1·[1,2] + 3·[5,6]) / 4");
        assertArrayEquals(new float[] {7, 7}, closed.state().tensor("anchor.w").toFloats());
        assertEquals(new RoundSums(4, 8, 3, 2.0, 0.75, 0.375, 0.0625, 9, 1, 33, 4000, 0.75), closed.epochSums());
        assertEquals(1, closed.generation());
        assertEquals(4, closed.nextOffset(), "right after the record that closed it");
        assertTrue(closed.finished(2));
        assertFalse(closed.finished(0));
        assertEquals(Map.of(0, "a", 1, "a", 2, "b"), log.missing(), "round 2 waits for everyone again");
        assertNull(log.lastEpochEnd());
    }

    @Test
    void aRoundThatReachesThePlansEndEndsTheEpoch() {
        round1();
        SafeTensors.Document a2 = state(0.1f, -1f / 3);
        assertNull(put(contribution("c2-a", 1, "a", 2, 1, 6, A2, range(0, 4, 10), range(1, 103, 110)), a2));
        // b has nothing left of partition 2: an empty range, no samples, no payload
        RoundState end = put(contribution("c2-b", 1, "b", 2, 1, 0, RoundSums.ZERO, range(2, 2, 2)));

        assertNotNull(end);
        assertEquals(2, end.round());
        assertEquals(1, end.epoch());
        assertTrue(end.epochEnd());
        assertEquals(11, end.step());
        assertEquals(PLAN_START, end.positions(), "epoch 2 starts from the plan's start");
        assertEquals(A1.plus(B1).plus(A2), end.epochSums(), "the whole epoch");
        assertEquals(new RoundSums(6, 14, 4, 3.0, 1.25, 0.875, 0.5625, 22, 1, 66, 6000, 1.75), end.epochSums());
        assertEquals(a2.tensor("w"), end.state().tensor("w"), "the only node with samples, bit for bit");
        assertSame(end, log.lastEpochEnd());

        RoundSums a3 = new RoundSums(4, 2, 3, 0.25, 0, 0, 0, 5, 0, 5, 10, 0);
        RoundSums b3 = new RoundSums(1, 1, 0, 0.5, 0, 0, 0, 1, 2, 6, 20, 0.125);
        assertNull(put(contribution("c3-a", 1, "a", 3, 2, 2, a3, range(0, 0, 5), range(1, 100, 101)), state(1, 1)));
        RoundState next = put(contribution("c3-b", 1, "b", 3, 2, 1, b3, range(2, 0, 1)), state(6, 6));

        assertNotNull(next);
        assertEquals(3, next.round());
        assertEquals(1, next.epoch(), "epoch 2 is still in progress");
        assertFalse(next.epochEnd());
        assertEquals(13, next.step());
        assertEquals(Map.of(0, 5L, 1, 101L, 2, 1L), next.positions());
        assertEquals(
                new RoundSums(5, 3, 3, 0.75, 0, 0, 0, 6, 2, 11, 30, 0.125),
                next.epochSums(),
                "epoch 2's sums start from zero");
        assertArrayEquals(new float[] {2, 2}, w(next));
        assertSame(end, log.lastEpochEnd());
    }

    @Test
    void aNewGenerationEndsTheOldOneAndFixesItsResumePoint() {
        RoundState r1 = round1();
        // a's share of round 2 in generation 1, then a rebalance
        assertNull(put(contribution("c2-a", 1, "a", 2, 1, 6, A2, range(0, 4, 10), range(1, 103, 110)), state(9, 9)));
        assertEquals(Map.of(2, "b"), log.missing());
        put(join("j2-a", 2, "a", 0, 1, 2));

        assertEquals(2, log.generation());
        assertNull(log.resume(1), "generation 1 is stale");
        SyncLog.Resume resume = log.resume(2);
        assertNotNull(resume);
        assertSame(r1, resume.round());
        assertEquals(Map.of(0, "a", 1, "a", 2, "a"), log.missing(), "generation 1's pending share was dropped");
        assertEquals(Set.of("a"), log.members(2));
        assertEquals(Set.of(), log.members(1));

        // a redoes round 2 in generation 2; b, not yet told of the rebalance, sends its generation-1 share
        assertNull(put(contribution("c2-a'", 2, "a", 2, 1, 6, A2, range(0, 4, 10), range(1, 103, 110)), state(3, 3)));
        assertNull(
                put(contribution("c2-b", 1, "b", 2, 1, 1, B1, range(2, 2, 2)), state(100, 100)), "stale: cannot close");
        assertEquals(1, log.lastClosed().round());
        assertEquals(Map.of(2, "a"), log.missing());
        RoundState r2 = put(contribution("c2-a''", 2, "a", 2, 1, 0, RoundSums.ZERO, range(2, 2, 2)));

        assertNotNull(r2);
        assertEquals(2, r2.generation());
        assertEquals(A1.plus(B1).plus(A2), r2.epochSums(), "neither the dropped nor the stale share counted");
        assertArrayEquals(new float[] {3, 3}, w(r2));
        put(contribution("c3-a", 2, "a", 3, 2, 1, A1, range(0, 0, 1)), state(1, 1)); // generation 2 goes on
        assertSame(r1, log.resume(2).round(), "the resume point is as of generation 2's first record");
        assertSame(r2, log.lastClosed());
        assertSame(r2, log.lastEpochEnd());
        assertNull(log.resume(2).lastEpochEnd());
    }

    @Test
    void aContributionThatDoesNotFitTheOpenRoundIsIgnored() {
        round1(); // positions 0:4, 1:103, 2:2; round 2 of epoch 1 is open
        SafeTensors.Document junk = state(1000, 1000);
        RoundSums junkSums = new RoundSums(1000, 1000, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
        List<SyncMessage.Contribution> misfits = List.of(
                contribution("from", 1, "a", 2, 1, 9, junkSums, range(0, 3, 10), range(1, 103, 110)),
                contribution("old-round", 1, "a", 1, 1, 9, junkSums, range(0, 4, 10), range(1, 103, 110)),
                contribution("next-round", 1, "a", 3, 1, 9, junkSums, range(0, 4, 10), range(1, 103, 110)),
                contribution("epoch", 1, "a", 2, 2, 9, junkSums, range(0, 4, 10), range(1, 103, 110)),
                contribution("partition", 1, "a", 2, 1, 9, junkSums, range(7, 0, 1)));
        for (SyncMessage.Contribution c : misfits) {
            assertNull(put(c, junk), c.id());
            assertEquals(Map.of(0, "a", 1, "a", 2, "b"), log.missing(), c.id());
        }

        assertNull(put(contribution("c2-a", 1, "a", 2, 1, 6, A2, range(0, 4, 10), range(1, 103, 110)), state(3, 4)));
        // covers 2 as it should, but also 1, which a already covered: the whole contribution is out
        assertNull(put(contribution("twice", 1, "b", 2, 1, 9, junkSums, range(2, 2, 2), range(1, 103, 110)), junk));
        assertEquals(Map.of(2, "b"), log.missing());

        RoundState r2 = put(contribution("c2-b", 1, "b", 2, 1, 0, RoundSums.ZERO, range(2, 2, 2)));
        assertNotNull(r2);
        assertArrayEquals(new float[] {3, 4}, w(r2));
        assertEquals(A1.plus(B1).plus(A2), r2.epochSums());
        assertEquals(11, r2.step(), "5 + 6: the misfits' 9 steps not counted");
    }

    @Test
    void deadLettersThroughFollowsEpochOneContributionsOnly() {
        assertEquals(-1, log.deadLettersThrough(0));
        round1();
        assertEquals(4, log.deadLettersThrough(0));
        assertEquals(103, log.deadLettersThrough(1));
        assertEquals(2, log.deadLettersThrough(2));

        put(join("j2-a", 2, "a", 0, 1, 2));
        // stale, but its writer did write the dead letters of what it trained
        put(contribution("stale", 1, "b", 2, 1, 1, A2, range(1, 103, 108)), state(0, 0));
        assertEquals(108, log.deadLettersThrough(1));
        // a rolled back redoing less does not lower it
        put(contribution("redo", 2, "a", 2, 1, 1, A2, range(0, 4, 5), range(1, 103, 104), range(2, 2, 2)), state(0, 0));
        assertEquals(5, log.deadLettersThrough(0));
        assertEquals(108, log.deadLettersThrough(1));

        // resumed from the checkpoint of epoch 1: epoch 2's contributions write no dead letters
        RoundState checkpoint = RoundState.start(4, 1, 40, INIT, PLAN, 2, 30, A1);
        log = new SyncLog(new Combiner(SyncSpec.strictDefaults()), checkpoint, checkpoint);
        put(join("j3-a", 3, "a", 0, 1, 2));
        assertNotNull(put(
                contribution("e2", 3, "a", 5, 2, 1, A2, range(0, 0, 6), range(1, 100, 105), range(2, 0, 2)),
                state(1, 1)));
        for (int p = 0; p < 3; p++) {
            assertEquals(-1, log.deadLettersThrough(p), "partition " + p);
        }
    }

    @Test
    void missingNamesTheOpenPartitionsAndWhoHoldsThem() {
        assertEquals(Map.of(), log.missing(), "no plan yet");
        put(join("j-a", 1, "a", 0, 1));
        assertEquals(Map.of(0, "a", 1, "a", 2, "?"), log.missing());
        put(join("j-b", 1, "b", 2));
        assertEquals(Map.of(0, "a", 1, "a", 2, "b"), log.missing());
        put(contribution("c1-b", 1, "b", 1, 1, 5, B1, range(2, 0, 2)), state(5, 6));
        assertEquals(Map.of(0, "a", 1, "a"), log.missing());

        put(join("j2-c", 2, "c", 1));
        assertEquals(Map.of(0, "?", 1, "c", 2, "?"), log.missing(), "generation 1's owners are gone");
    }

    /** A run over two generations with a stale record, an epoch end and nesterov state; fresh objects on every call. */
    private static List<Object[]> script() {
        List<Object[]> r = new ArrayList<>();
        r.add(new Object[] {join("j-a", 1, "a", 0, 1), null});
        r.add(new Object[] {join("j-b", 1, "b", 2), null});
        r.add(new Object[] {
            contribution("1a", 1, "a", 1, 1, 3, A1, range(0, 0, 4), range(1, 100, 103)), state(0.1f, 0.7f)
        });
        r.add(new Object[] {contribution("1b", 1, "b", 1, 1, 5, B1, range(2, 0, 2)), state(1f / 3, -0.2f)});
        r.add(new Object[] {
            contribution("2a", 1, "a", 2, 1, 2, A1, range(0, 4, 6), range(1, 103, 104)), state(0.3f, 0.11f)
        });
        r.add(new Object[] {join("j2-b", 2, "b", 0, 2), null});
        r.add(new Object[] {join("j2-c", 2, "c", 1), null});
        r.add(new Object[] {contribution("2a'", 1, "a", 2, 1, 2, A1, range(1, 103, 104)), state(5, 5)});
        r.add(new Object[] {contribution("2c", 2, "c", 2, 1, 4, A2, range(1, 103, 110)), state(0.9f, 0.13f)});
        r.add(new Object[] {contribution("2b", 2, "b", 2, 1, 4, B1, range(0, 4, 10), range(2, 2, 2)), state(-0.6f, 1.7f)
        });
        r.add(new Object[] {contribution("3c", 2, "c", 3, 2, 1, A1, range(1, 100, 101)), state(0.01f, 0.02f)});
        r.add(new Object[] {
            contribution("3b", 2, "b", 3, 2, 2, B1, range(0, 0, 3), range(2, 0, 1)), state(0.05f, -0.07f)
        });
        return r;
    }

    private static SyncLog replay(List<Object[]> records) {
        SyncLog log = new SyncLog(
                new Combiner(
                        new SyncSpec(10, SyncSpec.NESTEROV, 0.7, 0.9, 60, 1, SyncSpec.STRICT, SyncSpec.FLOAT32, 0)),
                START,
                null);
        for (int i = 0; i < records.size(); i++) {
            log.accept(i, (SyncMessage) records.get(i)[0], (SafeTensors.Document) records.get(i)[1]);
        }
        return log;
    }

    private static void assertSameRound(RoundState expected, RoundState actual) {
        assertEquals(expected.round(), actual.round());
        assertEquals(expected.epoch(), actual.epoch());
        assertEquals(expected.step(), actual.step());
        assertEquals(expected.positions(), actual.positions());
        assertEquals(expected.epochSums(), actual.epochSums());
        assertEquals(expected.state(), actual.state(), "tensors bit for bit");
        assertEquals(expected.generation(), actual.generation());
        assertEquals(expected.nextOffset(), actual.nextOffset());
        assertEquals(expected.epochEnd(), actual.epochEnd());
    }

    @Test
    void theSameRecordsGiveTheSameRoundsOnEveryNode() {
        SyncLog one = replay(script());
        SyncLog two = replay(script());

        assertEquals(3, one.lastClosed().round(), "the script closes three rounds");
        assertTrue(one.lastEpochEnd().epochEnd());
        assertNotNull(one.lastClosed().state().tensor("outer.momentum.w"));
        assertSameRound(one.lastClosed(), two.lastClosed());
        assertSameRound(one.lastEpochEnd(), two.lastEpochEnd());
        assertSameRound(one.resume(2).round(), two.resume(2).round());
        assertEquals(one.missing(), two.missing());
    }

    @Test
    @SuppressWarnings("FloatingPointLiteralPrecision") // values chosen so that float sums depend on their order
    void theCombinedStateDoesNotDependOnWhichContributionArrivedFirst() {
        // with these values the sum of the thirds depends on the order it is taken in
        SyncLog[] logs = new SyncLog[2];
        List<List<Integer>> orders = List.of(List.of(0, 1, 2), List.of(2, 1, 0));
        float[] values = {1f, 1e17f, -1e17f};
        for (int i = 0; i < 2; i++) {
            log = new SyncLog(new Combiner(SyncSpec.strictDefaults()), START, null);
            put(join("j-a", 1, "a", 0, 1, 2));
            for (int p : orders.get(i)) {
                long end = PLAN.ranges().get(p)[0] + 1;
                put(
                        contribution(
                                "c" + p,
                                1,
                                "n" + p,
                                1,
                                1,
                                1,
                                new RoundSums(1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0),
                                range(p, end - 1, end)),
                        state(values[p], values[p]));
            }
            logs[i] = log;
        }
        assertEquals(1, logs[0].lastClosed().round());
        assertEquals(1, logs[1].lastClosed().round());
        assertEquals(
                logs[0].lastClosed().state(),
                logs[1].lastClosed().state(),
                Arrays.toString(w(logs[0].lastClosed())) + " vs " + Arrays.toString(w(logs[1].lastClosed())));
    }

    @Test
    void aGroupMadeAnewAfterALongSilenceStartsItsGenerationsOverAndAQuickLowerJoinIsStale() {
        RoundState r1 = round1();
        long t0 = 1_000; // round 1 was written at time 0
        // moments later, a join of an older generation: a node that had not seen the rebalance
        assertNull(log.accept(offset++, t0, join("j-late", 0, "c", 0), null));
        assertEquals(1, log.generation());
        assertEquals(Set.of("a", "b"), log.members(1));
        // minutes of silence, then generation 1 again from a group Kafka made anew: a new generation of the sync log
        assertNull(log.accept(
                offset++, t0 + SyncLog.GROUP_RECREATED_GAP_MILLIS + 1, join("j-new", 1, "a", 0, 1, 2), null));
        assertEquals(Set.of("a"), log.members(1), "the old generation 1's members are forgotten");
        assertSame(r1, log.resume(1).round(), "it resumes from the last closed round");
        RoundState r2 = log.accept(
                offset++,
                t0 + SyncLog.GROUP_RECREATED_GAP_MILLIS + 2,
                contribution("c2-a", 1, "a", 2, 1, 2, A2, range(0, 4, 10), range(1, 103, 110), range(2, 2, 2)),
                state(3, 3));
        assertNotNull(r2, "the new generation closes rounds");
        assertTrue(r2.epochEnd());
    }

    @Test
    void aContributionOfAGenerationNobodyJoinedIsIgnored() {
        round1();
        assertNull(put(
                contribution("c2-x", 2, "a", 2, 1, 2, A2, range(0, 4, 10), range(1, 103, 110), range(2, 2, 2)),
                state(3, 3)));
        assertEquals(1, log.generation(), "only a join starts a generation");
        assertEquals(1, log.lastClosed().round());
    }

    @Test
    void aContributionNamingOnePartitionTwiceOrComingBeforeAnyJoinIsIgnored() {
        assertNull(
                put(contribution("c0", 1, "a", 1, 1, 1, A1, range(0, 0, 4)), state(1, 1)),
                "no plan yet: ignored, not a crash");
        put(join("j-a", 1, "a", 0, 1, 2));
        assertNull(put(
                contribution(
                        "c1", 1, "a", 1, 1, 1, A1, range(0, 0, 4), range(0, 0, 4), range(1, 100, 110), range(2, 0, 2)),
                state(1, 1)));
        assertEquals(Map.of(0, "a", 1, "a", 2, "a"), log.missing(), "nothing of it counted");
    }

    @Test
    void aRunResumedFromACheckpointLongAfterItWasWrittenAcceptsTheNewGroupsFirstGeneration() {
        RoundState checkpointed = RoundState.start(7, 2, 70, INIT, PLAN, 9, 500, RoundSums.ZERO);
        SyncLog resumed = new SyncLog(new Combiner(SyncSpec.strictDefaults()), checkpointed, checkpointed, 1_000);
        assertNull(
                resumed.accept(500, 1_000 + SyncLog.GROUP_RECREATED_GAP_MILLIS + 5, join("j", 1, "a", 0, 1, 2), null));
        assertSame(
                checkpointed, resumed.resume(1).round(), "generation 1 of the new group resumes from the checkpoint");
        SyncLog soon = new SyncLog(new Combiner(SyncSpec.strictDefaults()), checkpointed, checkpointed, 1_000);
        soon.accept(500, 2_000, join("j", 1, "a", 0, 1, 2), null);
        assertNull(soon.resume(1), "moments after the checkpoint, a lower generation is stale");
    }
}
