package io.streamtrain.core.codec;

/** Why a record was refused; the code goes in the dead-letter record's reason header. */
public enum RejectReason {
    /** Not a safetensors document, or one that breaks the format. */
    DECODE("decode"),
    /** Missing {@code x}/{@code y}, or shapes that do not fit the model or each other. */
    SHAPE("shape"),
    /** An element type streamtrain does not train on. */
    DTYPE("dtype"),
    /** NaN or infinity among the values. */
    NON_FINITE("non-finite"),
    /** A class label outside [0, classes). */
    LABEL("label");

    private final String code;

    RejectReason(String code) {
        this.code = code;
    }

    public String code() {
        return code;
    }
}
