package io.streamtrain.trainer.sync;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.core.checkpoint.CheckpointManifest.OffsetRange;
import io.streamtrain.core.protocol.RoundSums;
import io.streamtrain.core.protocol.SyncCodec;
import io.streamtrain.core.protocol.SyncMessage;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/** How a node checks a contribution's payload against what the contribution names. */
class SyncPayloadCheckTest {
    private static final byte[] PAYLOAD = "123456789".getBytes(StandardCharsets.US_ASCII);

    private static SyncMessage.Contribution naming(SyncMessage.PayloadRef ref) {
        return new SyncMessage.Contribution(
                "c1",
                1,
                "node-a",
                1,
                1,
                10,
                List.of(new OffsetRange("t.train", 0, 0, 10)),
                RoundSums.ZERO,
                ref,
                List.of());
    }

    @Test
    void theChecksumIsCrc32cAsEightHexDigits() {
        // CRC-32C's check value (RFC 3720): the wire format every node of a run must agree on
        assertEquals("e3069283", SyncCodec.crc32c(PAYLOAD));
        assertEquals("00000000", SyncCodec.crc32c(new byte[0]));
    }

    @Test
    void aPayloadOfTheNamedSizeAndChecksumPasses() {
        SyncCodec.verify(naming(new SyncMessage.PayloadRef("e3069283", 9, 1)), PAYLOAD);
    }

    @Test
    void aPayloadOfAnotherSizeOrChecksumIsRefused() {
        for (SyncMessage.PayloadRef ref :
                List.of(new SyncMessage.PayloadRef("e3069283", 10, 1), new SyncMessage.PayloadRef("e3069284", 9, 1))) {
            IllegalArgumentException e =
                    assertThrows(IllegalArgumentException.class, () -> SyncCodec.verify(naming(ref), PAYLOAD));
            assertTrue(e.getMessage().contains("does not match its size and CRC32C"), e.getMessage());
        }
    }

    @Test
    void aContributionOfAnOlderVersionSaysSoInsteadOfFailingItsCheck() {
        // written before contributions carried a CRC32C: its JSON has a sha256, which this version does not read
        IllegalArgumentException e = assertThrows(
                IllegalArgumentException.class,
                () -> SyncCodec.verify(naming(new SyncMessage.PayloadRef(null, 9, 1)), PAYLOAD));
        assertTrue(
                e.getMessage().contains("written by an older streamtrain")
                        && e.getMessage().contains("same version"),
                e.getMessage());
    }

    @Test
    void aSignedContributionsPayloadMustBeTheOneItsSha256Names() {
        String sha = io.streamtrain.core.protocol.CheckpointCodec.sha256(PAYLOAD);
        SyncCodec.verify(naming(new SyncMessage.PayloadRef("e3069283", 9, 1, sha)), PAYLOAD, true);
        // the CRC32C matches (a forger can make it match), the signed digest does not
        for (String other : java.util.Arrays.asList("00", null)) {
            IllegalArgumentException e = assertThrows(
                    IllegalArgumentException.class,
                    () -> SyncCodec.verify(naming(new SyncMessage.PayloadRef("e3069283", 9, 1, other)), PAYLOAD, true));
            assertTrue(e.getMessage().contains("signed SHA-256"), e.getMessage());
        }
        SyncCodec.verify(
                naming(new SyncMessage.PayloadRef("e3069283", 9, 1, null)),
                PAYLOAD,
                false); // unsigned: the CRC32C is the check
    }
}
