package io.streamtrain.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayDeque;
import java.util.EnumSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

class NodeStateTest {
    private static Set<NodeState> next(NodeState from) {
        Set<NodeState> out = EnumSet.noneOf(NodeState.class);
        for (NodeState s : NodeState.values()) {
            if (s.canFollow(from)) {
                out.add(s);
            }
        }
        return out;
    }

    @Test
    void everyStateIsReachableFromStarting() {
        Set<NodeState> seen = EnumSet.of(NodeState.STARTING);
        ArrayDeque<NodeState> todo = new ArrayDeque<>(seen);
        while (!todo.isEmpty()) {
            for (NodeState s : next(todo.poll())) {
                if (seen.add(s)) {
                    todo.add(s);
                }
            }
        }
        assertEquals(EnumSet.allOf(NodeState.class), seen);
    }

    @Test
    void everyStateThatIsNotFinalCanStopAndTheFinalOnesLeadNowhere() {
        for (NodeState s : NodeState.values()) {
            if (s.isFinal()) {
                assertEquals(Set.of(), next(s), s + " is final");
            } else {
                assertTrue(NodeState.STOPPING.canFollow(s), "a STOP or SIGTERM must be obeyed in " + s);
            }
        }
        assertEquals(
                EnumSet.of(NodeState.STOPPING, NodeState.FINISHED),
                EnumSet.copyOf(java.util.Arrays.stream(NodeState.values())
                        .filter(NodeState::isFinal)
                        .toList()));
    }

    @Test
    void onlyAStateThatWouldConsumeBatchesPausesAndANewAssignmentAlwaysJoins() {
        assertEquals(EnumSet.of(NodeState.TRAINING, NodeState.FOLLOWING), NodeState.PAUSED.previous());
        for (NodeState s : NodeState.values()) {
            boolean takesResets = !s.isFinal() && s != NodeState.STARTING && s != NodeState.JOINING;
            assertEquals(takesResets, NodeState.JOINING.canFollow(s), "a new assignment in " + s);
        }
        assertFalse(NodeState.TRAINING.canFollow(NodeState.AWAITING_ASSIGNMENT), "training needs a joined assignment");
    }
}
