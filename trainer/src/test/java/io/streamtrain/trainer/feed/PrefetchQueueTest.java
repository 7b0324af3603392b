package io.streamtrain.trainer.feed;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class PrefetchQueueTest {

    @Test
    void offerBeyondTheBoundFailsUntilAPollFreesRoom() throws Exception {
        PrefetchQueue<String> q = new PrefetchQueue<>(100);
        assertTrue(q.offer("a", 60, 0, TimeUnit.MILLISECONDS));
        assertEquals(60, q.bytes());
        assertFalse(q.offer("b", 60, 0, TimeUnit.MILLISECONDS), "60 + 60 > 100");
        assertFalse(q.offer("b", 60, 30, TimeUnit.MILLISECONDS), "still no room after waiting");
        assertEquals(60, q.bytes(), "a failed offer adds nothing");
        assertEquals(1, q.size());
        assertTrue(q.offer("c", 40, 0, TimeUnit.MILLISECONDS), "exactly at the bound fits");
        assertEquals(100, q.bytes());
        assertEquals("a", q.poll(0, TimeUnit.MILLISECONDS));
        assertEquals(40, q.bytes());
        assertTrue(q.offer("b", 60, 0, TimeUnit.MILLISECONDS), "room after the poll");
        assertEquals(100, q.bytes());
    }

    @Test
    void aBlockedOfferSucceedsWhenAPollFreesRoom() throws Exception {
        PrefetchQueue<String> q = new PrefetchQueue<>(100);
        assertTrue(q.offer("a", 80, 0, TimeUnit.MILLISECONDS));
        CompletableFuture<Boolean> blocked = CompletableFuture.supplyAsync(() -> {
            try {
                return q.offer("b", 80, 60, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        assertEquals("a", q.poll(5, TimeUnit.SECONDS));
        assertTrue(blocked.get(60, TimeUnit.SECONDS));
        assertEquals("b", q.poll(5, TimeUnit.SECONDS));
        assertEquals(0, q.bytes());
    }

    @Test
    void anOversizedItemIsAcceptedOnlyWhenEmpty() throws Exception {
        PrefetchQueue<String> q = new PrefetchQueue<>(100);
        assertTrue(q.offer("big", 250, 0, TimeUnit.MILLISECONDS), "alone it must pass, or progress stops");
        assertEquals(250, q.bytes());
        assertFalse(q.offer("small", 1, 0, TimeUnit.MILLISECONDS), "over the bound while not empty");
        assertEquals("big", q.poll(0, TimeUnit.MILLISECONDS));
        assertEquals(0, q.bytes());
        assertTrue(q.offer("small", 1, 0, TimeUnit.MILLISECONDS));
        assertFalse(q.offer("big", 250, 0, TimeUnit.MILLISECONDS), "not empty any more");
    }

    @Test
    void fifoOrderAndByteAccounting() throws Exception {
        PrefetchQueue<Integer> q = new PrefetchQueue<>(1_000);
        long expected = 0;
        for (int i = 0; i < 10; i++) {
            assertTrue(q.offer(i, 10 + i, 0, TimeUnit.MILLISECONDS));
            expected += 10 + i;
            assertEquals(expected, q.bytes());
        }
        for (int i = 0; i < 10; i++) {
            assertEquals(i, q.poll(0, TimeUnit.MILLISECONDS));
            expected -= 10 + i;
            assertEquals(expected, q.bytes());
        }
        assertEquals(0, q.size());
        assertNull(q.poll(10, TimeUnit.MILLISECONDS), "empty: null after the timeout");
    }

    @Test
    void aNonPositiveBoundIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> new PrefetchQueue<String>(0));
    }
}
