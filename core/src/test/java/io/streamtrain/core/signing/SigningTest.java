package io.streamtrain.core.signing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.core.kafka.StartupException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

class SigningTest {
    private static final String CONTROL = "streamtrain.a.control";
    private final SigningKey alice = SigningKey.generate("alice");
    private final SigningKey evaluator = SigningKey.generate("evaluator");
    private final SigningKey mallory = SigningKey.generate("mallory");
    private final TrustedKeys trusted = TrustedKeys.parse(
            "# the run's keys\n" + alice.trustedLine("operator") + "\n" + evaluator.trustedLine("evaluator") + "\n",
            "trusted-keys");

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static ConsumerRecord<byte[], byte[]> received(
            ProducerRecord<byte[], byte[]> sent, String topic, byte[] value) {
        RecordHeaders h = new RecordHeaders(sent.headers().toArray());
        return new ConsumerRecord<>(
                topic,
                0,
                0L,
                0L,
                org.apache.kafka.common.record.TimestampType.CREATE_TIME,
                -1,
                -1,
                null,
                value,
                h,
                java.util.Optional.empty());
    }

    private Verdict roundTrip(SigningKey by, String topic, byte[] value, Right needed) {
        ProducerRecord<byte[], byte[]> sent = new Signing(by, trusted).sign(new ProducerRecord<>(CONTROL, value));
        return new Signing(null, trusted).verify(received(sent, topic, value), needed);
    }

    private static void refusedWith(String expected, Verdict v) {
        assertTrue(
                !v.accepted() && v.refusal().contains(expected),
                "expected a refusal saying '" + expected + "', got " + v);
    }

    private static void failsWith(String expected, Executable e) {
        Throwable t = assertThrows(RuntimeException.class, e);
        assertTrue(t.getMessage().contains(expected), "expected '" + expected + "' in: " + t.getMessage());
    }

    @Test
    void aTrustedKeyWithTheRightIsBelievedAndNamed() {
        Verdict v = roundTrip(alice, CONTROL, utf8("{\"type\":\"stop\"}"), Right.STOP);
        assertTrue(v.accepted());
        assertEquals("alice", v.signer());
        assertEquals(
                "evaluator",
                roundTrip(evaluator, CONTROL, utf8("{}"), Right.STOP).signer());
    }

    @Test
    void everythingElseIsRefusedWithItsReason() {
        byte[] stop = utf8("{\"type\":\"stop\"}");
        refusedWith("evaluator is not trusted with pause", roundTrip(evaluator, CONTROL, stop, Right.PAUSE));
        refusedWith("'mallory', which is not trusted", roundTrip(mallory, CONTROL, stop, Right.STOP));
        refusedWith("does not match", roundTrip(alice, "streamtrain.b.control", stop, Right.STOP));
        ProducerRecord<byte[], byte[]> sent = new Signing(alice, trusted).sign(new ProducerRecord<>(CONTROL, stop));
        refusedWith(
                "does not match",
                new Signing(null, trusted).verify(received(sent, CONTROL, utf8("{\"type\":\"pause\"}")), Right.PAUSE));
        ProducerRecord<byte[], byte[]> unsigned = new ProducerRecord<>(CONTROL, stop);
        refusedWith("not signed", new Signing(alice, trusted).verify(received(unsigned, CONTROL, stop), Right.STOP));
        // mallory's signature under alice's id
        String malloryOnly = new String(mallory.sign(CONTROL, stop), StandardCharsets.US_ASCII).split(":")[1];
        org.apache.kafka.common.header.Headers forged =
                new RecordHeaders().add(Signing.HEADER, utf8("alice:" + malloryOnly));
        refusedWith("does not match", new Signing(null, trusted).verify(CONTROL, stop, forged, Right.STOP));
        refusedWith(
                "not base64",
                new Signing(null, trusted)
                        .verify(CONTROL, stop, new RecordHeaders().add(Signing.HEADER, utf8("alice:%%%")), Right.STOP));
        refusedWith(
                "not a signature",
                new Signing(null, trusted)
                        .verify(CONTROL, stop, new RecordHeaders().add(Signing.HEADER, new byte[10_000]), Right.STOP));
    }

    @Test
    void withoutTrustedKeysNothingIsChecked() {
        Signing off = Signing.off();
        ProducerRecord<byte[], byte[]> r = off.sign(new ProducerRecord<>(CONTROL, utf8("{}")));
        assertNull(r.headers().lastHeader(Signing.HEADER));
        assertEquals(Verdict.UNCHECKED, off.verify(received(r, CONTROL, utf8("{}")), Right.STOP));
        off.requireSigner(Right.TRAINER, "the trainer"); // nothing to require
    }

    @Test
    void keyFilesRoundTripAndBrokenOnesAreRefusedWithoutTheirSecret(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("alice.key");
        Files.writeString(file, alice.format());
        SigningKey read = SigningKey.read(file);
        assertEquals("alice", read.id());
        assertEquals(alice.publicKey(), read.publicKey());
        String swapped = alice.format()
                .replaceAll(
                        "ed25519-public: .*",
                        "ed25519-public: " + mallory.trustedLine("operator").split(" ")[2]);
        failsWith("not one pair", () -> SigningKey.parse(swapped, "k"));
        failsWith("not a streamtrain signing key", () -> SigningKey.parse("hello\n", "k"));
        failsWith("key id", () -> SigningKey.generate("a b"));
        failsWith("'root' is neither a role", () -> TrustedKeys.parse("alice operator,root abc\n", "t"));
        failsWith(
                "t line 2: key id alice is listed twice",
                () -> TrustedKeys.parse(alice.trustedLine("operator") + "\n" + alice.trustedLine("trainer"), "t"));
        failsWith("lists no key", () -> TrustedKeys.parse("# nothing\n", "t"));
        StartupException e = assertThrows(
                StartupException.class,
                () -> Signing.fromEnvironment(
                        Map.of(Signing.KEY_ENV, dir.resolve("missing.key").toString())));
        assertTrue(e.getMessage().startsWith(Signing.KEY_ENV), e.getMessage());
        assertEquals(2, e.exitCode());
        String privateHalf = alice.format()
                .lines()
                .filter(l -> l.startsWith("ed25519-private"))
                .findFirst()
                .orElseThrow()
                .split(" ")[1];
        Throwable t = assertThrows(IllegalArgumentException.class, () -> SigningKey.parse(swapped, "k"));
        assertTrue(!t.getMessage().contains(privateHalf) && !read.toString().contains(privateHalf));
    }

    @Test
    void aServiceWhoseOwnMessagesWouldBeRefusedDoesNotStart() {
        failsWith("has no signing key", () -> new Signing(null, trusted).requireSigner(Right.TRAINER, "the trainer"));
        failsWith("mallory is not in", () -> new Signing(mallory, trusted).requireSigner(Right.TRAINER, "the trainer"));
        failsWith("the role 'trainer'", () -> new Signing(alice, trusted).requireSigner(Right.TRAINER, "the trainer"));
        SigningKey impostor = SigningKey.generate("alice");
        failsWith("another public key", () -> new Signing(impostor, trusted).requireSigner(Set.of(Right.STOP), "ctl"));
        new Signing(alice, trusted).requireSigner(Set.of(Right.STOP, Right.SET), "ctl");
    }
}
