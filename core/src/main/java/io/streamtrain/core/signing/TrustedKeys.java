package io.streamtrain.core.signing;

import io.streamtrain.core.logging.Logs;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PublicKey;
import java.security.Signature;
import java.security.spec.X509EncodedKeySpec;
import java.util.Base64;
import java.util.Collections;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The public keys a reader believes, and what each may say: the readers' half of
 * {@link Signing}. The file has one key per line, {@code <id> <rights> <public key>}: the id
 * as the signer names itself, a comma-separated list of roles ({@code operator},
 * {@code evaluator}, {@code trainer}) and {@link Right}s, and the Ed25519 public key as
 * base64 X.509 (what {@code streamtrain keys new} prints). {@code #} starts a comment.
 */
public final class TrustedKeys {
    /** A header value longer than this is not a signature (an id of 64 and 88 base64 characters fit). */
    static final int MAX_HEADER_BYTES = 256;

    /** One trusted key. */
    public record Entry(String id, Set<Right> rights, PublicKey key) {
        public Entry {
            rights = Collections.unmodifiableSet(EnumSet.copyOf(rights));
        }
    }

    private final Map<String, Entry> entries;

    private TrustedKeys(Map<String, Entry> entries) {
        this.entries = Map.copyOf(entries);
    }

    /** @throws IllegalArgumentException naming the file and line that is wrong */
    public static TrustedKeys read(Path file) {
        try {
            return parse(Files.readString(file, StandardCharsets.UTF_8), file.toString());
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read the trusted keys " + file + ": " + e.getMessage(), e);
        }
    }

    /** @param source what to call the text in a refusal (its file) */
    public static TrustedKeys parse(String text, String source) {
        Map<String, Entry> entries = new LinkedHashMap<>();
        String[] lines = text.split("\n");
        for (int i = 0; i < lines.length; i++) {
            String l = lines[i].strip();
            if (l.isEmpty() || l.startsWith("#")) {
                continue;
            }
            String where = source + " line " + (i + 1);
            String[] parts = l.split("\\s+");
            if (parts.length != 3) {
                throw new IllegalArgumentException(
                        where + ": expected '<key id> <rights> <public key>', got " + parts.length + " fields");
            }
            try {
                SigningKey.requireId(parts[0]);
                Set<Right> rights = EnumSet.noneOf(Right.class);
                for (String w : parts[1].split(",")) {
                    rights.addAll(Right.parse(w));
                }
                if (entries.put(parts[0], new Entry(parts[0], rights, publicKey(parts[2]))) != null) {
                    throw new IllegalArgumentException("key id " + parts[0] + " is listed twice");
                }
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(where + ": " + e.getMessage(), e);
            }
        }
        if (entries.isEmpty()) {
            throw new IllegalArgumentException(source + " lists no key: every signed message would be refused");
        }
        return new TrustedKeys(entries);
    }

    static PublicKey publicKey(String base64) {
        try {
            return KeyFactory.getInstance(SigningKey.ALGORITHM)
                    .generatePublic(new X509EncodedKeySpec(Base64.getDecoder().decode(base64)));
        } catch (GeneralSecurityException | IllegalArgumentException e) {
            throw new IllegalArgumentException("not a base64 Ed25519 public key (X.509)");
        }
    }

    public Optional<Entry> entry(String id) {
        return Optional.ofNullable(entries.get(id));
    }

    /**
     * Whether a message may be acted on.
     *
     * @param header the value of its {@link Signing#HEADER}, or null when it has none
     * @param needed what the message says (a STOP needs {@link Right#STOP})
     */
    public Verdict verify(String topic, byte[] value, byte[] header, Right needed) {
        if (header == null) {
            return Verdict.refused("not signed");
        }
        if (header.length > MAX_HEADER_BYTES) {
            return Verdict.refused("its signature header is " + header.length + " bytes, not a signature");
        }
        String h = new String(header, StandardCharsets.US_ASCII);
        int colon = h.indexOf(':');
        String id = colon < 0 ? h : h.substring(0, colon);
        Entry e = entries.get(id);
        if (colon < 0 || e == null) {
            return Verdict.refused("signed by key '" + Logs.escape(id) + "', which is not trusted");
        }
        byte[] sig;
        try {
            sig = Base64.getDecoder().decode(h.substring(colon + 1));
        } catch (IllegalArgumentException bad) {
            return Verdict.refused("the signature of key " + id + " is not base64");
        }
        try {
            Signature v = Signature.getInstance(SigningKey.ALGORITHM);
            v.initVerify(e.key());
            v.update(Signing.signedBytes(topic, value));
            if (!v.verify(sig)) {
                return Verdict.refused("the signature of key " + id
                        + " does not match the message (altered, or copied from another topic)");
            }
        } catch (GeneralSecurityException bad) {
            return Verdict.refused("the signature of key " + id + " cannot be checked: "
                    + bad.getClass().getSimpleName());
        }
        if (!e.rights().contains(needed)) {
            return Verdict.refused("key " + id + " is not trusted with " + needed.label() + " (it may: "
                    + e.rights().stream().map(Right::label).toList() + ")");
        }
        return Verdict.signedBy(id);
    }
}
