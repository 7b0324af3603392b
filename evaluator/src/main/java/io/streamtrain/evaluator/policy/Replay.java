package io.streamtrain.evaluator.policy;

import static io.streamtrain.evaluator.policy.Numbers.format;

import io.streamtrain.core.spec.EarlyStoppingSpec;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/** One replay of an evaluation history through the rules of {@link EarlyStopPolicy}. */
final class Replay {
    private final EarlyStoppingSpec spec;
    private final int maxEpochs;
    private final boolean minimize;
    private final String metric;
    /** patience 0 stops at the first evaluation that does not improve, as patience 1 does. */
    private final int patience;

    private final Map<Integer, Evaluation> byEpoch = new HashMap<>();
    private Best best;
    /** The value to improve on: the baseline until an evaluation improves, then that evaluation's value. */
    private Double reference;
    /** The evaluation that set {@link #reference}; null while it is the baseline (or unset). */
    private Evaluation referenceEvaluation;

    /**
     * Counted evaluations since the reference was set that did not improve on it; for windows,
     * the counted windows in a row that fell below it by more than minDelta.
     */
    private int wait;
    /**
     * A continuous run's windows: a rule that fires does not end the replay, "best" is the
     * promoted model, and patience runs out only on windows worse than it (a level run is no
     * decline).
     */
    private final boolean windows;

    Replay(EarlyStoppingSpec spec, int maxEpochs) {
        this(spec, maxEpochs, false);
    }

    Replay(EarlyStoppingSpec spec, int maxEpochs, boolean windows) {
        this.windows = windows;
        this.spec = spec;
        this.maxEpochs = maxEpochs;
        this.minimize = !spec.mode().equals("max");
        this.metric = spec.monitor();
        this.patience = Math.max(1, spec.patience());
        this.reference = spec.baseline();
    }

    Decision run(List<Evaluation> history) {
        Evaluation last = null;
        Evaluation previousReference = null;
        Double previousReferenceValue = null;
        boolean improved = false;
        Decision lastStop = null;
        for (Evaluation e : inEpochOrder(history)) {
            byEpoch.put(e.epoch(), e);
            previousReference = referenceEvaluation;
            previousReferenceValue = reference;
            improved = observe(e);
            if (spec.enabled()) {
                Decision stop = stopAt(e);
                if (stop != null && !windows) {
                    return stop;
                }
                lastStop = stop; // windows: only what the last one says counts
            }
            last = e;
        }
        if (last == null) {
            return continuing(0, "no evaluations yet");
        }
        if (lastStop != null) {
            return lastStop;
        }
        return continuing(last.epoch(), continueSentence(last, improved, previousReference, previousReferenceValue));
    }

    /** Sorted by epoch (stably), keeping the first evaluation of each epoch. */
    private static List<Evaluation> inEpochOrder(List<Evaluation> history) {
        List<Evaluation> sorted = new ArrayList<>(history.size());
        for (Evaluation e : history) {
            sorted.add(Objects.requireNonNull(e, "history holds a null evaluation"));
        }
        sorted.sort(Comparator.comparingInt(Evaluation::epoch));
        List<Evaluation> unique = new ArrayList<>(sorted.size());
        for (Evaluation e : sorted) {
            if (unique.isEmpty() || unique.get(unique.size() - 1).epoch() != e.epoch()) {
                unique.add(e);
            }
        }
        return unique;
    }

    /** Updates best, reference and wait; true when {@code e} improved on the reference. */
    private boolean observe(Evaluation e) {
        double v = e.monitored();
        boolean finite = Double.isFinite(v);
        if (finite && (best == null || better(v, best.value()))) {
            best = new Best(e.epoch(), e.checkpointId(), v);
        }
        // windows: a window past divergenceThreshold is never promoted, even the first
        boolean improved = finite
                && (reference == null || improves(v, reference))
                && !(windows && spec.divergenceThreshold() != null && worse(v, spec.divergenceThreshold()));
        if (improved) {
            reference = v;
            referenceEvaluation = e;
            wait = 0;
        } else if (windows) {
            // a window level with the promoted model (within minDelta) ends a stretch of worse ones
            wait = counts(e) && fallsBelowReference(v) ? wait + 1 : 0;
        } else if (counts(e)) {
            wait++;
        }
        return improved;
    }

    /** Windows: worse than the promoted model (or the baseline, before one) by more than minDelta, or not finite. */
    private boolean fallsBelowReference(double v) {
        if (reference == null) {
            return false;
        }
        if (!Double.isFinite(v)) {
            return true;
        }
        return minimize ? v > reference + spec.minDelta() : v < reference - spec.minDelta();
    }

