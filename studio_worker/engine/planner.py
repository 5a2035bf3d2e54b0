"""What runs next: ready steps, skipped steps and the run's outcome, from the definition and step states. Pure.

Edge semantics (contract §3): an edge is *resolved* once its source step is final, and *taken* when
the source succeeded and took the edge's branch (a plain node takes every edge), or when the source
failed with ``on_error: continue`` and the edge has no branch. A pending step becomes ready once every
incoming edge is resolved and at least one was taken; it is skipped when every incoming edge was
resolved and none was taken. A step that failed with ``on_error: fail`` fails the run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from studio_shared.definition import Definition, Edge, Node
from studio_shared.types import StepStatus


@dataclass(frozen=True, slots=True)
class StepState:
    status: StepStatus
    branches: tuple[str, ...] | None = None  # branches the step took; None: all of its edges
    wake_at: datetime | None = None  # a PENDING step waiting out a retry backoff, a WAITING step's deadline


@dataclass(slots=True)
class Plan:
    ready: list[str] = field(default_factory=list)  # PENDING steps to start now, in definition order
    skip: list[str] = field(default_factory=list)  # PENDING steps none of whose incoming edges was taken
    due: list[str] = field(default_factory=list)  # WAITING steps whose deadline has passed (resume them)
    running: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)  # WAITING steps still waiting
    failed: list[str] = field(default_factory=list)  # steps that failed the run (on_error: fail)
    next_wake_at: datetime | None = None  # earliest backoff or deadline still ahead

    @property
    def finished(self) -> bool:
        """Nothing is running, ready, waiting or due: the run's outcome is decided."""
        return not (self.ready or self.skip or self.due or self.running or self.waiting) and self.next_wake_at is None

    @property
    def run_failed(self) -> bool:
        return bool(self.failed)


def edge_taken(edge: Edge, source: Node, state: StepState) -> bool | None:
    """True/False once the source is final; None while it is not."""
    if not state.status.final:
        return None
    if state.status is StepStatus.SUCCEEDED:
        return state.branches is None or edge.branch in state.branches
    if state.status is StepStatus.FAILED and source.on_error == "continue":
        return edge.branch is None
    return False


def plan(definition: Definition, states: Mapping[str, StepState], now: datetime) -> Plan:
    """Classify every step. Skips cascade within one call: a skipped step resolves its outgoing edges."""
    result = Plan()
    resolved = dict(states)
    wakes: list[datetime] = []
    for step_id in definition.topological_order():
        node = definition.node(step_id)
        state = resolved[step_id]
        status = state.status
        if status is StepStatus.RUNNING:
            result.running.append(step_id)
        elif status is StepStatus.WAITING:
            if state.wake_at is not None and state.wake_at <= now:
                result.due.append(step_id)
            else:
                result.waiting.append(step_id)
                if state.wake_at is not None:
                    wakes.append(state.wake_at)
        elif status is StepStatus.FAILED and node.on_error == "fail":
            result.failed.append(step_id)
        elif status is StepStatus.PENDING:
            verdict = _inputs(definition, node, resolved)
            if verdict is None:
                continue
            if verdict:
                if state.wake_at is not None and state.wake_at > now:
                    wakes.append(state.wake_at)
                else:
                    result.ready.append(step_id)
            else:
                result.skip.append(step_id)
                resolved[step_id] = StepState(StepStatus.SKIPPED)
    result.next_wake_at = min(wakes) if wakes else None
    return result


def _inputs(definition: Definition, node: Node, states: Mapping[str, StepState]) -> bool | None:
    """None: an incoming edge is unresolved; True: all resolved and one taken; False: none taken."""
    incoming = definition.incoming(node.id)
    if not incoming:
        return True  # the trigger
    any_taken = False
    for edge in incoming:
        taken = edge_taken(edge, definition.node(edge.source), states[edge.source])
        if taken is None:
            return None
        any_taken = any_taken or taken
    return any_taken


def reset_for_retry(definition: Definition, states: Mapping[str, StepState], from_step: str | None) -> set[str]:
    """What a resume resets to PENDING: the named step (or every failed or cancelled one) and all downstream."""
    if from_step is not None:
        starts: Iterable[str] = [from_step]
    else:
        starts = [sid for sid, st in states.items() if st.status in (StepStatus.FAILED, StepStatus.CANCELLED)]
    reset: set[str] = set()
    for start in starts:
        reset.add(start)
        reset |= definition.downstream_of(start)
    return reset


def sink_outputs(
    definition: Definition, outputs: Mapping[str, object], states: Mapping[str, StepState]
) -> dict[str, object]:
    """Run.output: the output of every sink step that succeeded, keyed by step id."""
    return {sid: outputs.get(sid) for sid in definition.sinks() if states[sid].status is StepStatus.SUCCEEDED}
