"""The job queues: deliveries, deferral, and the sweep's deduplicated re-dispatches (one pending per run)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis
from arq import create_pool, func
from arq.connections import ArqRedis, RedisSettings
from redis.asyncio.connection import Connection as RedisConnection
from redis.exceptions import RedisError

from studio_shared.db.types import utcnow
from studio_worker import jobs
from studio_worker.queue import ADVANCE_JOB
from studio_worker.queue.arq import ArqQueue
from studio_worker.queue.inprocess import InProcessQueue
from tests.conftest import missing_service, services_pass_only

REDIS_URL = "redis://127.0.0.1:6379/14"  # a database of its own: the test empties it


class Recorder:
    def __init__(self) -> None:
        self.calls: list[uuid.UUID] = []
        self.release = asyncio.Event()

    async def __call__(self, tenant_id: uuid.UUID, run_id: uuid.UUID) -> None:
        self.calls.append(run_id)
        await self.release.wait()


@pytest.fixture
async def inprocess() -> AsyncIterator[tuple[InProcessQueue, Recorder]]:
    recorder = Recorder()
    queue = InProcessQueue(concurrency=1)
    queue.bind(recorder)
    await queue.start()
    yield queue, recorder
    recorder.release.set()
    await queue.close()


async def test_inprocess_dedupes_only_what_asks_for_it(inprocess: tuple[InProcessQueue, Recorder]) -> None:
    queue, recorder = inprocess
    tenant, busy, run = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await queue.enqueue_advance(tenant, busy)  # occupies the only worker until released
    await asyncio.sleep(0.01)
    for _ in range(5):
        await queue.enqueue_advance(tenant, run, dedupe=True)
    await queue.enqueue_advance(tenant, run)  # an ordinary nudge is never dropped
    recorder.release.set()
    await asyncio.sleep(0.05)
    assert recorder.calls == [busy, run, run]
    await queue.enqueue_advance(tenant, run, dedupe=True)  # delivered: the next sweep job is welcome again
    await asyncio.sleep(0.05)
    assert recorder.calls == [busy, run, run, run]


async def test_inprocess_defers_until_the_given_time(inprocess: tuple[InProcessQueue, Recorder]) -> None:
    queue, recorder = inprocess
    recorder.release.set()
    run = uuid.uuid4()
    await queue.enqueue_advance(uuid.uuid4(), run, defer_until=utcnow() + timedelta(seconds=0.2))
    await asyncio.sleep(0.05)
    assert recorder.calls == []
    await asyncio.sleep(0.3)
    assert recorder.calls == [run]


async def test_inprocess_takes_tenants_in_turn_so_a_backlog_delays_another_tenant_by_one_job(
    inprocess: tuple[InProcessQueue, Recorder],
) -> None:
    """One tenant's 10,000 queued jobs (a fan-out's children, say) do not put another tenant's job behind them: the
    workers take one job of each tenant with jobs waiting, in turn (a single FIFO ran all 10,000 first)."""
    queue, recorder = inprocess
    flooding, quiet, third = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    busy = uuid.uuid4()
    await queue.enqueue_advance(flooding, busy)  # occupies the only worker until released
    await asyncio.sleep(0.01)
    backlog = [uuid.uuid4() for _ in range(10_000)]
    for run in backlog:
        await queue.enqueue_advance(flooding, run)
    quiet_runs = [uuid.uuid4(), uuid.uuid4()]
    for run in quiet_runs:
        await queue.enqueue_advance(quiet, run)
    late = uuid.uuid4()
    await queue.enqueue_advance(third, late)
    assert len(queue) == 10_003
    recorder.release.set()
    for _ in range(200):
        if len(recorder.calls) >= 7:
            break
        await asyncio.sleep(0.01)
    # The backlog's tenant, then each other tenant's oldest job, in the order they first queued, and round again.
    assert recorder.calls[:7] == [busy, backlog[0], quiet_runs[0], late, backlog[1], quiet_runs[1], backlog[2]]
    for _ in range(500):
        if len(recorder.calls) == 10_004:
            break
        await asyncio.sleep(0.01)
    queued = set(backlog)  # once: a set per call made this assertion the slowest test of the suite (50 s)
    assert [r for r in recorder.calls if r in queued] == backlog, "each tenant's jobs keep their order"
    assert len(queue) == 0


async def test_inprocess_stops_taking_jobs_on_shutdown_and_closes_with_a_backlog(
    inprocess: tuple[InProcessQueue, Recorder],
) -> None:
    """Shutting down with thousands of jobs queued: the job in hand finishes, no other starts, close returns."""
    queue, recorder = inprocess
    tenant = uuid.uuid4()
    for _ in range(5_000):
        await queue.enqueue_advance(tenant, uuid.uuid4())
    await asyncio.sleep(0.01)
    assert len(recorder.calls) == 1, "the only worker holds the first job"
    queue.stop_taking()
    recorder.release.set()
    await asyncio.sleep(0.05)
    assert len(recorder.calls) == 1, "no job started after stop_taking"
    await asyncio.wait_for(queue.close(), 1)


@pytest.fixture
async def redis_admin() -> AsyncIterator[aioredis.Redis]:
    services_pass_only()
    client: aioredis.Redis = aioredis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        await client.flushdb()
    except (RedisError, OSError):
        await client.aclose()
        missing_service("Redis", "start redis-server on 127.0.0.1:6379")
    yield client
    await client.flushdb()
    await client.aclose()


async def test_arq_sweep_jobs_never_pile_up(redis_admin: aioredis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    from studio_worker.queue import arq as arq_queue

    monkeypatch.setattr(arq_queue, "_clock", lambda: 1000.0)  # all within one dedupe window
    queue = ArqQueue(REDIS_URL)
    await queue.start()
    try:
        tenant, swept, nudged = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        for _ in range(10):  # ten sweeps while no worker takes the job
            await queue.enqueue_advance(tenant, swept, dedupe=True)
        for _ in range(3):
            await queue.enqueue_advance(tenant, nudged)
        assert await redis_admin.zcard("arq:queue") == 1 + 3, "one sweep job, every ordinary nudge"
    finally:
        await queue.close()


async def test_a_sweep_job_stranded_by_a_killed_worker_does_not_block_the_next_sweep(
    redis_admin: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker killed while running a run's sweep job leaves it "in progress" in arq until the job timeout
    (days): the next window's sweep must still dispatch the run (found by the reliability kill -9 scenario)."""
    from studio_worker.queue import arq as arq_queue

    clock = [1000.0]
    monkeypatch.setattr(arq_queue, "_clock", lambda: clock[0])
    queue = ArqQueue(REDIS_URL)
    await queue.start()
    try:
        tenant, run = uuid.uuid4(), uuid.uuid4()
        await queue.enqueue_advance(tenant, run, dedupe=True)
        [stranded] = await redis_admin.zrange("arq:queue", 0, -1)
        await redis_admin.set(f"arq:in-progress:{stranded.decode()}", b"1")  # a dead worker had taken it
        await queue.enqueue_advance(tenant, run, dedupe=True)
        assert await redis_admin.zcard("arq:queue") == 1, "same window: still one sweep job"
        clock[0] += arq_queue.SWEEP_DEDUPE_WINDOW_S
        await queue.enqueue_advance(tenant, run, dedupe=True)
        assert await redis_admin.zcard("arq:queue") == 2, "the next window dispatches the run again"
    finally:
        await queue.close()