    private Decision stopAt(Evaluation e) {
        double v = e.monitored();
        if (!Double.isFinite(v)) {
            if (spec.checkFinite()) {
                return stop(
                        StopReason.NON_FINITE,
                        e,
                        metric + " is " + format(v) + " at epoch " + e.epoch()
                                + ", which stops the run at once (checkFinite)" + bestClause());
            }
        } else {
            Double divergence = spec.divergenceThreshold();
            if (divergence != null && worse(v, divergence)) {
                return stop(
                        StopReason.DIVERGENCE,
                        e,
                        metric + " " + format(v) + " at epoch " + e.epoch() + " is worse than divergenceThreshold "
                                + format(divergence) + bestClause());
            }
            Double goal = spec.stoppingThreshold();
            if (goal != null && !worse(v, goal)) {
                return stop(
                        StopReason.THRESHOLD_REACHED,
                        e,
                        metric + " " + format(v) + " at epoch " + e.epoch() + " reached stoppingThreshold "
                                + format(goal) + bestClause());
            }
        }
        if (counts(e)) {
            Decision byCriterion = criterion(e);
            if (byCriterion != null) {
                return byCriterion;
            }
        }
        if (e.epoch() >= maxEpochs) {
            return stop(
                    StopReason.MAX_EPOCHS,
                    e,
                    "epoch " + e.epoch() + " is the run's last (maxEpochs " + maxEpochs + ")" + bestClause());
        }
        return null;
    }

    private Decision criterion(Evaluation e) {
        int t = e.epoch();
        switch (spec.criterion()) {
            case "patience" -> {
                if (wait >= patience && windows) {
                    return stop(
                            StopReason.PATIENCE_EXHAUSTED,
                            e,
                            metric + " " + format(e.monitored()) + " at epoch " + t + " is worse than "
                                    + referenceText() + " by more than minDelta " + format(spec.minDelta())
                                    + ", for " + windowCount(wait) + " in a row");
                }
                if (wait >= patience) {
                    return stop(
                            StopReason.PATIENCE_EXHAUSTED,
                            e,
                            metric + " " + format(e.monitored())
                                    + " did not " + improveOn() + " by minDelta " + format(spec.minDelta())
                                    + " for " + evaluations(wait) + bestIfApart());
                }
            }
            case "gl" -> {
                double gl = generalizationLoss(e);
                if (gl > spec.alpha()) {
                    return stop(
                            StopReason.GENERALIZATION_LOSS,
                            e,
                            "generalization loss GL " + format(gl) + " at epoch "
                                    + t + " (" + metric + " " + format(e.monitored()) + " against the best "
                                    + format(best.value())
                                    + " at epoch " + best.epoch() + ") is above alpha " + format(spec.alpha()));
                }
            }
            case "pq" -> {
                double gl = generalizationLoss(e);
                double p = progress(t);
                if (gl / p > spec.alpha()) {
                    return stop(
                            StopReason.PROGRESS_QUOTIENT,
                            e,
                            "progress quotient GL/P_" + spec.strip() + " = "
                                    + format(gl) + "/" + format(p) + " at epoch " + t + " is above alpha "
                                    + format(spec.alpha())
                                    + bestClause());
                }
            }
            case "up" -> {
                int k = spec.strip();
                int s = spec.successive();
                if (Prechelt.successiveIncreases(this::valueAt, t, k, s)) {
                    StringBuilder chain = new StringBuilder();
                    for (int epoch = t - s * k; epoch <= t; epoch += k) {
                        chain.append(chain.length() == 0 ? "" : " < ")
                                .append(format(valueAt(epoch)))
                                .append(" (epoch ")
                                .append(epoch)
                                .append(')');
                    }
                    return stop(
                            StopReason.SUCCESSIVE_INCREASES,
                            e,
                            metric + " rose at " + s + " successive strip ends of " + k + " epochs: " + chain
                                    + bestClause());
                }
            }
            default ->
                throw new IllegalArgumentException("unknown early-stopping criterion '" + spec.criterion() + "'");
        }
        return null;
    }

    private double generalizationLoss(Evaluation e) {
        return best == null ? Double.NaN : Prechelt.generalizationLoss(e.monitored(), best.value());
    }

    private double progress(int t) {
        return Prechelt.progress(
                epoch -> {
                    Evaluation e = byEpoch.get(epoch);
                    return e == null ? Double.NaN : e.trainLoss();
                },
                t,
                spec.strip());
    }

