"""Group commit: batches from every run a process drives share one transaction, then one publish round trip.

While a commit is in flight, new batches queue up and go together in the next one, so the number of
transactions per second stays near what the database can fsync while the steps per transaction grow
with load. A batch whose lease was lost (or whose run was signalled), or holding a value JSON cannot store,
fails alone and writes nothing, while the rest of the group commits; any other error retries the group one by
one, so a batch the database refuses (a data exception) fails only its own run's commit as well.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from studio_shared.db.jsondata import NotStorable
from studio_shared.events import EventBus
from studio_worker.engine.records import Batch, EventRecord, LeaseLost, Signalled, apply, bus_messages

log = logging.getLogger("studio.engine.commit")
MAX_GROUP = 128


@dataclass
class _Pending:
    batch: Batch
    done: asyncio.Future[list[EventRecord]] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class GroupCommitter:
    def __init__(self, db: AsyncEngine, bus: EventBus, owner: str) -> None:
        self.db, self.bus, self.owner = db, bus, owner
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.transactions = 0  # counters for benchmarks and tests
        self.batches = 0

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="studio-group-commit")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        while not self._queue.empty():
            self._queue.get_nowait().done.set_exception(RuntimeError("the engine is shutting down"))

    async def submit(self, batch: Batch) -> list[EventRecord]:
        """Commit ``batch`` (with others) and publish its events; raises LeaseLost or the database error."""
        if batch.empty:
            return []
        pending = _Pending(batch)
        await self._queue.put(pending)
        return await pending.done

    async def _loop(self) -> None:
        while True:
            group = [await self._queue.get()]
            while len(group) < MAX_GROUP and not self._queue.empty():
                group.append(self._queue.get_nowait())
            try:
                await self._commit(group)
            except Exception as exc:  # the group failed as a whole: isolate the culprit
                if len(group) == 1:
                    _settle(group[0], exc)
                    continue
                log.warning("group commit of %d batches failed (%s); retrying them one by one", len(group), exc)
                for one in group:
                    try:
                        await self._commit([one])
                    except Exception as single:
                        _settle(one, single)

    async def _commit(self, group: list[_Pending]) -> None:
        results: list[list[EventRecord] | Exception] = []
        async with self.db.begin() as conn:
            for pending in group:
                try:
                    results.append(await apply(conn, pending.batch, self.owner))
                except (LeaseLost, Signalled, NotStorable) as refused:  # nothing of this batch was written
                    results.append(refused)
        self.transactions += 1
        self.batches += len(group)
        published: list[tuple[str, dict[str, object]]] = []
        for pending, result in zip(group, results, strict=True):
            if isinstance(result, Exception):
                _settle(pending, result)
                continue
            published.extend(bus_messages(result))
            if not pending.done.done():
                pending.done.set_result(result)
        if published:
            try:
                await self.bus.publish_many(published)
            except Exception:  # the events are committed; subscribers catch up from the database
                log.warning("publishing %d events failed; subscribers will read them from the database", len(published))


def _settle(pending: _Pending, exc: BaseException) -> None:
    if not pending.done.done():
        pending.done.set_exception(exc)
