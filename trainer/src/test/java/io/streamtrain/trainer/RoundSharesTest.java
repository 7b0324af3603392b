package io.streamtrain.trainer;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.core.codec.SafeTensors;
import io.streamtrain.core.codec.Tensor;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** When a closed round is the state a node handed in, bit for bit, which it then need not restore. */
class RoundSharesTest {
    private static final byte[] HANDED = SafeTensors.write(
            List.of(
                    Tensor.ofFloats("w", new long[] {2}, new float[] {1f, 2f}),
                    Tensor.ofFloats("optimizer.m.w", new long[] {2}, new float[] {0.1f, 0.2f})),
            Map.of());

    @Test
    void aRoundMadeOfTheBytesHandedInIsThatState() throws Exception {
        assertTrue(RoundShares.sameState(HANDED, SafeTensors.read(HANDED)));
    }

    @Test
    void theSameBitsReadFromElsewhereAreTheSameState() throws Exception {
        assertTrue(RoundShares.sameState(HANDED, SafeTensors.read(HANDED.clone())));
    }

    @Test
    void oneValueChangedOrOneTensorMissingOrAddedMakesTheRoundAnotherState() throws Exception {
        SafeTensors.Document own = SafeTensors.read(HANDED);
        Map<String, Tensor> changed = new LinkedHashMap<>(own.tensors());
        changed.put("w", Tensor.ofFloats("w", new long[] {2}, new float[] {1f, Math.nextUp(2f)}));
        assertFalse(RoundShares.sameState(HANDED, new SafeTensors.Document(changed, own.metadata())));

        // -0.0 == 0.0 as numbers, not as bits: a restore would change the sign
        byte[] zero = SafeTensors.write(List.of(Tensor.ofFloats("w", new long[] {1}, new float[] {0f})), Map.of());
        byte[] negativeZero =
                SafeTensors.write(List.of(Tensor.ofFloats("w", new long[] {1}, new float[] {-0f})), Map.of());
        assertFalse(RoundShares.sameState(zero, SafeTensors.read(negativeZero)));

        Map<String, Tensor> missing = new LinkedHashMap<>(own.tensors());
        missing.remove("optimizer.m.w");
        assertFalse(RoundShares.sameState(HANDED, new SafeTensors.Document(missing, own.metadata())));

        Map<String, Tensor> added = new LinkedHashMap<>(own.tensors());
        added.put("anchor.w", Tensor.ofFloats("anchor.w", new long[] {2}, new float[] {1f, 2f}));
        assertFalse(RoundShares.sameState(HANDED, new SafeTensors.Document(added, own.metadata())));

        Map<String, Tensor> reshaped = new LinkedHashMap<>(own.tensors());
        reshaped.put("w", Tensor.ofFloats("w", new long[] {1, 2}, new float[] {1f, 2f}));
        assertFalse(RoundShares.sameState(HANDED, new SafeTensors.Document(reshaped, own.metadata())));
    }

    @Test
    void nothingHandedInOrNothingInTheRoundIsNoMatch() throws Exception {
        assertFalse(RoundShares.sameState(null, SafeTensors.read(HANDED)));
        assertFalse(RoundShares.sameState(HANDED, null));
        assertFalse(RoundShares.sameState(HANDED, new SafeTensors.Document(Map.of(), Map.of())));
    }
}
