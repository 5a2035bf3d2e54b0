"""Runs: start, cancel, resume, read, and watch live (replay from the database, then the bus, no gap)."""

from __future__ import annotations

import contextlib
import functools
import logging
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import sqlalchemy as sa
import strawberry
from strawberry.exceptions import StrawberryGraphQLError

from studio_gql.context import Context, Info
from studio_gql.errors import UserError, payload
from studio_gql.permissions import needs
from studio_gql.schema.artifacts import Artifact
from studio_gql.schema.common import JSON, Connection, DeletePayload, connection, parse_id, require_id
from studio_gql.schema.identity import User
from studio_gql.schema.workflows import Workflow
from studio_shared.db import models
from studio_shared.errors import NotFound, ValidationFailed
from studio_shared.events import Event, EventKind, channels, reconnected_since
from studio_shared.metrics import metrics
from studio_shared.rbac import Permission, permissions_for
from studio_shared.storage import StorageError
from studio_shared.store import Page
from studio_shared.store import runs as store
from studio_shared.store import usage as usage_store
from studio_shared.store import workflows as workflows_store
from studio_shared.store.event_waits import ResumeRefused
from studio_shared.store.pagination import decode_cursor, page_size
from studio_shared.types import RunStatus as RunStatusEnum
from studio_shared.types import StepStatus as StepStatusEnum

if TYPE_CHECKING:
    from studio_gql.schema.tasks import HumanTask

log = logging.getLogger("studio.gql.runs")

MAX_EVENT_NAME = 100  # wait.event's config.event: at most 100 characters
RunStatus = RunStatusEnum  # registered as GraphQL enums on the classes themselves (see common.Role)
StepStatus = StepStatusEnum
strawberry.enum(RunStatus, name="RunStatus", description="QUEUED → RUNNING ⇄ WAITING → final.")
strawberry.enum(StepStatus, name="StepStatus")

# Clocks of the API, the workers and the database differ a little: re-reads after a bus outage start this early.
CLOCK_MARGIN = timedelta(seconds=5)
LIVE_POLL_S = 5.0  # a quiet subscription re-reads the database this often, in case a message was lost


RunEventKind = EventKind
strawberry.enum(
    RunEventKind,
    name="RunEventKind",
    description="What a run event records: RUN_* kinds concern the whole run, STEP_* kinds one step (`stepId`).",
)


@strawberry.type(description="One state change of a run or a step; `seq` increases by one per run.")
class RunEvent:
    seq: int
    run_id: strawberry.ID
    kind: RunEventKind = strawberry.field(description="e.g. RUN_STARTED, STEP_SUCCEEDED, STEP_RETRYING, RUN_FAILED.")
    step_id: str | None
    status: str | None
    at: datetime
    final: bool = strawberry.field(description="True on the run's last event; the stream completes after it.")
    raw_data: strawberry.Private[dict[str, Any] | None] = None

    @strawberry.field(
        description="The event's details. STEP_AWAITING_EVENT: {event, resume_url, expires_at}; its resume_url (a "
        "capability: whoever holds it may resume the step) is null for roles without run:signal. "
        "STEP_EVENT_RECEIVED: {event, via, at}. STEP_DELTA (live only, never stored; its seq repeats the last "
        "stored event's): {text: the streamed answer so far, call: the step's model call it belongs to}."
    )
    def data(self, info: Info) -> JSON | None:
        found = self.raw_data
        if self.kind is EventKind.STEP_AWAITING_EVENT and isinstance(found, dict) and found.get("resume_url"):
            principal = info.context.principal
            if principal is None or Permission.RUN_SIGNAL not in permissions_for(principal.role):
                found = {**found, "resume_url": None}
        return JSON(found)

    @classmethod
    def from_model(cls, row: models.RunEvent) -> RunEvent:
        kind = EventKind(row.kind)
        return cls(
            seq=row.seq,
            run_id=strawberry.ID(str(row.run_id)),
            kind=kind,
            step_id=row.step_id,
            status=row.status,
            at=row.at,
            raw_data=row.data,
            final=kind.final,
        )

    @classmethod
    def transient(cls, message: Any, last_seq: int) -> RunEvent | None:
        """A ``step.delta`` from the bus (never stored): it repeats the seq of the last stored event sent, so that
        resuming with ``afterSeq`` works as before and a late subscriber reads the stored final text instead."""
        if not isinstance(message, dict) or message.get("kind") != EventKind.STEP_DELTA.value:
            return None
        try:
            return cls(
                seq=last_seq,
                run_id=strawberry.ID(str(uuid.UUID(str(message["run_id"])))),
                kind=EventKind.STEP_DELTA,
                step_id=str(message["step_id"]),
                status=None,
                at=datetime.fromisoformat(str(message["at"])),
                raw_data=message.get("data") if isinstance(message.get("data"), dict) else None,
                final=False,
            )
        except (KeyError, ValueError):
            return None

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> RunEvent:
        event = Event.from_message(message)
        return cls(
            seq=event.seq,
            run_id=strawberry.ID(str(event.run_id)),
            kind=event.kind,
            step_id=event.step_id,
            status=event.status,
            at=event.at,
            raw_data=event.data,
            final=event.final,
        )


