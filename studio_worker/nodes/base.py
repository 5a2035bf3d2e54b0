"""The node handler contract: rendered config + context in, a NodeResult (or a NodeError) out."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from studio_shared.events import EventKind

if TYPE_CHECKING:
    from studio_shared.credentials import ResolvedCredential
    from studio_worker.nodes.children import ChildRuns
    from studio_worker.nodes.services import NodeServices

MAX_LOG_LINES = 200
MAX_LOG_LINE = 2000


class NodeError(Exception):
    """A step failure the node means: typed, with a message for the user and whether a retry may help."""

    def __init__(self, type: str, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.type, self.message, self.retryable = type, message, retryable

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, "message": self.message, "retryable": self.retryable}


@dataclass
class NodeContext:
    """What a handler may know and use; no database, no secrets unless a later service hands them out."""

    tenant_id: uuid.UUID
    run_id: uuid.UUID
    step_id: str
    node_type: str
    attempt: int
    idempotency_key: str  # stable across automatic retries of one step: send it to targets that dedupe
    scope: Mapping[str, Any]  # input, steps, run: what templates read
    raw_config: Mapping[str, Any]  # the config as written (for fields a node renders itself)
    state: Mapping[str, Any] | None = None  # what the node saved when it started waiting
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    logs: list[str] = field(default_factory=list)
    # Renders a raw config value (see NodeSpec.raw_fields) with extra names in scope, e.g. foreach's item.
    render: Callable[[Any, Mapping[str, Any], Sequence[str]], Any] | None = None
    children: ChildRuns | None = None  # the step's child runs (the engine's), for flow nodes
    services: NodeServices | None = None  # credentials, outbound HTTP, storage: for nodes with effects
    # Every secret this step has seen: the engine removes each from the output, error, logs and events it records.
    secrets: set[str] = field(default_factory=set)
    events: list[tuple[EventKind, dict[str, Any]]] = field(default_factory=list)  # recorded with the step's outcome
    artifacts: list[str] = field(default_factory=list)  # ids of the artifacts the step wrote, for its envelope

    def log(self, line: str) -> None:
        if len(self.logs) < MAX_LOG_LINES:
            self.logs.append(line[:MAX_LOG_LINE])

    def event(self, kind: EventKind, **data: Any) -> None:
        """A step event of the node's own (e.g. ``step.tool_call``), committed with the step's next change."""
        if len(self.events) < MAX_LOG_LINES:
            self.events.append((kind, data))

    def need_services(self) -> NodeServices:
        if self.services is None:
            raise NodeError("Unsupported", f"{self.node_type} steps need the run engine's services")
        return self.services

    async def credential(self, name: str) -> ResolvedCredential:
        return await self.need_services().credential(self, name)


@dataclass(frozen=True, slots=True)
class ChildOutcome:
    """A finished child run: its item index, id, final status, and output or error."""

    index: int
    run_id: str
    status: str
    output: Any
    error: dict[str, Any] | None

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED"


@dataclass(frozen=True, slots=True)
class NodeResult:
    output: Any = None
    branches: tuple[str, ...] | None = None  # the branches taken; None for a plain node (every edge)
    wait_until: datetime | None = None  # park the step WAITING until then (holding no worker)
    wait: bool = False  # park the step WAITING with no deadline (someone resumes it)
    state: Mapping[str, Any] | None = None  # saved with a waiting step, handed back on resume


Handler = Callable[[NodeContext, dict[str, Any]], Awaitable[NodeResult]]


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """A node implementation: ``run`` starts it, ``resume`` finishes a WAITING step whose deadline passed."""

    type: str
    run: Handler
    resume: Handler | None = None
    pure: bool = False  # deterministic, no side effects: may run inline and commit with its neighbours
    raw_fields: frozenset[str] = frozenset()  # config fields the handler renders itself (not up front)
    # WAITING steps of this type are resumed whenever their run is loaded after a poke (a child finished),
    # not only when a deadline passes.
    resume_on_poke: bool = False
