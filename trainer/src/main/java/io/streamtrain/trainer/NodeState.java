package io.streamtrain.trainer;

import java.util.EnumSet;
import java.util.Set;

/**
 * Where a trainer node is in its part of the run, from its first assignment to its exit.
 * Every wait of the node is a state here, and {@link NodeLoop} does the same housekeeping in
 * each (heartbeat, feeds, control commands, stop) before it acts on the state. The allowed
 * transitions are listed once, below: each state names the states it may be entered from.
 *
 * <p>Whether the run is paused is not a state of its own everywhere: a PAUSE holds the node
 * in {@link #PAUSED} where it would train, and is only counted out of the round timeouts
 * where it waits for other nodes.
 */
@SuppressWarnings("ImmutableEnumChecker") // previous is written once, by the static block, and only read after it
enum NodeState {
    /** Reading the run's control history and latest checkpoint; no assignment asked for yet. */
    STARTING,
    /** Has no assignment: before the group's first, or after a generation was superseded before this node started in it. */
    AWAITING_ASSIGNMENT,
    /** Announced a new assignment on the sync log; reading the log up to that announcement. */
    JOINING,
    /** Before the run's first round: fewer than {@code sync.minNodes} nodes joined this generation. */
    AWAITING_MEMBERS,
    /**
     * Training this node's partitions until its share of the round is done; also past a share
     * handed in, before its round is applied (a streaming node's {@code sync.overlapSteps}, a
     * lone node's until the round comes back).
     */
    TRAINING,
    /** More nodes than partitions: this one has none, and follows the rounds to take over after a rebalance. */
    FOLLOWING,
    /** Handed in its contribution; waiting until the sync log closes the round. */
    AWAITING_ROUND,
    /** A PAUSE holds the run: no batch is consumed or trained until a RESUME. */
    PAUSED,
    /**
     * More than {@code evaluation.maxLag} of the run's epoch checkpoints are not yet evaluated:
     * the node does not begin the next epoch until the evaluator catches up.
     */
    AWAITING_EVALUATION,
    /** Asked to stop (STOP, SIGTERM): leaves at this step boundary. Final. */
    STOPPING,
    /** Every epoch of the run is trained and checkpointed. Final. */
    FINISHED;

    static {
        AWAITING_ASSIGNMENT.from(STARTING, JOINING, AWAITING_MEMBERS);
        JOINING.from(
                AWAITING_ASSIGNMENT,
                AWAITING_MEMBERS,
                TRAINING,
                FOLLOWING,
                AWAITING_ROUND,
                PAUSED,
                AWAITING_EVALUATION);
        AWAITING_MEMBERS.from(JOINING);
        TRAINING.from(JOINING, AWAITING_MEMBERS, AWAITING_ROUND, PAUSED, AWAITING_EVALUATION);
        FOLLOWING.from(JOINING, AWAITING_MEMBERS, PAUSED);
        AWAITING_ROUND.from(TRAINING, AWAITING_ROUND);
        PAUSED.from(TRAINING, FOLLOWING);
        AWAITING_EVALUATION.from(TRAINING);
        STOPPING.from(
                STARTING,
                AWAITING_ASSIGNMENT,
                JOINING,
                AWAITING_MEMBERS,
                TRAINING,
                FOLLOWING,
                AWAITING_ROUND,
                PAUSED,
                AWAITING_EVALUATION);
        FINISHED.from(STARTING, JOINING, AWAITING_MEMBERS, AWAITING_ROUND, FOLLOWING);
        STARTING.previous = EnumSet.noneOf(NodeState.class);
    }

    /** Set by the static block: an enum's constants cannot build an EnumSet of their own type while they are constructed. */
    private Set<NodeState> previous;

    private void from(NodeState first, NodeState... rest) {
        previous = EnumSet.of(first, rest);
    }

    /** The states this one may be entered from. */
    Set<NodeState> previous() {
        return EnumSet.copyOf(previous);
    }

    boolean canFollow(NodeState before) {
        return previous.contains(before);
    }

    boolean isFinal() {
        return this == STOPPING || this == FINISHED;
    }
}