@strawberry.type(description="One node of a run: its status, attempts and result envelope.")
class Step:
    step_id: str
    node_type: str
    status: StepStatus
    attempt: int
    output: JSON | None
    error: JSON | None
    envelope: JSON | None = strawberry.field(description="The step_output.schema.json envelope once finished.")
    input: JSON | None = strawberry.field(description="The rendered config of the latest attempt.")
    branches: list[str] | None = strawberry.field(description="Branches taken; null means every outgoing edge.")
    started_at: datetime | None
    finished_at: datetime | None
    wake_at: datetime | None = strawberry.field(description="When a waiting or backing-off step resumes.")
    pinned: bool = strawberry.field(
        description="A test run used the node's pinned output instead of running it (never in a published run)."
    )
    logs: list[str] = strawberry.field(description="The step's log lines (secrets masked), once finished.")
    duration_ms: int | None = strawberry.field(description="From start to finish, in milliseconds, once finished.")

    @classmethod
    def from_model(cls, row: models.Step) -> Step:
        envelope = row.envelope if isinstance(row.envelope, dict) else {}
        logs = envelope.get("logs")
        duration = (
            int((row.finished_at - row.started_at).total_seconds() * 1000)
            if row.started_at is not None and row.finished_at is not None
            else None
        )
        return cls(
            pinned=envelope.get("pinned") is True,
            logs=[str(line) for line in logs] if isinstance(logs, list) else [],
            duration_ms=duration,
            step_id=row.step_id,
            node_type=row.node_type,
            status=row.status,
            attempt=row.attempt,
            output=row.output,
            error=JSON(row.error),
            envelope=JSON(row.envelope),
            input=JSON(row.input),
            branches=row.branches,
            started_at=row.started_at,
            finished_at=row.finished_at,
            wake_at=row.wake_at,
        )


@strawberry.type(description="Model usage: calls, tokens, and cost in USD when STUDIO_LLM_PRICES prices the model.")
class Usage:
    calls: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost_usd: float | None

    @classmethod
    def from_store(cls, found: usage_store.Usage | None) -> Usage:
        found = found or usage_store.Usage()
        return cls(
            calls=found.calls,
            prompt_tokens=found.prompt_tokens,
            completion_tokens=found.completion_tokens,
            total_tokens=found.prompt_tokens + found.completion_tokens,
            cost_usd=found.cost_usd,
        )


@strawberry.type(description="What started a run, as its trigger recorded it (a field that does not apply is null).")
class RunTriggerDetails:
    delivery_id: str | None = strawberry.field(
        description="A webhook delivery's key (its webhook-id header, or the Idempotency-Key it was sent with)."
    )
    received_at: datetime | None = strawberry.field(description="When the webhook received the delivery.")
    schedule_id: strawberry.ID | None = strawberry.field(description="The schedule whose tick started the run.")
    scheduled_for: datetime | None = strawberry.field(description="The schedule's tick (before jitter).")
    channel: str | None = strawberry.field(description="The channel of the message that started the run.")
    message_id: strawberry.ID | None = strawberry.field(description="The message that started the run.")
    replay_of: strawberry.ID | None = strawberry.field(description="The run this one replays (replayRun, testReplay).")
    test_step: str | None = strawberry.field(
        description="A test step (testStep): the node it ran; every other step was filled in or skipped."
    )
    upstream_run: strawberry.ID | None = strawberry.field(
        description="A test step: the earlier run whose step outputs it used as upstream data."
    )

    @classmethod
    def from_model(cls, row: Any) -> RunTriggerDetails:
        """From a run's row (its trigger, idempotency key and trigger data)."""
        data = row.trigger_data if isinstance(row.trigger_data, dict) else {}
        # Not the webhook's id: for an unsigned webhook its id (in its URL) is all it takes to start runs, and only
        # trigger managers may read it (Workflow.webhooks); run readers are not all trigger managers.
        return cls(
            delivery_id=_public_key(row) if row.trigger == "webhook" else None,
            received_at=_when(data.get("received_at")),
            schedule_id=_id(_text(data.get("schedule_id"))),
            scheduled_for=_when(data.get("scheduled_for")),
            channel=_text(data.get("channel")),
            message_id=_id(_text(data.get("message_id"))),
            replay_of=_id(_text(data.get("replay_of"))),
            test_step=_text(data.get("test_step")),
            upstream_run=_id(_text(data.get("upstream_run"))),
        )


