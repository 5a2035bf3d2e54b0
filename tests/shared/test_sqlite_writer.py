"""SQLite in one process: transactions queue for the single write lock, and nothing can leave it held."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from studio_shared.db import create_engine, read_only
from studio_shared.settings import Env, Settings
from tests.timing import HANG_S

SLOW = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) SELECT count(*) FROM c"  # ~0.4 s here


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    settings = Settings(
        env=Env.TEST,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'w.db'}",
        jwt_secret="j" * 40,
        secret_key="k" * 40,
        state_dir=tmp_path,
    )
    engine = create_engine(settings)
    async with engine.begin() as conn:
        await conn.execute(sa.text("CREATE TABLE counter (n INTEGER NOT NULL)"))
        await conn.execute(sa.text("INSERT INTO counter VALUES (0)"))
    yield engine
    await engine.dispose()


async def write(db: AsyncEngine) -> None:
    async with asyncio.timeout(5), db.begin() as conn:
        await conn.execute(sa.text("SELECT n FROM counter"))  # read, then write: no upgrade deadlock
        await conn.execute(sa.text("UPDATE counter SET n = n + 1"))


async def test_concurrent_writers_all_commit_in_turn(db: AsyncEngine) -> None:
    await asyncio.gather(*(write(db) for _ in range(60)))
    async with db.connect() as conn:
        assert await conn.scalar(sa.text("SELECT n FROM counter")) == 60


async def test_a_writer_cancelled_while_queued_or_working_releases_the_lock(db: AsyncEngine) -> None:
    async def slow_writer() -> None:
        async with db.begin() as conn:
            await conn.execute(sa.text("UPDATE counter SET n = n + 1"))
            await asyncio.sleep(10)

    holder = asyncio.create_task(slow_writer())
    await asyncio.sleep(0.05)
    queued = asyncio.create_task(write(db))
    await asyncio.sleep(0.05)
    queued.cancel()  # gave up while waiting for the lock
    holder.cancel()  # gave up inside its transaction
    for task in (queued, holder):
        with pytest.raises(asyncio.CancelledError):
            await task
    started = time.monotonic()
    await write(db)
    assert time.monotonic() - started < HANG_S  # a lock left held: forever
    async with db.connect() as conn:
        assert await conn.scalar(sa.text("SELECT n FROM counter")) == 1, "the cancelled writer rolled back"


@pytest.mark.parametrize("delay", [0.0, 0.01, 0.05])
async def test_a_reader_cancelled_mid_statement_never_blocks_writers(db: AsyncEngine, delay: float) -> None:
    async def slow_reader() -> None:
        async with read_only(db).connect() as conn:
            await conn.execute(sa.text(SLOW))

    reader = asyncio.create_task(slow_reader())
    await asyncio.sleep(delay)
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    await write(db)  # within write()'s 5 s: a reader never holds the write lock
