"""Heartbeats of the processes that serve no HTTP (``studio worker``, ``studio scheduler``), and the check that reads
them (``studio worker --check``, ``studio scheduler --check``: a container's healthcheck).

Every ``heartbeat_interval_s`` a process pings its database and writes what it found to the Redis key
``studio:heartbeat:<kind>:<host>:<pid>`` (expiring after ``STALE_BEATS`` intervals): when it wrote, whether the
database answered, and how long ago its own loop last made progress (a worker's poll of the queue, a scheduler's pass
over the schedules). The writer runs on the process's event loop, so a blocked loop stops the beats too.

The check runs beside the process (in its container) and passes when a process of that kind on this host, still
alive, wrote a beat within ``STALE_BEATS`` intervals that says the database answered and the loop is moving.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import math
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger("studio.heartbeat")
STALE_BEATS = 3  # a beat older than this many intervals is stale; the key expires then too
DB_PING_TIMEOUT_S = 5.0
FIRST_BEAT_POLL_S = 0.05
KINDS = ("worker", "scheduler")


def key(kind: str, host: str, pid: int) -> str:
    """The heartbeat of one process; expires ``STALE_BEATS`` intervals after its last write."""
    return f"studio:heartbeat:{kind}:{host}:{pid}"


def this_host() -> str:
    return socket.gethostname()[:64]


@dataclass(frozen=True, slots=True)
class Beat:
    """One heartbeat as stored (JSON)."""

    kind: str
    host: str
    pid: int
    at: float  # wall-clock seconds of the write
    interval_s: float
    db_ok: bool
    db_error: str | None
    progress_age_s: float | None  # since the process's loop last moved; None: not yet
    progress_limit_s: float  # an age past this means the loop is stuck

    def dump(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def load(cls, raw: bytes | str) -> Beat:
        data = json.loads(raw)
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls)})

    def problem(self, now: float) -> str | None:
        """Why this beat does not show a working process (None: it does)."""
        age = now - self.at
        if age > STALE_BEATS * self.interval_s:
            return f"its last heartbeat is {age:.0f} s old (stale after {STALE_BEATS * self.interval_s:.0f} s)"
        if not self.db_ok:
            return f"it cannot reach its database: {self.db_error}"
        if self.progress_age_s is None:
            return "it has not started its loop yet"
        if self.progress_age_s > self.progress_limit_s:
            return f"its loop last moved {self.progress_age_s:.0f} s ago (stuck after {self.progress_limit_s:.0f} s)"
        return None


class Heartbeat:
    """Writes this process's beat every ``interval_s`` until closed. ``progress`` returns the ``time.monotonic()`` of
    the loop's last progress (None before the first), read at each beat."""

    def __init__(
        self,
        redis_url: str,
        kind: str,
        db: AsyncEngine,
        progress: Callable[[], float | None],
        *,
        interval_s: float,
        progress_limit_s: float,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"heartbeat kind {kind!r} is not one of {KINDS}")
        self.kind, self.db, self.progress = kind, db, progress
        self.interval_s, self.progress_limit_s = interval_s, progress_limit_s
        self.host, self.pid = this_host(), os.getpid()
        self.key = key(kind, self.host, self.pid)
        self._redis: Redis = Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5)
        self._task: asyncio.Task[None] | None = None

    async def beat(self) -> Beat:
        """Ping the database, then write what was found."""
        db_error: str | None = None
        try:
            async with asyncio.timeout(DB_PING_TIMEOUT_S), self.db.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:  # any failure is the answer; its type, not its text, which may hold a URL
            db_error = type(exc).__name__
        moved = self.progress()
        beat = Beat(
            kind=self.kind,
            host=self.host,
            pid=self.pid,
            at=time.time(),
            interval_s=self.interval_s,
            db_ok=db_error is None,
            db_error=db_error,
            progress_age_s=None if moved is None else round(time.monotonic() - moved, 3),
            progress_limit_s=self.progress_limit_s,
        )
        await self._redis.set(self.key, beat.dump(), px=int(STALE_BEATS * self.interval_s * 1000))
        return beat

    async def _run(self) -> None:
        # The first beat waits (up to an interval) for the loop's first move, so a healthy start reads as one.
        for _ in range(math.ceil(self.interval_s / FIRST_BEAT_POLL_S)):
            if self.progress() is not None:
                break
            await asyncio.sleep(FIRST_BEAT_POLL_S)
        while True:
            try:
                await self.beat()
            except (RedisError, OSError) as exc:
                log.warning("heartbeat not written (%s); trying again in %.0f s", type(exc).__name__, self.interval_s)
            await asyncio.sleep(self.interval_s)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"studio-heartbeat-{self.kind}")

    async def close(self) -> None:
        """Stop beating and remove the key: a process that stopped on purpose is gone, not stale."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(RedisError, OSError):
            await self._redis.delete(self.key)
        await self._redis.aclose()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


async def check(redis_url: str, kind: str, host: str | None = None) -> tuple[bool, list[str]]:
    """Whether a ``kind`` process on ``host`` (default: this one) is alive and working, and a line per process
    found saying why or why not."""
    host = host or this_host()
    local = host == this_host()
    redis: Redis = Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5)
    try:
        names = [name async for name in redis.scan_iter(match=f"studio:heartbeat:{kind}:{host}:*")]
        values = await redis.mget(names) if names else []
    except (RedisError, OSError) as exc:
        return False, [f"unhealthy: cannot read heartbeats from Redis ({type(exc).__name__})"]
    finally:
        await redis.aclose()
    now, lines, healthy = time.time(), [], False
    for raw in values:
        if raw is None:  # expired between the scan and the read
            continue
        beat = Beat.load(raw)
        problem = beat.problem(now)
        if problem is None and local and not _alive(beat.pid):
            problem = "its process is gone"
        healthy = healthy or problem is None
        lines.append(f"{kind} {beat.host}:{beat.pid}: " + (problem or f"ok, heartbeat {now - beat.at:.1f} s old"))
    if not lines:
        lines.append(
            f"unhealthy: no {kind} on host {host!r} has a heartbeat "
            f"(none is running, or none wrote one within {STALE_BEATS} intervals)"
        )
    return healthy, sorted(lines)
