"""The engine benchmark still runs end to end (tiny sizes): its figures come from real finished runs."""

from __future__ import annotations

import pytest

from bench import engine
from tests.conftest import POSTGRES_ADMIN_URL, SERVICES

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("workload", ["W10", "D10"])
async def test_engine_benchmark_measures_finished_runs(workload: str) -> None:
    mode = "services-1" if SERVICES else "embedded"
    figures = await engine.measure(mode, workload, 6, 2, POSTGRES_ADMIN_URL, "redis://127.0.0.1:6379/11")
    assert len(figures.latencies_ms) == 6, "one latency per run of the burst"
    assert all(ms > 0 for ms in figures.latencies_ms)
    assert figures.wall_s > 0 and figures.steps == 60
    assert figures.statements > figures.transactions > 0
    assert (figures.redis_commands or 0) > 0 if SERVICES else figures.redis_commands is None
    assert len(figures.single_ms) == 2 and len(figures.dispatch_ms) == 2
    row = figures.row()
    assert row.startswith(f"| {mode} | {workload} | 6 |") and "nan" not in row
