"""What every benchmark needs: a fresh database, settings for it, and nearest-rank percentiles."""

from __future__ import annotations

import asyncio
import math
import os
import secrets
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
POSTGRES_URL = os.environ.get("STUDIO_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL)


@asynccontextmanager
async def fresh_database(backend: str, admin_url: str = POSTGRES_URL) -> AsyncIterator[str]:
    """A migrated, empty database URL for this run (a temporary SQLite file or a new PostgreSQL database)."""
    from studio_shared.db.migrate import upgrade

    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="studio-bench-") as tmp:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
            await asyncio.to_thread(upgrade, url)
            yield url
        return
    import asyncpg

    name = f"studio_bench_{os.getpid()}_{secrets.token_hex(4)}"

    async def admin(statement: str) -> None:
        conn = await asyncpg.connect(admin_url, timeout=5)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    await admin(f'CREATE DATABASE "{name}"')
    try:
        base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
        url = f"{base}/{name}"
        await asyncio.to_thread(upgrade, url)
        yield url
    finally:
        await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (no interpolation: every reported value was measured)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] if ordered else float("nan")
