package io.streamtrain.core.checkpoint;

import java.nio.ByteBuffer;
import java.util.zip.CRC32C;

/**
 * What an epoch trained, as one number: the sum (modulo 2<sup>64</sup>) of the CRC-32C of
 * every train record value trained in it. A sum does not depend on which node trained
 * which record or in what order, so nodes add their rounds' sums up; a record trained
 * twice or skipped changes it. Anyone holding the topic can recompute it from the offset
 * ranges of a checkpoint manifest and compare.
 */
public final class RecordsChecksum {
    private static final String PREFIX = "crc32c-sum:";

    private RecordsChecksum() {}

    /** One record's share of the sum, for a value held in a buffer (its remaining bytes; the buffer is not moved). */
    public static long of(ByteBuffer value) {
        CRC32C crc = new CRC32C();
        if (value != null) {
            crc.update(value.duplicate());
        }
        return crc.getValue();
    }

    /** One record's share of the sum. */
    public static long of(byte[] value) {
        return of(value == null ? null : ByteBuffer.wrap(value));
    }

    /** The sum as a manifest carries it, e.g. {@code crc32c-sum:00000004d2a1c3f0}. */
    public static String format(long sum) {
        return PREFIX + String.format("%016x", sum);
    }
}
