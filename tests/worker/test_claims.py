"""A worker's claim of a run commits without waiting for the disk, on a pool of its own; nothing else does."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from studio_shared.db import create_engine, lone_statements, unflushed_statements
from studio_shared.events.memory import MemoryEventBus
from studio_shared.settings import Settings
from studio_worker.engine.runtime import RunEngine
from studio_worker.nodes.plugins import load_catalog
from studio_worker.queue.inprocess import InProcessQueue


async def _synchronous_commit(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return str(await conn.scalar(sa.text("SHOW synchronous_commit")))


async def test_claims_skip_the_wal_flush_on_postgresql_and_every_other_statement_keeps_it(settings: Settings) -> None:
    db = create_engine(settings)
    claims = unflushed_statements(db, 4)
    try:
        if db.dialect.name != "postgresql":
            # SQLite: the claim is an ordinary write transaction of the same pool (synchronous=NORMAL already).
            assert claims.sync_engine.pool is db.sync_engine.pool
            assert claims.get_execution_options() == lone_statements(db).get_execution_options()
            return
        assert claims.sync_engine.pool is not db.sync_engine.pool
        assert await _synchronous_commit(claims) == "off"
        assert await _synchronous_commit(db) == "on", "the main pool's commits stay durable"
        async with claims.begin() as conn:  # autocommit: each statement is its own transaction
            raw = await conn.get_raw_connection()
            assert getattr(raw.dbapi_connection, "autocommit", None) is True
    finally:
        if claims is not db:
            await claims.dispose()
        await db.dispose()


async def test_the_run_engine_closes_its_claims_pool(settings: Settings) -> None:
    db = create_engine(settings)
    engine = RunEngine(settings, db, MemoryEventBus(), InProcessQueue(1), load_catalog(settings))
    try:
        async with engine.claims.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
        pool = engine.claims.sync_engine.pool
        await engine.close()
        if db.dialect.name == "postgresql":  # disposing closes the pool's connections and starts a new, empty pool
            assert engine.claims.sync_engine.pool is not pool, "its connections are closed with the engine"
        else:
            assert db.sync_engine.pool is pool, "the shared pool is the caller's to close"
    finally:
        await db.dispose()
