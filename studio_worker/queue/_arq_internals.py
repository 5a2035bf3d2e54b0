"""arq internals the worker and the queue rely on, fenced in one module (README: "Library internals we rely on").

1. **Claiming jobs.** arq's poll reads the due job ids, then checks and claims each with four round trips (WATCH,
   EXISTS, ZSCORE, MULTI/EXEC), one id after another; a job stays in arq's queue until it finishes, so every poll
   checks the running jobs again, oldest first. A new job waited behind a check of every job in progress, and a
   busy tenant's runs made every other tenant's runs start later. ``ClaimingWorker`` replaces arq's poll iteration
   (the private ``Worker._poll_iteration``, which ``Worker.main`` calls every ``poll_delay``) with ``poll``, whose
   ``claim_due`` reads the due jobs and claims them in one Lua script, in order, until the free slots are taken:
   ``SET NX`` of arq's in-progress key (what arq's MULTI sets) decides who runs a job, so a job running anywhere,
   here included, is passed over. A claimed job starts as arq's ``start_jobs`` starts one: the semaphore
   (``sem``), ``job_counter``, ``run_job`` in a task kept in ``tasks``, ``_release_sem_dec_counter_on_complete``
   when it ends. The rest of the iteration is arq's: aborted jobs (``_cancel_aborted_jobs``), finished tasks reaped
   (their errors raised), the heartbeat.
2. **Writing a job.** ``ArqRedis.enqueue_job`` guards a job id against reuse with WATCH and EXISTS: three round
   trips, and the workers' nudge is a fourth. A fresh random id is in use nowhere, so ``add_job`` writes the job
   exactly as ``enqueue_job`` stores it (``serialize_job``, ``job_key_prefix``, an expiry ``expires_extra_ms`` past
   its due time, the score in milliseconds in ``default_queue_name``) into the caller's transaction, which sends
   the nudge with it: one round trip.

Nothing else in the studio touches arq's internals; ``FENCE`` names them for ``tests/test_library_internals.py``.
"""

from __future__ import annotations

import inspect
import uuid
from datetime import datetime
from typing import Any

import arq.constants
import arq.jobs
import arq.utils
from arq import func
from arq.connections import ArqRedis, RedisSettings
from arq.constants import in_progress_key_prefix, job_key_prefix
from arq.jobs import serialize_job
from arq.utils import timestamp_ms, to_unix_ms
from arq.worker import Worker
from redis.asyncio.client import Pipeline
from redis.commands.core import AsyncScript

from studio_shared.internals import Fence, Relied

VERIFIED = {"arq": "0.28.0"}