async def test_arq_opens_one_pool_when_the_first_enqueues_arrive_together(
    redis_admin: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    from studio_worker.queue import arq as arq_queue

    opened: list[object] = []
    real = arq_queue.create_pool

    async def counting(*args: object, **kwargs: object) -> object:
        pool = await real(*args, **kwargs)  # type: ignore[arg-type]
        opened.append(pool)
        return pool

    monkeypatch.setattr(arq_queue, "create_pool", counting)
    queue = ArqQueue(REDIS_URL)
    await queue.start()
    try:
        await asyncio.gather(*(queue.enqueue_advance(uuid.uuid4(), uuid.uuid4()) for _ in range(16)))
        assert len(opened) == 1, "one pool, not one per first enqueue (the others would leak)"
        assert await redis_admin.zcard("arq:queue") == 16
    finally:
        await queue.close()


class _Writes:
    """From now on, counts the writes to Redis: one per round trip (a pipeline or a script is one write)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        self.sent: list[bytes] = []  # each write as sent on the wire
        real = RedisConnection.send_packed_command

        async def counting(conn: RedisConnection, *args: Any, **kwargs: Any) -> None:
            self.count += 1
            packed = args[0] if args else kwargs.get("command", b"")
            self.sent.append(b"".join(packed) if isinstance(packed, list | tuple) else bytes(packed))
            await real(conn, *args, **kwargs)

        monkeypatch.setattr(RedisConnection, "send_packed_command", counting)


async def _arq_worker(ran: list[str]) -> tuple[jobs.WakingWorker, ArqRedis]:
    async def record(ctx: dict[str, Any], tenant_id: str, run_id: str) -> None:
        ran.append(run_id)

    pool = await create_pool(RedisSettings.from_dsn(REDIS_URL))
    worker = jobs.WakingWorker(
        functions=[func(record, name=ADVANCE_JOB)],  # type: ignore[arg-type]
        redis_pool=pool,
        keep_result=0,
        idle_poll_s=0.01,
        handle_signals=False,
    )
    return worker, pool


async def test_a_new_job_does_not_wait_behind_a_check_of_every_job_in_progress(
    redis_admin: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Running jobs stay in arq's queue, oldest first; arq checks each with three round trips, one after another,
    so a tenant's many runs in progress delayed every other run's start. One script now reads and claims."""
    ran: list[str] = []
    worker, pool = await _arq_worker(ran)
    try:
        await worker.claim_due()  # the first poll loads the script into Redis: count the ones after it
        for n in range(40):  # runs in progress in other workers
            await pool.enqueue_job(ADVANCE_JOB, "t", f"busy-{n}", _job_id=f"busy-{n}")
            await redis_admin.set(f"arq:in-progress:busy-{n}", b"1")
        await pool.enqueue_job(ADVANCE_JOB, "t", "fresh", _job_id="fresh")
        writes = _Writes(monkeypatch)
        await worker.claim_due()
        started = writes.count
        await asyncio.gather(*worker.tasks.values())
        assert ran == ["fresh"], "the new job ran; the ones running elsewhere did not"
        assert started == 1, f"{started} writes to Redis to find and claim the one free job of 41 (arq alone: 165)"
    finally:
        await pool.aclose()


async def test_an_enqueue_is_one_round_trip_that_a_worker_runs_and_a_deferred_one_waits(
    redis_admin: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run's job and the nudge that wakes idle workers go in one round trip (arq's enqueue_job takes three,
    and the nudge a fourth); the job is arq's own, run by an arq worker with its arguments."""
    queue = ArqQueue(REDIS_URL)
    await queue.start()
    ran: list[str] = []
    worker, pool = await _arq_worker(ran)
    nudges = redis_admin.pubsub()
    await nudges.subscribe("studio:wake")
    try:
        tenant, now_run, later_run = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        await queue.enqueue_advance(tenant, uuid.uuid4())  # the pool is open: count the next ones alone
        await redis_admin.delete("arq:queue")
        writes = _Writes(monkeypatch)
        await queue.enqueue_advance(tenant, now_run)
        assert writes.count == 1, f"{writes.count} writes to enqueue one job and nudge the workers"
        await queue.enqueue_advance(tenant, later_run, defer_until=utcnow() + timedelta(minutes=5))
        monkeypatch.undo()
        due, deferred = writes.sent
        # A nudge per due job only, in the job's own round trip, read from the wire: the channel is shared by every
        # studio process on this Redis, so counting what arrives on it would count theirs too.
        assert b"PUBLISH" in due and b"studio:wake" in due, "the due job's write carries the nudge"
        assert b"PUBLISH" not in deferred, "a deferred job nudges no one"
        await nudges.get_message(timeout=1)  # the subscription's confirmation
        got = [await nudges.get_message(timeout=1) for _ in range(2)]
        assert [m["data"] for m in got if m is not None] == [b'{"wake":true}'] * 2, "the nudges arrive"
        await worker.claim_due()
        await asyncio.gather(*worker.tasks.values())
        assert ran == [str(now_run)], "the due job ran with its arguments; the deferred one waits"
        [(_, score)] = await redis_admin.zrange("arq:queue", 0, -1, withscores=True)
        assert score > utcnow().timestamp() * 1000 + 4 * 60_000, "due in five minutes"
        ttl = await redis_admin.pttl(f"arq:job:{(await redis_admin.zrange('arq:queue', 0, -1))[0].decode()}")
        assert ttl > 24 * 3600 * 1000, "kept a day past its due time, as arq keeps a job"
    finally:
        await nudges.aclose()
        await pool.aclose()
        await queue.close()


async def test_two_workers_polling_the_same_jobs_run_each_once_within_their_slots(redis_admin: aioredis.Redis) -> None:
    ran: list[str] = []
    (one, pool), (two, other_pool) = await _arq_worker(ran), await _arq_worker(ran)
    try:
        for n in range(30):
            await pool.enqueue_job(ADVANCE_JOB, "t", f"run-{n}", _job_id=f"run-{n}")
        await asyncio.gather(one.claim_due(), two.claim_due())
        assert len(one.tasks) == len(two.tasks) == one.max_jobs == 10, "each took as many as it has slots"
        await asyncio.gather(*one.tasks.values(), *two.tasks.values())
        assert len(ran) == len(set(ran)) == 20
        assert await redis_admin.zcard("arq:queue") == 10, "the rest wait in the queue for the next poll"
        await asyncio.gather(one.claim_due(), two.claim_due())
        await asyncio.gather(*one.tasks.values(), *two.tasks.values())
        assert sorted(ran) == sorted(f"run-{n}" for n in range(30)), "every job ran, none twice"
    finally:
        await pool.aclose()
        await other_pool.aclose()


async def test_a_poll_passes_over_jobs_not_due_or_running_and_claims_nothing_it_does_not_start(
    redis_admin: aioredis.Redis,
) -> None:
    ran: list[str] = []
    worker, pool = await _arq_worker(ran)
    try:
        await pool.enqueue_job(ADVANCE_JOB, "t", "later", _job_id="later", _defer_by=timedelta(minutes=5))
        await pool.enqueue_job(ADVANCE_JOB, "t", "elsewhere", _job_id="elsewhere")
        await redis_admin.set("arq:in-progress:elsewhere", b"1")  # another worker runs it
        await worker.claim_due()
        assert not worker.tasks and not ran
        assert await redis_admin.keys("arq:in-progress:*") == [b"arq:in-progress:elsewhere"], "nothing claimed"
        worker.job_counter = worker.max_jobs  # every slot taken
        await pool.enqueue_job(ADVANCE_JOB, "t", "now", _job_id="now")
        await worker.claim_due()
        assert not worker.tasks and await redis_admin.exists("arq:in-progress:now") == 0, "no room: left queued"
        worker.job_counter = 0
        await worker.claim_due()
        await asyncio.gather(*worker.tasks.values())
        assert ran == ["now"]
    finally:
        await pool.aclose()
