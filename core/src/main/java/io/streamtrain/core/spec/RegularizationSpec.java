package io.streamtrain.core.spec;

import java.util.List;

/**
 * The chapter's regularizers. Each is off at 0. Dropout is part of {@link ModelSpec}.
 *
 * @param l1 adds {@code l1 * sum(|w|)} to the loss
 * @param l2 adds {@code l2 * sum(w^2)} to the loss
 * @param l2sp adds {@code l2sp * sum((w - w0)^2)}, w0 the initial or pretrained weights
 * @param weightDecay optimizer weight decay (coupled for sgd/adam, decoupled for adamw)
 * @param exclude parameter-name patterns exempt from l1, l2, l2sp and weight decay: a
 *     pattern with {@code *} is a glob over the whole name, any other a substring
 * @param clipGradNorm clip the global gradient norm to this value; 0 turns clipping off
 */
public record RegularizationSpec(
        double l1, double l2, double l2sp, double weightDecay, List<String> exclude, double clipGradNorm) {

    public static final RegularizationSpec NONE = new RegularizationSpec(0, 0, 0, 0, List.of(), 0);

    public RegularizationSpec {
        exclude = List.copyOf(exclude);
    }
}