def _public_key(row: Any) -> str | None:
    """The idempotency key a run was started with, as its sender gave it. A webhook delivery's key is stored as
    ``webhook:<webhook id>:<key>`` (scoped to its webhook); the webhook's id is left out: see RunTriggerDetails."""
    key: str | None = row.idempotency_key
    if key is not None and key.startswith("webhook:"):
        return key.split(":", 2)[-1]
    if key is not None and getattr(row, "test", False) and key.startswith("test:"):
        return key.removeprefix("test:")  # a test run's key is kept apart from live runs' (see draft_tests)
    return key


class _TriggerRow:
    """A run's trigger, idempotency key and trigger data, as RunTriggerDetails reads them."""

    def __init__(self, trigger: str, idempotency_key: str | None, trigger_data: Any) -> None:
        self.trigger, self.idempotency_key, self.trigger_data = trigger, idempotency_key, trigger_data


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _id(value: str | None) -> strawberry.ID | None:
    return strawberry.ID(value) if value is not None else None


def _when(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


@strawberry.type(description="How many child runs a step started, by status.")
class ChildRunSummary:
    total: int
    queued: int
    running: int = strawberry.field(description="RUNNING or WAITING.")
    succeeded: int
    failed: int
    cancelled: int


@strawberry.type(description="One execution of a published workflow version, or a test run of the draft.")
class Run:
    id: strawberry.ID
    version: int = strawberry.field(description="The published version it runs; 0 for a test run of the draft.")
    test: bool = strawberry.field(
        description="A test run of the draft (testRun, testStep, testReplay): same engine, credentials and side "
        "effects as a real run, but it never touches triggers or published versions, may use pinned outputs, and "
        "is kept by the per-workflow test-run retention."
    )
    status: RunStatus
    trigger: str
    idempotency_key: str | None = strawberry.field(
        description="The key it was started with (a webhook delivery's: the delivery's key, without the webhook)."
    )
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    cancel_requested: bool
    parent_step_id: str | None = strawberry.field(description="The parent's step that started this run, if any.")
    item_index: int | None = strawberry.field(description="The item (foreach) or iteration (loop) it ran for.")
    depth: int = strawberry.field(description="0 for a run started directly; its children are one deeper.")
    stored_bytes: int = strawberry.field(
        description="Bytes of JSON the run keeps: its input, its steps' rendered inputs, outputs, errors, logs and "
        "state, its output and its events' data, as serialized. What counts against the stored-output quotas "
        "(STUDIO_MAX_RUN_OUTPUT_BYTES per run, STUDIO_MAX_TENANT_OUTPUT_BYTES for all runs of the tenant); "
        "deleting the run frees it."
    )
    started_via: str = strawberry.field(
        description="What started it: user, apikey, webhook, schedule, run (a parent run's step) or another actor."
    )
    _tenant_id: strawberry.Private[uuid.UUID]
    _workflow_id: strawberry.Private[uuid.UUID]
    _version_id: strawberry.Private[uuid.UUID]
    _parent_run_id: strawberry.Private[uuid.UUID | None]
    _started_by: strawberry.Private[uuid.UUID | None]
    _row: strawberry.Private[models.Run]

    @classmethod
    def from_model(cls, row: models.Run) -> Run:
        return cls(
            id=strawberry.ID(str(row.id)),
            version=row.version,
            test=bool(row.test),
            status=row.status,
            trigger=row.trigger,
            idempotency_key=_public_key(row),
            created_at=row.created_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
            cancel_requested=row.cancel_requested_at is not None,
            parent_step_id=row.parent_step_id,
            item_index=row.item_index,
            depth=row.depth,
            stored_bytes=row.stored_bytes or 0,
            started_via=(row.created_by or "system").split(":", 1)[0],
            _tenant_id=row.tenant_id,
            _workflow_id=row.workflow_id,
            _version_id=row.workflow_version_id,
            _parent_run_id=row.parent_run_id,
            _started_by=row.started_by_user,
            _row=row,
        )

    async def _documents(self, info: Info) -> Any:
        """The run's JSON columns: from its row, or, for a row of a list (which leaves them out: see
        ``store.DOCUMENTS``), read for every run of the page that asks, in one statement."""
        if not sa.inspect(self._row).unloaded.intersection(store.DOCUMENTS):
            return self._row
        return await info.context.loaders.run_documents.load(self._row.id)

    @strawberry.field(description="A test run: the draft revision it ran (its test snapshot's); null for a live run.")
    async def draft_revision(self, info: Info) -> int | None:
        if not self.test:
            return None
        version = await info.context.loaders.version.load(self._version_id)
        return version.draft_revision if version is not None else None

    @strawberry.field(
        description="The definition it executes: its published version's, or for a test run the draft as it was "
        "tested (its test snapshot's). The run monitor draws it."
    )
    async def definition(self, info: Info) -> JSON:
        version = await info.context.loaders.version.load(self._version_id)
        return JSON(version.definition if version is not None else {"nodes": [], "edges": []})

    @strawberry.field(description="The input it was started with.")
    async def input(self, info: Info) -> JSON | None:
        documents = await self._documents(info)
        return documents.input if documents is not None else None

    @strawberry.field(description="Outputs of the sink steps that succeeded, by step id.")
    async def output(self, info: Info) -> JSON | None:
        documents = await self._documents(info)
        return documents.output if documents is not None else None

    @strawberry.field(description="Why it failed: the failed steps' errors, or the engine's.")
    async def error(self, info: Info) -> JSON | None:
        documents = await self._documents(info)
        return documents.error if documents is not None else None

    @strawberry.field(
        description="The webhook delivery, schedule tick or message that started it, and the run it replays."
    )
    async def trigger_details(self, info: Info) -> RunTriggerDetails:
        documents = await self._documents(info)  # None: deleted meanwhile
        trigger_data = documents.trigger_data if documents is not None else None
        return RunTriggerDetails.from_model(_TriggerRow(self._row.trigger, self._row.idempotency_key, trigger_data))

    @strawberry.field(
        description="The person the run tree was started for: the user, an API key's user, or the user who made "
        "the webhook or schedule that started it (child runs inherit it); null when nobody, or once deleted."
    )
    async def started_by(self, info: Info) -> User | None:
        if self._started_by is None:
            return None
        row = await info.context.loaders.user.load(self._started_by)
        return User.from_model(row) if row else None

    @strawberry.field(description="The workflow this run belongs to.")
    async def workflow(self, info: Info) -> Workflow:
        row = await info.context.loaders.workflow.load(self._workflow_id)
        if row is None:
            raise NotFound("workflow", self._workflow_id)
        return Workflow.from_model(row)

    @strawberry.field(description="Every step, in the order of the definition.")
    async def steps(self, info: Info) -> list[Step]:
        rows = await info.context.loaders.steps.load(uuid.UUID(str(self.id)))
        version = await info.context.loaders.version.load(self._version_id)
        order = {node["id"]: i for i, node in enumerate((version.definition if version else {}).get("nodes", []))}
        return [Step.from_model(r) for r in sorted(rows, key=lambda r: order.get(r.step_id, len(order)))]

    @strawberry.field(description="One step by id, or null.")
    async def step(self, info: Info, step_id: str) -> Step | None:
        rows = await info.context.loaders.steps.load(uuid.UUID(str(self.id)))
        return next((Step.from_model(r) for r in rows if r.step_id == step_id), None)

    @strawberry.field(
        description=f"Stored events after `afterSeq`, oldest first: `first` of them (at most and by default "
        f"{store.MAX_EVENTS}); page on with the last seq."
    )
    async def events(self, info: Info, after_seq: int | None = None, first: int | None = None) -> list[RunEvent]:
        size = store.MAX_EVENTS if first is None else first
        if not 0 <= size <= store.MAX_EVENTS:
            raise ValidationFailed.one(["first"], f"first must be between 0 and {store.MAX_EVENTS}", "OUT_OF_RANGE")
        rows = await info.context.loaders.events.load((uuid.UUID(str(self.id)), after_seq or 0, size))
        return [RunEvent.from_model(r) for r in rows]

    @strawberry.field(
        description="Runs this run's foreach, subworkflow and loop steps started (of one step, and of the given "
        "statuses, if given), newest first. Ask for `status: [FAILED, CANCELLED]` first to list failed items first."
    )
    async def children(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        step_id: str | None = None,
        status: list[RunStatus] | None = None,
    ) -> Connection[Run]:
        page_size(first)  # a bad page size or cursor is refused here, not in the middle of other runs' batch
        if after:
            decode_cursor(after)
        statuses = tuple(sorted({RunStatusEnum(s) for s in status or []}))
        page = await info.context.loaders.children.load((uuid.UUID(str(self.id)), step_id, first, after, statuses))
        return connection(page, Run.from_model)

    @strawberry.field(description="How many child runs this run's steps started (of one step, if given), by status.")
    async def child_summary(self, info: Info, step_id: str | None = None) -> ChildRunSummary:
        counts = await info.context.loaders.child_counts.load((uuid.UUID(str(self.id)), step_id))
        return ChildRunSummary(
            total=sum(counts.values()),
            queued=counts.get(RunStatusEnum.QUEUED, 0),
            running=counts.get(RunStatusEnum.RUNNING, 0) + counts.get(RunStatusEnum.WAITING, 0),
            succeeded=counts.get(RunStatusEnum.SUCCEEDED, 0),
            failed=counts.get(RunStatusEnum.FAILED, 0),
            cancelled=counts.get(RunStatusEnum.CANCELLED, 0),
        )

    @strawberry.field(description="Approval tasks this run's human.approval steps opened, oldest first.")
    async def human_tasks(self, info: Info) -> list[Annotated[HumanTask, strawberry.lazy("studio_gql.schema.tasks")]]:
        from studio_gql.schema.tasks import HumanTask  # tasks.py imports this module

        rows = await info.context.loaders.human_tasks.load(uuid.UUID(str(self.id)))
        return [HumanTask.from_model(row) for row in rows or []]

    @strawberry.field(description="Files this run's steps wrote, oldest first.")
    async def artifacts(self, info: Info) -> list[Artifact]:
        rows = await info.context.loaders.artifacts.load(uuid.UUID(str(self.id)))
        return [Artifact.from_model(row) for row in rows or []]

    @strawberry.field(
        description="Model calls of this run's llm.chat and agent steps, summed (child runs not included)."
    )
    async def usage(self, info: Info) -> Usage:
        return Usage.from_store(await info.context.loaders.usage.load(uuid.UUID(str(self.id))))

    @strawberry.field(description="The run that started this one (foreach, subworkflow, loop), if any.")
    async def parent(self, info: Info) -> Run | None:
        if self._parent_run_id is None:
            return None
        row = await info.context.loaders.run.load(self._parent_run_id)
        return Run.from_model(row) if row else None

    @strawberry.field(
        description="The error run this run's failure started (its workflow's error workflow, else the tenant's "
        "default), if any; the run's `RUN_ERROR_WORKFLOW` event says why none started. Null once that run is deleted."
    )
    async def error_run(self, info: Info) -> Run | None:
        if self._row.error_run_id is None:
            return None
        row = await info.context.loaders.run.load(self._row.error_run_id)
        return Run.from_model(row) if row else None

    @strawberry.field(
        description="For an error run (trigger `error`): the failed run that started it. Null for any other run, and "
        "once that run is deleted."
    )
    async def failed_run(self, info: Info) -> Run | None:
        failed_id = failed_run_id(self._row)
        if failed_id is None:
            return None
        row = await info.context.loaders.run.load(failed_id)
        return Run.from_model(row) if row else None


def failed_run_id(row: models.Run) -> uuid.UUID | None:
    """An error run's failed run, from its idempotency key ``error:<failed run id>`` (a plain column: a page of runs
    reads it without their documents)."""
    key = row.idempotency_key
    if row.trigger != "error" or key is None or not key.startswith("error:"):
        return None
    try:
        return uuid.UUID(key.removeprefix("error:"))
    except ValueError:
        return None


MAX_FILTER_VALUES = 10  # statuses and trigger kinds a filter may list
MAX_TRIGGER_LENGTH = 32  # the width of runs.trigger


@strawberry.input(description="Narrow a run list; every given field must match.")
class RunFilter:
    workflow_id: strawberry.ID | None = None
    status: list[RunStatus] | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    trigger: list[str] | None = strawberry.field(
        default=None,
        description="Trigger kinds: manual, webhook, schedule, message, parent (a child run); any of them matches.",
    )
    started_by: strawberry.ID | None = strawberry.field(
        default=None, description="A user's id: runs started for that person (see Run.startedBy)."
    )
    top_level: bool | None = strawberry.field(
        default=None, description="true: only runs no step started; false: only child runs; null: both."
    )
    test: bool | None = strawberry.field(
        default=None, description="true: only test runs of drafts; false: only live runs; null: both."
    )

    def where(self) -> store.RunFilter | None:
        """The store's filter, or None when an id in it names nothing (the answer is then empty, as for a missing
        id). Lists longer than MAX_FILTER_VALUES, and trigger kinds no run can have, are refused."""
        for field, values in (("status", self.status), ("trigger", self.trigger)):
            if values is not None and len(values) > MAX_FILTER_VALUES:
                raise ValidationFailed.one(
                    ["filter", field], f"list at most {MAX_FILTER_VALUES} values in filter.{field}", "OUT_OF_RANGE"
                )
        for kind in self.trigger or []:
            if not 0 < len(kind) <= MAX_TRIGGER_LENGTH:
                raise ValidationFailed.one(
                    ["filter", "trigger"],
                    f"a trigger kind is 1 to {MAX_TRIGGER_LENGTH} characters, e.g. webhook or schedule",
                    "OUT_OF_RANGE",
                )
        ids = {"workflow": self.workflow_id, "started_by": self.started_by}
        parsed = {name: parse_id(value) if value is not None else None for name, value in ids.items()}
        if any(parsed[name] is None for name, value in ids.items() if value is not None):
            return None
        workflow_id, started_by = parsed["workflow"], parsed["started_by"]
        return store.RunFilter(
            workflow_id=workflow_id,
            statuses=[RunStatusEnum(s) for s in self.status or []],
            created_after=self.created_after,
            created_before=self.created_before,
            triggers=list(dict.fromkeys(self.trigger or [])),
            started_by=started_by,
            top_level=self.top_level,
            test=self.test,
        )


@strawberry.type
class RunPayload:
    run: Run | None = None
    created: bool | None = strawberry.field(
        default=None, description="startRun: false when the idempotency key returned an existing run."
    )
    errors: list[UserError] = strawberry.field(default_factory=list)


def _run_errors(errors: list[UserError]) -> RunPayload:
    return RunPayload(errors=errors)


@strawberry.type
class RunQuery:
    @strawberry.field(description="Runs of your tenant, newest first.", extensions=needs(Permission.RUN_READ))
    async def runs(
        self, info: Info, first: int | None = None, after: str | None = None, filter: RunFilter | None = None
    ) -> Connection[Run]:
        where = filter.where() if filter is not None else store.RunFilter()
        if where is None:
            return connection(Page(items=[], has_next=False), Run.from_model)
        async with info.context.state.reads() as s:
            page = await store.list_runs(s, info.context.tenant_id, where, first, after)
        return connection(page, Run.from_model)

    @strawberry.field(description="A run by id, or null.", extensions=needs(Permission.RUN_READ))
    async def run(self, info: Info, id: strawberry.ID) -> Run | None:
        key = parse_id(id)
        row = await info.context.loaders.run.load(key) if key else None
        return Run.from_model(row) if row else None


@strawberry.type
class UsageQuery:
    @strawberry.field(
        description="Your tenant's model usage in [since, until) (default: all time).",
        extensions=needs(Permission.RUN_READ),
    )
    async def usage(self, info: Info, since: datetime | None = None, until: datetime | None = None) -> Usage:
        async with info.context.state.reads() as s:
            return Usage.from_store(await usage_store.between(s, info.context.tenant_id, since, until))


@strawberry.type
class RunMutation:
    @strawberry.mutation(
        description="Start a run of a published version (default: the latest); a known idempotencyKey returns its run. "
        "Without `input`, the run's input is the trigger's input_schema defaults (`{}` without any).",
        extensions=needs(Permission.RUN_START),
    )
    @payload(_run_errors)
    async def start_run(
        self,
        info: Info,
        workflow_id: strawberry.ID,
        version: int | None = None,
        input: JSON | None = None,
        idempotency_key: str | None = None,
    ) -> RunPayload:
        ctx = info.context
        principal = ctx.require_principal()
        run, created = await ctx.state.control.start_run(
            ctx.tenant_id,
            principal.actor,
            require_id(workflow_id, "workflow"),
            version=version,
            input=input,
            idempotency_key=idempotency_key,
            started_by=principal.person_id,
        )
        return RunPayload(run=Run.from_model(run), created=created)

    @strawberry.mutation(
        description="Cancel a run: running steps are cancelled, pending ones never start.",
        extensions=needs(Permission.RUN_CANCEL),
    )
    @payload(_run_errors)
    async def cancel_run(self, info: Info, id: strawberry.ID) -> RunPayload:
        ctx = info.context
        run = await ctx.state.control.cancel_run(ctx.tenant_id, ctx.require_principal(), require_id(id, "run"))
        return RunPayload(run=Run.from_model(run))

    @strawberry.mutation(
        description="Resume the same run from `fromStep` (default: every failed or cancelled step) and downstream.",
        extensions=needs(Permission.RUN_RETRY),
    )
    @payload(_run_errors)
    async def retry_run(self, info: Info, id: strawberry.ID, from_step: str | None = None) -> RunPayload:
        ctx = info.context
        run = await ctx.state.control.retry_run(
            ctx.tenant_id, ctx.require_principal(), require_id(id, "run"), from_step
        )
        return RunPayload(run=Run.from_model(run))

    @strawberry.mutation(
        description="Resume the run's waiting `wait.event` step whose event name (its config's `event`, default its "
        "step id) is `name`, with `payload` as its output (checked against its `payload_schema`). The first resume "
        "wins: a later one, by signal or by resume URL, is refused with ALREADY_RESUMED and the first outcome; a step "
        "that is not waiting (not reached yet, timed out, its run ended) with NOT_WAITING; an unknown name with "
        "UNKNOWN_EVENT; a payload the schema refuses with INVALID_PAYLOAD (the step keeps waiting).",
        extensions=needs(Permission.RUN_SIGNAL),
    )
    @payload(_run_errors)
    async def signal_run(self, info: Info, run_id: strawberry.ID, name: str, payload: JSON | None = None) -> RunPayload:
        ctx = info.context
        principal = ctx.require_principal()
        key = require_id(run_id, "run")
        if not 0 < len(name) <= MAX_EVENT_NAME:
            raise ValidationFailed.one(["name"], f"an event name has 1 to {MAX_EVENT_NAME} characters")
        try:
            await ctx.state.control.resume_wait(
                ctx.tenant_id, key, event=name, payload=payload, via="signal", actor=principal.actor
            )
        except ResumeRefused as exc:
            async with ctx.state.reads() as s:
                row = await store.get(s, ctx.tenant_id, key)
            return RunPayload(
                run=Run.from_model(row) if row else None,
                errors=[UserError(path=["name"], message=str(exc), code=exc.code)],
            )
        async with ctx.state.reads() as s:
            row = await store.get(s, ctx.tenant_id, key)
        if row is None:  # deleted in the meantime
            raise NotFound("run", run_id)
        return RunPayload(run=Run.from_model(row))

    @strawberry.mutation(
        description="Start a new run with the same input and trigger delivery as an earlier one (say, a webhook "
        "delivery) on a published version of its workflow (default: the latest), e.g. after fixing the workflow.",
        extensions=needs(Permission.RUN_START),
    )
    @payload(_run_errors)
    async def replay_run(self, info: Info, id: strawberry.ID, version: int | None = None) -> RunPayload:
        ctx = info.context
        async with ctx.state.reads() as s:
            original = await store.get(s, ctx.tenant_id, require_id(id, "run"))
        if original is None or original.parent_run_id is not None:
            raise NotFound("run", id)
        principal = ctx.require_principal()
        run, created = await ctx.state.control.start_run(
            ctx.tenant_id,
            principal.actor,
            original.workflow_id,
            version=version,
            input=original.input,
            trigger=original.trigger,
            trigger_data={**(original.trigger_data or {}), "replay_of": str(original.id)},
            started_by=principal.person_id,
        )
        return RunPayload(run=Run.from_model(run), created=created)

    @strawberry.mutation(
        description="Delete a finished run with its child runs, steps, events and artifacts (files included); "
        "a workflow's history is its editors' to keep or prune.",
        extensions=needs(Permission.WORKFLOW_WRITE),
    )
    @payload(lambda errors: DeletePayload(errors=errors))
    async def delete_run(self, info: Info, id: strawberry.ID) -> DeletePayload:
        ctx = info.context
        run_id = require_id(id, "run")
        async with ctx.state.sessions.begin() as s:
            deleted = await store.delete_tree(s, ctx.tenant_id, run_id, ctx.require_principal().actor)
        for gone in deleted:  # after the commit: a file without its row is garbage, a row without its file a 404
            try:
                await ctx.state.objects.delete_prefix(f"{ctx.tenant_id}/{gone}/")
            except StorageError:
                log.warning("could not remove the files of deleted run %s", gone, exc_info=True)
        return DeletePayload(deleted_id=id)


@contextlib.asynccontextmanager
async def _subscription_slot(ctx: Context) -> AsyncIterator[None]:
    limit = ctx.state.settings.max_subscriptions_per_connection
    if ctx.subscriptions >= limit:
        raise StrawberryGraphQLError(
            f"at most {limit} subscriptions per connection: close one first", extensions={"code": "LIMIT"}
        )
    ctx.subscriptions += 1
    metrics.subscriptions_open.inc()
    try:
        yield
    finally:
        ctx.subscriptions -= 1
        metrics.subscriptions_open.dec()


@strawberry.type
class RunSubscription:
    @strawberry.subscription(
        description="Every event of a run after `afterSeq`: stored ones first, then live; completes after the last.",
        extensions=needs(Permission.RUN_READ),
    )
    async def run_events(
        self, info: Info, run_id: strawberry.ID, after_seq: int | None = None
    ) -> AsyncGenerator[RunEvent, None]:
        ctx = info.context
        tenant_id = ctx.tenant_id
        key = parse_id(run_id)
        async with _subscription_slot(ctx):
            if key is None:
                raise StrawberryGraphQLError(f"run {str(run_id)!r} not found", extensions={"code": "NOT_FOUND"})
            last = after_seq or 0
            # Subscribe first, then read history: an event committed in between is in one or the other. The first
            # read also tells a run that does not exist (or is another tenant's) apart: one read, not two.
            async with ctx.state.bus.subscribe(channels.run(tenant_id, key)) as live:
                first = True
                while True:
                    finished = False
                    async with ctx.state.reads() as s:
                        stored = await store.events_after(s, tenant_id, key, last)
                        progress = await store.progress(s, tenant_id, key)
                    if progress is None and first:
                        raise StrawberryGraphQLError(f"run {str(run_id)!r} not found", extensions={"code": "NOT_FOUND"})
                    first = False
                    if progress is None:
                        return  # deleted while followed
                    status, last_seq = progress
                    if status.final and last >= last_seq:
                        return  # the client already has the final event (it asked for what follows)
                    for row in stored:
                        last = row.seq
                        event = RunEvent.from_model(row)
                        yield event
                        # A retried run has an earlier final event in its history: only the newest one ends it.
                        finished = finished or (event.final and status.final and row.seq >= last_seq)
                    if finished:
                        return
                    # Live: in-order events stream straight through; a gap, a reconnect or a quiet spell
                    # sends us back to the database, which is the truth.
                    in_order = True
                    while in_order:
                        message = await live.get(timeout=LIVE_POLL_S)
                        if message is not None and "delta" in message:
                            delta = RunEvent.transient(message["delta"], last)
                            if delta is not None:
                                yield delta
                            continue
                        batch = _live_events(message)
                        if batch is None:
                            break
                        for message in batch:
                            seq = int(message["seq"])
                            if seq <= last:
                                continue  # a duplicate of something already sent
                            if seq != last + 1:
                                in_order = False
                                break
                            event = RunEvent.from_message(message)
                            last = event.seq
                            yield event
                            if event.final:
                                return

    @strawberry.subscription(
        description="Status changes of runs in your tenant (optionally of one workflow).",
        extensions=needs(Permission.RUN_READ),
    )
    async def run_updates(self, info: Info, workflow_id: strawberry.ID | None = None) -> AsyncGenerator[Run, None]:
        ctx = info.context
        tenant_id = ctx.tenant_id
        wanted = parse_id(workflow_id) if workflow_id is not None else None
        if workflow_id is not None:
            async with ctx.state.reads() as s:
                found = wanted is not None and await workflows_store.get(s, tenant_id, wanted) is not None
            if not found:
                raise StrawberryGraphQLError(
                    f"workflow {str(workflow_id)!r} not found", extensions={"code": "NOT_FOUND"}
                )
        async with _subscription_slot(ctx), ctx.state.bus.subscribe(channels.tenant_runs(tenant_id)) as live:
            async for message in live:
                if (lost := reconnected_since(message)) is not None:
                    # The bus was away: every run that changed meanwhile, read back from the database.
                    async with ctx.state.reads() as s:
                        changed = await store.changed_since(s, tenant_id, lost - CLOCK_MARGIN, wanted)
                    for each in changed:
                        yield Run.from_model(each)
                    continue
                run_id = parse_id(str(message.get("run_id")))
                if run_id is None:
                    continue
                if isinstance(message.get("seq"), int):  # every follower in this process reads it back: once, shared
                    key = ("run", tenant_id, run_id, message["seq"])
                    row = await ctx.state.shared_reads.get(key, functools.partial(_load_run, ctx, tenant_id, run_id))
                else:
                    row = await _load_run(ctx, tenant_id, run_id)
                if row is not None and (wanted is None or row.workflow_id == wanted):
                    yield Run.from_model(row)


def _live_events(message: dict[str, Any] | None) -> list[dict[str, Any]] | None:
    """The events of a message on a run's channel (one per commit), or None: a quiet spell, a reconnect of
    the bus, or a message of another shape — each a reason to re-read the database."""
    if message is None:
        return None
    events = message.get("events")
    if not isinstance(events, list) or not all(isinstance(e, dict) and "seq" in e for e in events):
        return None
    return events


async def _load_run(ctx: Context, tenant_id: uuid.UUID, run_id: uuid.UUID) -> models.Run | None:
    async with ctx.state.reads() as s:
        return await store.get(s, tenant_id, run_id)