# The due jobs (as arq reads them: score up to now, oldest first), claimed in order while there is room: a job is
# claimed by setting arq's in-progress key if nobody has (a job running anywhere has it). Returns id, score, ...
# KEYS[1]: the queue. ARGV: now (ms), read offset, read limit, free slots, in-progress timeout (ms), key prefix.
_CLAIM_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', ARGV[2], ARGV[3])
local claimed = {}
local room = tonumber(ARGV[4])
for i = 1, #due, 2 do
  if room == 0 then break end
  if redis.call('SET', ARGV[6] .. due[i], '1', 'NX', 'PX', ARGV[5]) then
    claimed[#claimed + 1] = due[i]
    claimed[#claimed + 1] = due[i + 1]
    room = room - 1
  end
end
return claimed
"""


class ClaimingWorker(Worker):
    """arq's worker whose poll claims the due jobs it has room for in one round trip (see the module's doc)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._claim_script: AsyncScript | None = None

    async def _poll_iteration(self) -> None:
        """What arq's ``main`` calls every ``poll_delay``: ``poll``, which subclasses extend."""
        await self.poll()

    async def poll(self) -> None:
        """arq's poll iteration with ``claim_due`` in place of its read of the queue and ``start_jobs`` (without
        arq's burst mode, which the studio does not use)."""
        if self.allow_pick_jobs:
            await self.claim_due()
        if self.allow_abort_jobs:
            await self._cancel_aborted_jobs()
        for job_id, task in list(self.tasks.items()):
            if task.done():
                del self.tasks[job_id]
                task.result()  # an error in run_job propagates, as in arq
        await self.heart_beat()

    async def claim_due(self) -> None:
        """Claim and start due jobs that nobody runs yet, as many as there are free slots: one round trip."""
        room = self.max_jobs - self.job_counter
        if room <= 0:
            return
        self._claim_script = self._claim_script or self.pool.register_script(_CLAIM_DUE)
        claimed = await self._claim_script(
            keys=[self.queue_name],
            args=[
                timestamp_ms(),
                self._queue_read_offset,
                self.queue_read_limit,
                room,
                int(self.in_progress_timeout_s * 1000),
                in_progress_key_prefix,
            ],
        )
        for raw_id, score in zip(claimed[::2], claimed[1::2], strict=True):
            job_id = raw_id.decode()
            await self.sem.acquire()  # never waits: the script claimed no more than the free slots
            self.job_counter += 1
            task = self.loop.create_task(self.run_job(job_id, int(float(score))))
            task.add_done_callback(lambda _: self._release_sem_dec_counter_on_complete())
            self.tasks[job_id] = task


def add_job(pipe: Pipeline, pool: ArqRedis, function: str, args: tuple[Any, ...], defer_until: datetime | None) -> None:
    """Queue ``function(*args)`` under a fresh id in ``pipe``, stored exactly as ``ArqRedis.enqueue_job`` stores a
    job (same key, expiry, score and body); due at ``defer_until``, or now."""
    job_id = uuid.uuid4().hex
    now = timestamp_ms()
    score = to_unix_ms(defer_until) if defer_until is not None else now
    job = serialize_job(function, args, {}, None, now, serializer=pool.job_serializer)
    pipe.psetex(job_key_prefix + job_id, score - now + pool.expires_extra_ms, job)
    pipe.zadd(pool.default_queue_name, {job_id: score})


async def _noop(ctx: dict[str, Any]) -> None:
    """A job function for the fence's check."""


def _worker() -> Worker:
    """A worker as the studio builds one, never started (call from a running event loop: arq takes the loop)."""
    return Worker(functions=[func(_noop, name="noop")], redis_settings=RedisSettings(), handle_signals=False)


def _main_calls_the_poll_iteration() -> str | None:
    if "self._poll_iteration()" not in inspect.getsource(Worker.main):
        return "arq's Worker.main no longer calls self._poll_iteration(), so ClaimingWorker.poll would never run"
    return None


def _enqueue_job_stores_what_add_job_does() -> str | None:
    """``enqueue_job``'s body still writes the job with these calls (add_job copies them)."""
    source = inspect.getsource(ArqRedis.enqueue_job)
    for line in (
        "job_key = job_key_prefix + job_id",
        "expires_ms = expires_ms or score - enqueue_time_ms + self.expires_extra_ms",
        "job = serialize_job(function, args, kwargs, _job_try, enqueue_time_ms, serializer=self.job_serializer)",
        "pipe.psetex(job_key, expires_ms, job)",
        "pipe.zadd(_queue_name, {job_id: score})",
    ):
        if line not in source:
            return f"ArqRedis.enqueue_job no longer stores a job with {line!r}, which add_job copies"
    return None


FENCE = Fence(
    module="studio_worker/queue/_arq_internals.py",
    verified=VERIFIED,
    relied=(
        Relied(
            "arq.worker.Worker (an instance)",
            (
                "_poll_iteration",
                "_queue_read_offset",
                "_cancel_aborted_jobs",
                "_release_sem_dec_counter_on_complete",
                "sem",
                "job_counter",
                "max_jobs",
                "tasks",
                "loop",
                "pool",
                "queue_name",
                "queue_read_limit",
                "in_progress_timeout_s",
                "allow_pick_jobs",
                "allow_abort_jobs",
                "run_job(job_id, score)",
                "heart_beat",
                "ctx",
                "handle_sig_wait_for_completion(signum)",
            ),
            _worker,
        ),
        Relied("arq.constants", ("in_progress_key_prefix", "job_key_prefix"), lambda: arq.constants),
        Relied(
            "arq.jobs",
            ("serialize_job(function_name, args, kwargs, job_try, enqueue_time_ms, serializer)",),
            lambda: arq.jobs,
        ),
        Relied("arq.utils", ("timestamp_ms", "to_unix_ms"), lambda: arq.utils),
        Relied(
            "arq.connections.ArqRedis (an instance)",
            ("job_serializer", "expires_extra_ms", "default_queue_name"),
            lambda: ArqRedis(),
        ),
    ),
    probes=(_main_calls_the_poll_iteration, _enqueue_job_stores_what_add_job_does),
)
