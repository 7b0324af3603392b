package io.streamtrain.core.signing;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.Signature;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * One signer's Ed25519 key pair (the JDK's own implementation): what an operator, the
 * evaluator or a trainer signs its messages with. The private half stays with its owner (a
 * Kubernetes Secret, a file of mode 0600); readers hold only the public half, in a
 * {@link TrustedKeys} file, so a reader that is compromised cannot forge what it verifies.
 *
 * <p>The file is three {@code name: value} lines: {@code streamtrain-signing-key: <id>},
 * {@code ed25519-private: <base64 PKCS#8>}, {@code ed25519-public: <base64 X.509>}.
 */
public final class SigningKey {
    /** Key ids: what a signature header and a trusted-keys line name a key by. */
    public static final Pattern ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");

    static final String ALGORITHM = "Ed25519";

    private final String id;
    private final PrivateKey privateKey;
    private final PublicKey publicKey;

    private SigningKey(String id, PrivateKey privateKey, PublicKey publicKey) {
        this.id = id;
        this.privateKey = privateKey;
        this.publicKey = publicKey;
    }

    /** A new random key pair. */
    public static SigningKey generate(String id) {
        requireId(id);
        try {
            KeyPair pair = KeyPairGenerator.getInstance(ALGORITHM).generateKeyPair();
            return new SigningKey(id, pair.getPrivate(), pair.getPublic());
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("Ed25519 is part of every Java 17 runtime", e);
        }
    }

    /** @throws IllegalArgumentException saying what is wrong with the file, never its secret */
    public static SigningKey read(Path file) {
        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read the signing key " + file + ": " + e.getMessage(), e);
        }
        return parse(text, file.toString());
    }

    /** @param source what to call the text in a refusal (its file) */
    public static SigningKey parse(String text, String source) {
        Map<String, String> fields = new LinkedHashMap<>();
        for (String line : text.split("\n")) {
            String l = line.strip();
            if (l.isEmpty() || l.startsWith("#")) {
                continue;
            }
            int colon = l.indexOf(':');
            if (colon < 0) {
                throw new IllegalArgumentException(
                        source + " is not a streamtrain signing key: a line without 'name: value'");
            }
            fields.put(l.substring(0, colon).strip(), l.substring(colon + 1).strip());
        }
        String id = fields.get("streamtrain-signing-key");
        String priv = fields.get("ed25519-private");
        String pub = fields.get("ed25519-public");
        if (id == null || priv == null || pub == null) {
            throw new IllegalArgumentException(
                    source + " is not a streamtrain signing key: it needs the lines "
                            + "'streamtrain-signing-key', 'ed25519-private' and 'ed25519-public' (make one with 'streamtrain keys new')");
        }
        requireId(id);
        try {
            KeyFactory f = KeyFactory.getInstance(ALGORITHM);
            SigningKey key = new SigningKey(
                    id,
                    f.generatePrivate(
                            new PKCS8EncodedKeySpec(Base64.getDecoder().decode(priv))),
                    TrustedKeys.publicKey(pub));
            byte[] probe = "streamtrain key check".getBytes(StandardCharsets.UTF_8);
            Signature v = Signature.getInstance(ALGORITHM);
            v.initVerify(key.publicKey);
            v.update(probe);
            if (!v.verify(key.signBytes(probe))) {
                throw new IllegalArgumentException(source + ": its private and public keys are not one pair");
            }
            return key;
        } catch (GeneralSecurityException | IllegalArgumentException e) {
            if (e instanceof IllegalArgumentException ours
                    && ours.getMessage() != null
                    && ours.getMessage().startsWith(source)) {
                throw ours;
            }
            throw new IllegalArgumentException(
                    source + " does not hold a valid Ed25519 key: "
                            + e.getClass().getSimpleName(),
                    e);
        }
    }

    static void requireId(String id) {
        if (id == null || !ID.matcher(id).matches()) {
            throw new IllegalArgumentException(
                    "a key id is 1 to 64 of [A-Za-z0-9._-], starting with a letter or digit, not '"
                            + io.streamtrain.core.logging.Logs.escape(id) + "'");
        }
    }

    public String id() {
        return id;
    }

    public PublicKey publicKey() {
        return publicKey;
    }

    /** The file this key is kept in (secret: it holds the private half). */
    public String format() {
        Base64.Encoder b64 = Base64.getEncoder();
        return "# streamtrain signing key: secret, keep it where only its owner reads it\n"
                + "streamtrain-signing-key: " + id + "\n"
                + "ed25519-private: " + b64.encodeToString(privateKey.getEncoded()) + "\n"
                + "ed25519-public: " + b64.encodeToString(publicKey.getEncoded()) + "\n";
    }

    /** This key's line of a trusted-keys file, trusted with {@code rights} (e.g. {@code operator}, or {@code pause,resume}). */
    public String trustedLine(String rights) {
        return id + " " + rights + " " + Base64.getEncoder().encodeToString(publicKey.getEncoded());
    }

    /** The value of a message's signature header: {@code <key id>:<base64 signature>} over the topic and the value. */
    public byte[] sign(String topic, byte[] value) {
        String sig = Base64.getEncoder().encodeToString(signBytes(Signing.signedBytes(topic, value)));
        return (id + ":" + sig).getBytes(StandardCharsets.US_ASCII);
    }

    private byte[] signBytes(byte[] bytes) {
        try {
            Signature s = Signature.getInstance(ALGORITHM);
            s.initSign(privateKey);
            s.update(bytes);
            return s.sign();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("signing with " + id + " failed", e);
        }
    }

    @Override
    public String toString() {
        return "SigningKey[" + id + "]"; // never the secret
    }
}
