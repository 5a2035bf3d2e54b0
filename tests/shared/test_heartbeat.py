"""Heartbeats of workers and schedulers and the `--check` that reads them: a process is healthy only while its beats
are fresh, its database answers and its loop moves. (tests/test_compose.py runs the real check against real
processes, including one that was killed.)"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import create_async_engine

from studio_shared.heartbeat import STALE_BEATS, Beat, Heartbeat, check
from tests.conftest import REDIS_URL, missing_service, services_pass_only

INTERVAL_S = 5.0


def beat(**changes: object) -> Beat:
    fields: dict[str, object] = {
        "kind": "worker",
        "host": "h",
        "pid": 1,
        "at": time.time(),
        "interval_s": INTERVAL_S,
        "db_ok": True,
        "db_error": None,
        "progress_age_s": 0.4,
        "progress_limit_s": 15.0,
    }
    return Beat(**{**fields, **changes})  # type: ignore[arg-type]


def test_a_fresh_beat_of_a_moving_loop_with_its_database_is_healthy() -> None:
    found = beat()
    assert found.problem(time.time()) is None
    assert Beat.load(found.dump()) == found, "stored as JSON and read back whole"


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"at": time.time() - STALE_BEATS * INTERVAL_S - 1}, "stale after 15 s"),
        ({"db_ok": False, "db_error": "OperationalError"}, "cannot reach its database: OperationalError"),
        ({"progress_age_s": None}, "has not started its loop"),
        ({"progress_age_s": 16.0}, "stuck after 15 s"),
    ],
)
def test_a_beat_that_does_not_show_a_working_process_says_why(changes: dict[str, object], says: str) -> None:
    problem = beat(**changes).problem(time.time())
    assert problem is not None and says in problem


@pytest.fixture
async def redis_url() -> str:
    services_pass_only()
    probe = aioredis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        await probe.ping()
    except (RedisError, OSError):
        missing_service("Redis", "start redis-server on 127.0.0.1:6379")
    finally:
        await probe.aclose()
    return REDIS_URL


def writer(url: str, host: str, db_url: str, progress: Callable[[], float | None], pid: int = 1) -> Heartbeat:
    """A heartbeat as worker ``pid`` on ``host`` writes it (a host of the test's own: the session's workers beat
    too; another host's processes are not looked up by pid)."""
    heartbeat = Heartbeat(
        url, "worker", create_async_engine(db_url), progress, interval_s=INTERVAL_S, progress_limit_s=15.0
    )
    heartbeat.host, heartbeat.pid = host, pid
    heartbeat.key = f"studio:heartbeat:worker:{host}:{pid}"
    return heartbeat


async def test_check_passes_on_a_working_process_and_fails_once_it_is_stuck_or_cut_off(
    redis_url: str, tmp_path: Path
) -> None:
    host = f"test-{secrets.token_hex(4)}"
    now = time.monotonic()
    working = writer(redis_url, host, f"sqlite+aiosqlite:///{tmp_path / 'ok.db'}", lambda: now)
    try:
        assert (await working.beat()).db_ok
        healthy, lines = await check(redis_url, "worker", host)
        assert healthy, lines
        assert not (await check(redis_url, "scheduler", host))[0], "each kind reads its own beats"

        stuck = writer(redis_url, host, f"sqlite+aiosqlite:///{tmp_path / 'ok.db'}", lambda: now - 60, pid=2)
        await stuck.beat()
        healthy, lines = await check(redis_url, "worker", host)
        assert healthy, "one working process of the host is enough"
        assert any("stuck after 15 s" in line for line in lines), lines
    finally:
        await working.close()
        await working.db.dispose()
    healthy, lines = await check(redis_url, "worker", host)
    assert not healthy and any("stuck" in line for line in lines), lines
    await stuck.close()
    await stuck.db.dispose()

    cut_off = writer(redis_url, host, f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'x.db'}", lambda: now)
    try:
        assert not (await cut_off.beat()).db_ok
        healthy, lines = await check(redis_url, "worker", host)
        assert not healthy and "cannot reach its database" in lines[0], lines
        assert str(tmp_path) not in lines[0], "the error's type, never its text (a URL may hold a password)"
    finally:
        await cut_off.close()
        await cut_off.db.dispose()
    healthy, lines = await check(redis_url, "worker", host)
    assert not healthy and len(lines) == 1 and lines[0].startswith(f"unhealthy: no worker on host {host!r}"), lines
