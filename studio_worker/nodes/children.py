"""What a node may ask of its step's child runs (foreach, subworkflow, loop, an agent's workflow tools).

The run engine implements ``ChildRuns`` (``studio_worker.engine.children.Children``) and hands it to the handler
as ``NodeContext.children``; handlers know only this protocol, so the nodes never import the engine, which
imports them (tests/test_layers.py holds it).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from studio_shared.definition import Definition
    from studio_worker.nodes.base import ChildOutcome


@dataclass(frozen=True, slots=True)
class Target:
    """The published version children run: resolved once, when the step starts."""

    workflow_id: uuid.UUID
    version_id: uuid.UUID
    version: int

    def state(self) -> dict[str, Any]:
        return {"workflow_id": str(self.workflow_id), "version_id": str(self.version_id), "version": self.version}

    @classmethod
    def from_state(cls, state: Any) -> Target:
        return cls(uuid.UUID(state["workflow_id"]), uuid.UUID(state["version_id"]), int(state["version"]))


class ChildRuns(Protocol):
    """The child runs of one step of one run; a child's identity is its ``index`` within the step."""

    @property
    def generation(self) -> int:
        """0 on the step's first run; each retryRun that resumes the step starts a new generation of children."""
        ...

    @property
    def max_foreach_items(self) -> int:
        """The most children one step may have (the deployment's limit)."""
        ...

    async def resolve(self, workflow: Any, version: Any) -> Target:
        """The workflow (by id) and version (a number, or null for the latest published) in this tenant; a
        ``NodeError`` when there is none, it is archived, or one more level would nest runs too deep."""
        ...

    async def definition(self, target: Target) -> Definition:
        """The parsed definition of the target version."""
        ...

    async def spawn(self, target: Target, inputs: Sequence[tuple[int, Any]]) -> None:
        """Start one child per ``(index, input)``; idempotent per index (a repeat spawns nothing)."""
        ...

    async def exists(self, target: Target, index: int) -> bool:
        """Whether this generation has a child at ``index``."""
        ...

    async def spawned(self) -> int:
        """How many children this generation has (indexes 0..n-1 are spawned in order)."""
        ...

    async def outcomes(self, indexes: Sequence[int]) -> dict[int, ChildOutcome]:
        """The finished children among ``indexes``, by index (unfinished ones are absent)."""
        ...

    async def all_outcomes(self) -> list[ChildOutcome]:
        """One outcome per item index, in order, over every generation of the step: a child that succeeded wins,
        else the newest one."""
        ...

    async def succeeded_indexes(self) -> set[int]:
        """The items a child of any generation already did (a resumed foreach keeps their outputs)."""
        ...

    async def cancel_active(self) -> None:
        """Ask the step's active children (of every generation) to cancel."""
        ...
