"""The denominators of the engine benchmark: raw asyncpg, and Celery with a Redis broker, in the same run.

- **raw asyncpg**: the floor cost of persisting a step here. Four connections, each step one small
  transaction (insert an event row, update the step row), nothing else: no planning, no queue, no publish.
- **Celery**: W10 as a chain of ten no-op tasks and D10 as a chord, prefork concurrency 2, Redis broker and
  result backend (it stores nothing in a database): ``bench/celery_baseline.py``, run in ``.venv-celery``
  because kombu's Redis transport needs a redis-py the studio's arq cannot use. Never a studio dependency.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import percentile

CELERY_REDIS_URL = "redis://127.0.0.1:6379/13"
REPO = Path(__file__).resolve().parents[1]


@dataclass
class Baseline:
    name: str
    workload: str
    steps_per_s: float
    single_ms: list[float] = field(default_factory=list)

    def single_p50(self) -> float:
        return percentile(self.single_ms, 50)


# ------------------------------------------------------------------------------------------- raw asyncpg


async def raw_postgres(admin_url: str, steps: int = 4000, connections: int = 4) -> Baseline:
    """One transaction per step (insert + update) over ``connections`` connections on a scratch database."""
    import asyncpg

    name = f"studio_bench_raw_{os.getpid()}_{secrets.token_hex(3)}"
    admin = await asyncpg.connect(admin_url, timeout=5)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = f"{admin_url.rsplit('/', 1)[0]}/{name}"
    try:
        setup = await asyncpg.connect(url)
        await setup.execute(
            "CREATE TABLE steps (id bigint PRIMARY KEY, status text NOT NULL, output jsonb, updated_at timestamptz);"
            "CREATE TABLE events (id bigserial PRIMARY KEY, step_id bigint NOT NULL, kind text NOT NULL,"
            " data jsonb, at timestamptz NOT NULL DEFAULT now());"
        )
        await setup.executemany("INSERT INTO steps (id, status) VALUES ($1, 'PENDING')", [(i,) for i in range(steps)])
        await setup.close()
        pool = [await asyncpg.connect(url) for _ in range(connections)]
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(steps):
            queue.put_nowait(i)

        async def work(conn: Any) -> None:
            while not queue.empty():
                step = queue.get_nowait()
                async with conn.transaction():
                    await conn.execute(
                        "INSERT INTO events (step_id, kind, data) VALUES ($1, 'step.succeeded', $2)", step, '{"ok": 1}'
                    )
                    await conn.execute(
                        "UPDATE steps SET status = 'SUCCEEDED', output = $2, updated_at = now() WHERE id = $1",
                        step,
                        '{"value": 1}',
                    )

        started = time.perf_counter()
        await asyncio.gather(*(work(conn) for conn in pool))
        elapsed = time.perf_counter() - started
        for conn in pool:
            await conn.close()
    finally:
        admin = await asyncpg.connect(admin_url, timeout=5)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
    return Baseline("raw-postgres", "any", steps / elapsed)


# ------------------------------------------------------------------------------------------- Celery

CELERY_PYTHON = Path(os.environ.get("STUDIO_BENCH_CELERY_PYTHON", REPO / ".venv-celery" / "bin" / "python"))
CELERY_SETUP = "make bench-deps (creates .venv-celery with celery[redis])"


def celery(workloads: list[str], runs: int, single: int) -> dict[str, Baseline] | str:
    """The Celery figures, or why there are none (the venv is missing, or the run failed)."""
    if not CELERY_PYTHON.exists():
        return f"no Celery baseline: {CELERY_PYTHON} is missing; run {CELERY_SETUP}"
    command = [
        str(CELERY_PYTHON), str(REPO / "bench" / "celery_baseline.py"),
        "--runs", str(runs), "--single", str(single), "--workloads", ",".join(workloads),
    ]  # fmt: skip
    env = {**os.environ, "STUDIO_BENCH_CELERY_URL": CELERY_REDIS_URL}
    done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=1800, check=False)  # noqa: S603
    if done.returncode != 0:
        return f"the Celery baseline failed (exit {done.returncode}): {done.stderr.strip()[-500:]}"
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        w: Baseline(f"celery {figures['celery']}", w, f["steps_per_s"], f["single_ms"])
        for w, f in figures["workloads"].items()
    }