    private double valueAt(int epoch) {
        Evaluation e = byEpoch.get(epoch);
        return e == null ? Double.NaN : e.monitored();
    }

    private String continueSentence(
            Evaluation last, boolean improved, Evaluation previousReference, Double previousValue) {
        String head = spec.enabled() ? "" : "early stopping is disabled; ";
        String value = metric + " " + format(last.monitored()) + " at epoch " + last.epoch();
        String body;
        if (improved) {
            String on = previousValue == null
                    ? " is the first finite value"
                    : previousReference == null
                            ? " beat the baseline " + format(previousValue)
                            : " improved on " + format(previousValue) + " (epoch " + previousReference.epoch() + ")";
            body = value + on;
        } else if (!counts(last)) {
            body = value + " is in the warm-up (counting starts at epoch " + spec.startFromEpoch() + ")" + bestClause();
        } else if (windows && reference != null) {
            body = value
                    + (wait == 0
                            ? " is within minDelta " + format(spec.minDelta()) + " of " + referenceText()
                                    + ": no decline"
                            : " is worse than " + referenceText() + " by more than minDelta "
                                    + format(spec.minDelta()) + " for "
                                    + (spec.criterion().equals("patience")
                                            ? wait + " of " + patience + " windows in a row"
                                            : windowCount(wait) + " in a row"));
        } else {
            body = value + " did not " + improveOn() + " by minDelta " + format(spec.minDelta()) + " for "
                    + (spec.criterion().equals("patience")
                            ? wait + " of " + patience + " evaluations"
                            : evaluations(wait))
                    + bestIfApart();
        }
        return head + body + criterionStatus(last);
    }

    /** The current value of a Prechelt criterion, so a human sees how close it is. */
    private String criterionStatus(Evaluation e) {
        return switch (spec.criterion()) {
            case "gl" -> "; GL " + format(generalizationLoss(e)) + ", alpha " + format(spec.alpha());
            case "pq" ->
                "; GL/P_" + spec.strip() + " " + format(generalizationLoss(e)) + "/" + format(progress(e.epoch()))
                        + ", alpha " + format(spec.alpha());
            default -> "";
        };
    }

    /** Windows: what a window is compared with for a decline. */
    private String referenceText() {
        return referenceEvaluation == null
                ? "the baseline " + format(reference)
                : "the promoted " + format(reference) + " (epoch " + referenceEvaluation.epoch() + ")";
    }

    private String improveOn() {
        if (referenceEvaluation == null) {
            return reference == null ? "give a finite value" : "beat the baseline " + format(reference);
        }
        return "improve on the best " + format(reference) + " (epoch " + referenceEvaluation.epoch() + ")";
    }

    /** The best checkpoint, when it is not the evaluation the reference came from. */
    private String bestIfApart() {
        return best == null || (referenceEvaluation != null && best.epoch() == referenceEvaluation.epoch())
                ? ""
                : bestClause();
    }

    private String bestClause() {
        return best == null
                ? "; no finite value yet"
                : "; best " + metric + " " + format(best.value()) + " (epoch " + best.epoch() + ")";
    }

    private static String evaluations(int n) {
        return n + (n == 1 ? " evaluation" : " evaluations");
    }

    private static String windowCount(int n) {
        return n + (n == 1 ? " window" : " windows");
    }

    private Decision stop(StopReason reason, Evaluation at, String explanation) {
        return new Decision(Verdict.STOP, reason, at.epoch(), reported(), wait, patienceLeft(), explanation);
    }

    private Decision continuing(int epoch, String explanation) {
        return new Decision(Verdict.CONTINUE, null, epoch, reported(), wait, patienceLeft(), explanation);
    }

    /**
     * The best checkpoint; for windows the promoted one: the last that improved on the one
     * before by more than minDelta (and beat the baseline), not merely the lowest value.
     */
    private Best reported() {
        if (!windows) {
            return best;
        }
        return referenceEvaluation == null
                ? null
                : new Best(
                        referenceEvaluation.epoch(),
                        referenceEvaluation.checkpointId(),
                        referenceEvaluation.monitored());
    }

    private int patienceLeft() {
        return Math.max(0, patience - wait);
    }

    private boolean counts(Evaluation e) {
        return e.epoch() >= spec.startFromEpoch();
    }

    private boolean better(double v, double than) {
        return minimize ? v < than : v > than;
    }

    private boolean worse(double v, double than) {
        return minimize ? v > than : v < than;
    }

    private boolean improves(double v, double than) {
        return minimize ? v < than - spec.minDelta() : v > than + spec.minDelta();
    }
}
