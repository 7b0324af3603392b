package io.streamtrain.core.signing;

import io.streamtrain.core.kafka.StartupException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;

/**
 * Who may say what on a run's topics, beyond Kafka's ACLs: the messages that steer a run
 * (control commands, STOPs, acknowledgements, checkpoint manifests, evaluation records)
 * carry an Ed25519 signature in the record header {@value #HEADER}, over the topic and the
 * value; readers act only on messages signed by a key they trust with the right the message
 * needs ({@link Right}). Write access to {@code .control} alone then no longer makes anyone an
 * operator, and a signed message copied onto another run's topic does not verify.
 *
 * <p>From the environment: {@value #KEY_ENV} names this process's {@link SigningKey} file
 * (it signs what it writes), {@value #TRUSTED_ENV} the {@link TrustedKeys} file (setting it
 * turns checking on: unsigned and wrongly signed messages are refused). Neither set: nothing
 * is signed or checked, as before signing existed.
 *
 * @param key what this process signs with; null to sign nothing
 * @param trusted the keys this process believes; null to check nothing
 */
public record Signing(SigningKey key, TrustedKeys trusted) {
    public static final String KEY_ENV = "STREAMTRAIN_SIGNING_KEY";
    public static final String TRUSTED_ENV = "STREAMTRAIN_TRUSTED_KEYS";
    public static final String HEADER = "streamtrain.signature";
    private static final byte[] DOMAIN = "streamtrain-signature-v1\n".getBytes(StandardCharsets.US_ASCII);

    /** Nothing signed, nothing checked. */
    public static Signing off() {
        return new Signing(null, null);
    }

    /** @throws StartupException (exit 2) naming the variable whose file cannot be used */
    public static Signing fromEnvironment(Map<String, String> env) {
        SigningKey key = null;
        TrustedKeys trusted = null;
        String keyFile = env.get(KEY_ENV);
        String trustedFile = env.get(TRUSTED_ENV);
        try {
            if (keyFile != null && !keyFile.isBlank()) {
                key = SigningKey.read(Path.of(keyFile));
            }
        } catch (IllegalArgumentException e) {
            throw new StartupException(StartupException.BAD_CONFIGURATION, KEY_ENV + ": " + e.getMessage(), e);
        }
        try {
            if (trustedFile != null && !trustedFile.isBlank()) {
                trusted = TrustedKeys.read(Path.of(trustedFile));
            }
        } catch (IllegalArgumentException e) {
            throw new StartupException(StartupException.BAD_CONFIGURATION, TRUSTED_ENV + ": " + e.getMessage(), e);
        }
        return new Signing(key, trusted);
    }

    /** Whether readers here refuse unsigned and wrongly signed messages. */
    public boolean checking() {
        return trusted != null;
    }

    /**
     * A service's first check: when messages are checked, what it writes must verify too, or
     * every other reader would refuse it (a trainer's manifests, the evaluator's STOPs).
     *
     * @param role what to call this process in the refusal ({@code the trainer}, ...)
     * @throws StartupException (exit 2) when its key is missing or not trusted with {@code needs}
     */
    public void requireSigner(Set<Right> needs, String role) {
        if (!checking()) {
            return;
        }
        if (key == null) {
            throw new StartupException(
                    StartupException.BAD_CONFIGURATION,
                    TRUSTED_ENV + " is set, so messages are checked, but " + role
                            + " has no signing key to sign its own: set " + KEY_ENV
                            + " to its key file (streamtrain keys new)");
        }
        TrustedKeys.Entry e = trusted.entry(key.id())
                .orElseThrow(() -> new StartupException(
                        StartupException.BAD_CONFIGURATION,
                        role + "'s signing key " + key.id() + " is not in " + TRUSTED_ENV
                                + ": readers would refuse everything it writes"));
        if (!e.key().equals(key.publicKey())) {
            throw new StartupException(
                    StartupException.BAD_CONFIGURATION,
                    TRUSTED_ENV + " lists another public key for " + key.id() + " than " + KEY_ENV
                            + " holds: readers would refuse everything " + role + " writes");
        }
        for (Right r : needs) {
            if (!e.rights().contains(r)) {
                throw new StartupException(
                        StartupException.BAD_CONFIGURATION,
                        role + "'s signing key " + key.id()
                                + " is not trusted with " + r.label() + " in " + TRUSTED_ENV + " (it needs "
                                + needs.stream().map(Right::label).toList()
                                + "; e.g. the role '"
                                + (Right.TRAINER.containsAll(needs)
                                        ? "trainer"
                                        : Right.EVALUATOR.containsAll(needs) ? "evaluator" : "operator")
                                + "')");
            }
        }
    }

    /** Adds this process's signature to {@code record} (before it is sent); unchanged when it signs nothing. */
    public <R extends ProducerRecord<byte[], byte[]>> R sign(R record) {
        if (key != null) {
            record.headers().remove(HEADER);
            record.headers()
                    .add(HEADER, key.sign(record.topic(), record.value() == null ? new byte[0] : record.value()));
        }
        return record;
    }

    /** Whether {@code record} may be acted on as a message that needs {@code needed}. */
    public Verdict verify(ConsumerRecord<byte[], byte[]> record, Right needed) {
        return verify(record.topic(), record.value(), record.headers(), needed);
    }

    public Verdict verify(String topic, byte[] value, Headers headers, Right needed) {
        if (!checking()) {
            return Verdict.UNCHECKED;
        }
        Header h = headers.lastHeader(HEADER);
        return trusted.verify(topic, value == null ? new byte[0] : value, h == null ? null : h.value(), needed);
    }

    /** What a signature covers: a domain tag, the topic (so a message does not verify on another run's topic) and the value. */
    static byte[] signedBytes(String topic, byte[] value) {
        byte[] t = topic.getBytes(StandardCharsets.UTF_8);
        byte[] out = new byte[DOMAIN.length + t.length + 1 + value.length];
        System.arraycopy(DOMAIN, 0, out, 0, DOMAIN.length);
        System.arraycopy(t, 0, out, DOMAIN.length, t.length);
        out[DOMAIN.length + t.length] = '\n';
        System.arraycopy(value, 0, out, DOMAIN.length + t.length + 1, value.length);
        return out;
    }
}
