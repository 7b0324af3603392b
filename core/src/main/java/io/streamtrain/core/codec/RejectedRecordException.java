package io.streamtrain.core.codec;

/** A record that cannot be trained on, with the reason and a sentence for the operator. */
public final class RejectedRecordException extends Exception {
    private static final long serialVersionUID = 1L;

    private final RejectReason reason;

    public RejectedRecordException(RejectReason reason, String detail) {
        super(detail);
        this.reason = reason;
    }

    public RejectReason reason() {
        return reason;
    }
}
