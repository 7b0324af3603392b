package io.streamtrain.core.signing;

import java.util.EnumSet;
import java.util.Locale;
import java.util.Set;

/**
 * What a signing key may be trusted to say. A reader acts on a signed message only when the
 * key that signed it holds the right that message needs: an operator's key may STOP a run, a
 * trainer's key may not; the evaluator's key may STOP (early stopping) and write evaluations,
 * but may not PAUSE or change settings.
 */
public enum Right {
    /** A STOP on a run's control topic. */
    STOP,
    /** A PAUSE. */
    PAUSE,
    /** A RESUME. */
    RESUME,
    /** A SET of training settings. */
    SET,
    /** A CHECKPOINT command (a mid-epoch snapshot). */
    CHECKPOINT,
    /** A REGISTER: the spec that fixes a run's contract (validation data, model, stopping policy). */
    REGISTER,
    /** A ROLLBACK: the trainers return to a checkpoint's weights. */
    ROLLBACK,
    /** A trainer's acknowledgement of a command (restarted trainers replay SETs from the step an acknowledgement names). */
    ACK,
    /** A checkpoint manifest (it names the payload's SHA-256, so the payload is covered too). */
    MANIFEST,
    /** An evaluation record. */
    EVALUATION,
    /** A join or contribution on a run's sync topic (a contribution names its payload's SHA-256 when signed). */
    SYNC;

    /** The rights of the three roles, the shorthands a trusted-keys file may use. */
    public static final Set<Right> OPERATOR = EnumSet.of(STOP, PAUSE, RESUME, SET, CHECKPOINT, REGISTER, ROLLBACK);

    public static final Set<Right> EVALUATOR = EnumSet.of(STOP, EVALUATION);
    public static final Set<Right> TRAINER = EnumSet.of(ACK, MANIFEST, SYNC);

    /** What a control-topic message needs of its signer. */
    public static Right neededBy(io.streamtrain.core.control.ControlMessage m) {
        if (m instanceof io.streamtrain.core.control.ControlMessage.Stop) {
            return STOP;
        } else if (m instanceof io.streamtrain.core.control.ControlMessage.Pause) {
            return PAUSE;
        } else if (m instanceof io.streamtrain.core.control.ControlMessage.Resume) {
            return RESUME;
        } else if (m instanceof io.streamtrain.core.control.ControlMessage.Set
                || m instanceof io.streamtrain.core.control.ControlMessage.Revoke) {
            return SET; // revoking a SET changes settings as much as a SET does
        } else if (m instanceof io.streamtrain.core.control.ControlMessage.Checkpoint) {
            return CHECKPOINT;
        } else if (m instanceof io.streamtrain.core.control.ControlMessage.Register) {
            return REGISTER;
        } else if (m instanceof io.streamtrain.core.control.ControlMessage.Rollback) {
            return ROLLBACK;
        }
        return ACK;
    }

    /** The name a trusted-keys file uses: lower case. */
    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }

    /**
     * The rights one entry of a trusted-keys file's second column names: a role
     * ({@code operator}, {@code evaluator}, {@code trainer}) or a right ({@code stop}, ...).
     *
     * @throws IllegalArgumentException naming what is accepted
     */
    public static Set<Right> parse(String word) {
        String w = word.strip().toLowerCase(Locale.ROOT);
        return switch (w) {
            case "operator" -> OPERATOR;
            case "evaluator" -> EVALUATOR;
            case "trainer" -> TRAINER;
            default -> {
                for (Right r : values()) {
                    if (r.label().equals(w)) {
                        yield EnumSet.of(r);
                    }
                }
                throw new IllegalArgumentException("'" + io.streamtrain.core.logging.Logs.escape(word)
                        + "' is neither a role (operator, evaluator, trainer) nor a right "
                        + java.util.Arrays.stream(values()).map(Right::label).toList());
            }
        };
    }
}
