package io.streamtrain.core.djl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class EnginesTest {
    @Test
    void leavesOneCoreToTheFeedAndTheKafkaClients() {
        assertEquals(1, Engines.defaultThreads(null, 1));
        assertEquals(1, Engines.defaultThreads(null, 2));
        assertEquals(7, Engines.defaultThreads("", 8));
    }

    @Test
    void theEnvironmentOverridesTheDefault() {
        assertEquals(2, Engines.defaultThreads("2", 2));
        assertEquals(16, Engines.defaultThreads(" 16 ", 4));
    }

    @Test
    void aBadThreadCountIsRejectedByName() {
        for (String bad : new String[] {"0", "-1", "two", "1.5"}) {
            NativeEngineException e = assertThrows(NativeEngineException.class, () -> Engines.defaultThreads(bad, 4));
            assertTrue(
                    e.getMessage().contains("STREAMTRAIN_TORCH_THREADS")
                            && e.getMessage().contains(bad),
                    e.getMessage());
        }
    }

    @Test
    void anAmdCpuWithoutTheMklShimIsWarnedAboutAndNothingElseIs() {
        String warning = Engines.mklWarning("AuthenticAMD", false).orElseThrow();
        assertTrue(
                warning.contains("AuthenticAMD")
                        && warning.contains(Engines.MKL_SHIM)
                        && warning.contains("LD_PRELOAD"),
                warning);
        assertTrue(Engines.mklWarning("AuthenticAMD", true).isEmpty(), "the shim is loaded");
        assertTrue(
                Engines.mklWarning("GenuineIntel", false).isEmpty(), "MKL takes its fast path on Intel CPUs by itself");
        assertTrue(Engines.mklWarning(null, false).isEmpty(), "no /proc/cpuinfo: nothing known, nothing said");
    }
}
