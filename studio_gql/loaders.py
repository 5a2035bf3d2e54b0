"""Per-request DataLoaders: related objects cost one statement per batch, never one per parent."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from studio_shared.db import models
from studio_shared.store import Page, artifacts, human_tasks, runs, schedules, tenants, usage, webhooks, workflows
from studio_shared.types import RunStatus

if TYPE_CHECKING:
    from studio_gql.context import Context

V = TypeVar("V")


class Loaders:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self.latest_version: DataLoader[uuid.UUID, models.WorkflowVersion | None] = self._by_id(
            lambda s, tenant, ids: workflows.latest_versions(s, tenant, ids)
        )
        self.workflow: DataLoader[uuid.UUID, models.Workflow | None] = self._by_id(
            lambda s, tenant, ids: _index(workflows.by_ids(s, tenant, ids))
        )
        self.user: DataLoader[uuid.UUID, models.User | None] = self._by_id(
            lambda s, tenant, ids: _index(tenants.users_by_ids(s, tenant, ids))
        )
        self.run: DataLoader[uuid.UUID, models.Run | None] = self._by_id(runs.by_ids)
        self.run_documents: DataLoader[uuid.UUID, Any] = self._by_id(runs.documents_of)
        self.version: DataLoader[uuid.UUID, models.WorkflowVersion | None] = self._by_id(runs.versions_by_ids)
        steps = self._by_id(runs.steps_of)
        self.steps: DataLoader[uuid.UUID, list[models.Step]] = steps  # type: ignore[assignment]
        run_artifacts = self._by_id(artifacts.of_runs)
        self.artifacts: DataLoader[uuid.UUID, list[models.Artifact]] = run_artifacts  # type: ignore[assignment]
        run_tasks = self._by_id(human_tasks.of_runs)
        self.human_tasks: DataLoader[uuid.UUID, list[models.HumanTask]] = run_tasks  # type: ignore[assignment]
        task_decisions = self._by_id(human_tasks.decisions_of)
        self.decisions: DataLoader[uuid.UUID, list[models.HumanTaskDecision]] = task_decisions  # type: ignore[assignment]
        workflow_hooks = self._by_id(webhooks.of_workflows)
        self.webhooks: DataLoader[uuid.UUID, list[models.Webhook]] = workflow_hooks  # type: ignore[assignment]
        workflow_schedules = self._by_id(schedules.of_workflows)
        self.schedules: DataLoader[uuid.UUID, list[models.Schedule]] = workflow_schedules  # type: ignore[assignment]
        self.last_fire: DataLoader[uuid.UUID, models.ScheduleFire | None] = self._by_id(schedules.last_fires)
        run_usage = self._by_id(usage.of_runs)
        self.usage: DataLoader[uuid.UUID, usage.Usage] = run_usage  # type: ignore[assignment]
        # Keyed by (run, arguments): the runs of one page asking the same page of events or children share a
        # statement, so a page of N runs costs one query per field, never N.
        self.events: DataLoader[tuple[uuid.UUID, int, int], list[models.RunEvent]] = self._grouped(
            lambda s, tenant, ids, args: runs.events_of(s, tenant, ids, *args)
        )
        self.children: DataLoader[
            tuple[uuid.UUID, str | None, int | None, str | None, tuple[RunStatus, ...]], Page[models.Run]
        ] = self._grouped(lambda s, tenant, ids, args: runs.children_of(s, tenant, ids, *args))
        self.child_counts: DataLoader[tuple[uuid.UUID, str | None], dict[RunStatus, int]] = self._grouped(
            lambda s, tenant, ids, args: runs.child_counts(s, tenant, ids, *args)
        )

    def _by_id(
        self, fetch: Callable[[AsyncSession, uuid.UUID, list[uuid.UUID]], Awaitable[dict[uuid.UUID, V]]]
    ) -> DataLoader[uuid.UUID, V | None]:
        async def load(keys: Sequence[uuid.UUID]) -> list[V | None]:
            tenant_id = self._ctx.tenant_id
            async with self._ctx.state.reads() as s:
                found = await fetch(s, tenant_id, list(keys))
            return [found.get(key) for key in keys]

        return DataLoader(load_fn=load)

    def _grouped(
        self,
        fetch: Callable[[AsyncSession, uuid.UUID, list[uuid.UUID], Any], Awaitable[dict[uuid.UUID, V]]],
    ) -> DataLoader[Any, V]:
        """A loader keyed by ``(id, *arguments)``: one statement per distinct arguments in a batch."""

        async def load(keys: Sequence[tuple[Any, ...]]) -> list[V]:
            groups: dict[tuple[Any, ...], list[uuid.UUID]] = {}
            for key in keys:
                groups.setdefault(key[1:], []).append(key[0])
            found: dict[tuple[Any, ...], V] = {}
            async with self._ctx.state.reads() as s:
                for args, ids in groups.items():
                    batch = await fetch(s, self._ctx.tenant_id, list(dict.fromkeys(ids)), args)
                    found.update({(id, *args): value for id, value in batch.items()})
            return [found[key] for key in keys]

        return DataLoader(load_fn=load)


async def _index(rows: Awaitable[Sequence[models.Workflow]] | Awaitable[Sequence[models.User]]) -> dict:  # type: ignore[type-arg]
    return {row.id: row for row in await rows}
