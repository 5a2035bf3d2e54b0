"""The run-event contract: every kind of event a run records, and the event as stored, published and served.

The worker produces events (``studio_worker.engine.records``), the ``run_events`` table stores them and the bus
carries them as messages; the API parses those messages back (``Event.from_message``). A new kind is one member
of ``EventKind``: the GraphQL enum ``RunEventKind`` and the frontend's generated types follow from it. The wire
values (the ``run_events.kind`` column, bus messages) are the members' values, e.g. ``step.succeeded``; GraphQL
serves their names, e.g. ``STEP_SUCCEEDED``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from studio_shared.types import RunStatus

__all__ = ["FINAL_EVENT_KINDS", "Event", "EventKind"]


class EventKind(StrEnum):
    """What happened; ``run.*`` kinds concern the whole run (no step id), ``step.*`` kinds one step."""

    RUN_QUEUED = "run.queued"
    RUN_STARTED = "run.started"
    RUN_RESUMED = "run.resumed"
    RUN_WAITING = "run.waiting"
    RUN_RETRIED = "run.retried"
    RUN_SUCCEEDED = "run.succeeded"
    RUN_FAILED = "run.failed"
    RUN_CANCELLED = "run.cancelled"
    # A live top-level run failed and names an error workflow: whether an error run started (its id) or why not.
    # Written in the failed run's final transaction, just before its ``run.failed``.
    RUN_ERROR_WORKFLOW = "run.error_workflow"
    STEP_STARTED = "step.started"
    STEP_INTERRUPTED = "step.interrupted"
    STEP_WAITING = "step.waiting"
    STEP_RETRYING = "step.retrying"
    STEP_SUCCEEDED = "step.succeeded"
    STEP_FAILED = "step.failed"
    STEP_SKIPPED = "step.skipped"
    STEP_CANCELLED = "step.cancelled"
    STEP_TOOL_CALL = "step.tool_call"
    STEP_TASK_OPENED = "step.task_opened"
    STEP_TASK_EXPIRED = "step.task_expired"
    STEP_TASK_ESCALATED = "step.task_escalated"
    STEP_AWAITING_EVENT = "step.awaiting_event"  # a wait.event step waits: {event, resume_url, expires_at}
    STEP_EVENT_RECEIVED = "step.event_received"  # its resume was accepted: {event, via, at}
    # A streamed model answer grew: {text (the whole text so far), call}. Transient: published on the run's channel
    # as {"delta": …}, never stored and without a seq of its own; the step's output holds the final text.
    STEP_DELTA = "step.delta"

    @property
    def run_level(self) -> bool:
        """About the run as a whole: published on the tenant's channel too."""
        return self.value.startswith("run.")

    @property
    def final(self) -> bool:
        """The run ended with this event (a retried run may end again later: only its newest final event counts)."""
        return self in FINAL_EVENT_KINDS

    @classmethod
    def run_finished(cls, status: RunStatus) -> EventKind:
        """The event a run ends with in ``status`` (SUCCEEDED, FAILED or CANCELLED)."""
        return _FINISHED[status]


FINAL_EVENT_KINDS = frozenset({EventKind.RUN_SUCCEEDED, EventKind.RUN_FAILED, EventKind.RUN_CANCELLED})
_FINISHED = {
    RunStatus.SUCCEEDED: EventKind.RUN_SUCCEEDED,
    RunStatus.FAILED: EventKind.RUN_FAILED,
    RunStatus.CANCELLED: EventKind.RUN_CANCELLED,
}


@dataclass(frozen=True, slots=True)
class Event:
    """One event of a run, as stored (``run_events``) and as published on the bus (``message()``)."""

    tenant_id: uuid.UUID
    run_id: uuid.UUID
    seq: int
    kind: EventKind
    step_id: str | None
    status: str | None
    at: datetime
    data: dict[str, Any] | None
    parent_run_id: uuid.UUID | None = None  # published with a child run's events (not a column of the row)

    @property
    def final(self) -> bool:
        """The one place that says whether an event ends its run (membership: a plain string works as well)."""
        return self.kind in FINAL_EVENT_KINDS

    def message(self) -> dict[str, Any]:
        """The event as the bus carries it (JSON)."""
        return {
            "tenant_id": str(self.tenant_id),
            "run_id": str(self.run_id),
            "seq": self.seq,
            "kind": str(self.kind),
            "step_id": self.step_id,
            "status": self.status,
            "at": self.at.isoformat(),
            "data": self.data,
            "final": self.final,
            **({"parent_run_id": str(self.parent_run_id)} if self.parent_run_id else {}),
        }

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> Event:
        """Parse ``message()``'s output; ValueError (or KeyError) when it is not one."""
        parent = message.get("parent_run_id")
        data = message.get("data")
        return cls(
            tenant_id=uuid.UUID(str(message["tenant_id"])),
            run_id=uuid.UUID(str(message["run_id"])),
            seq=int(message["seq"]),
            kind=EventKind(message["kind"]),
            step_id=_optional_text(message.get("step_id")),
            status=_optional_text(message.get("status")),
            at=datetime.fromisoformat(str(message["at"])),
            data=data if isinstance(data, dict) else None,
            parent_run_id=uuid.UUID(str(parent)) if parent else None,
        )


def _optional_text(value: Any) -> str | None:
    return None if value is None else str(value)
