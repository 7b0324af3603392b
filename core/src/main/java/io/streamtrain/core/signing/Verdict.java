package io.streamtrain.core.signing;

/**
 * What a reader makes of a message's signature.
 *
 * @param signer the id of the trusted key that signed it; null when the message is refused
 *     or when signatures are not checked
 * @param refusal why the message must not be acted on; null when it may be. Safe to print as it
 *     is: what it quotes from the record (a key id) is escaped where it is made
 */
public record Verdict(String signer, String refusal) {
    /** Signatures are not checked (no trusted keys configured): every message is acted on, as before signing existed. */
    public static final Verdict UNCHECKED = new Verdict(null, null);

    static Verdict signedBy(String id) {
        return new Verdict(id, null);
    }

    static Verdict refused(String why) {
        return new Verdict(null, why);
    }

    public boolean accepted() {
        return refusal == null;
    }
}
