package io.streamtrain.evaluator;

import java.util.Locale;

/** Why a checkpoint was rejected, as the {@code reason} label of its counter says it. */
enum Rejection {
    /** The payload does not verify: hash, size, or not safetensors. */
    CORRUPT,
    /** Chunks missing, or a claim-checked payload that cannot be read. */
    INCOMPLETE,
    /** It does not fit: its spec, the model, the validation data or the monitored metric. */
    MISMATCH,
    /** Signatures are checked and its manifest is not signed by a key trusted with manifests: nothing in it was read. */
    UNTRUSTED,
    /** Anything else that kept it from being scored. */
    UNREADABLE;

    String code() {
        return name().toLowerCase(Locale.ROOT);
    }
}
