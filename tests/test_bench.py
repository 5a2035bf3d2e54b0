"""The engine benchmark still runs end to end (tiny sizes): its figures come from real finished runs."""

from __future__ import annotations

import argparse

import pytest

from bench import (
    admission,
    client,
    code,
    engine,
    error_runs,
    graphql_reads,
    graphql_validation,
    starts,
    trusted_documents,
    validation,
)
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


async def test_the_start_benchmark_counts_what_each_start_cost() -> None:
    backend = "postgres" if SERVICES else "sqlite"
    redis_url = "redis://127.0.0.1:6379/11" if SERVICES else None
    result = await starts.run(backend, 5, redis_url, POSTGRES_ADMIN_URL)
    assert len(result.latencies_ms) == 5 and all(ms > 0 for ms in result.latencies_ms)
    assert result.cpu_ms > 0
    # PostgreSQL: the user and the idempotency key looked up in autocommit, then one transaction reads, checks and
    # writes. SQLite reads (the user, the key, then the workflow and the tenant's room) outside its single write lock.
    assert result.transactions == [1 if SERVICES else 4] * 5
    assert min(result.statements) >= 5, "the lookups and the four inserts at least"
    assert result.table().splitlines()[-1].startswith(f"| {backend} | 5 |") and "nan" not in result.table()


async def test_the_error_runs_benchmark_finds_one_error_run_per_failure() -> None:
    args = argparse.Namespace(
        runs=4,
        backend="postgres" if SERVICES else "sqlite",
        workers=1,
        postgres_url=POSTGRES_ADMIN_URL,
        redis_url="redis://127.0.0.1:6379/11",
    )
    without, with_one = await error_runs.measure(args)
    assert (without["error_workflow"], without["error_runs"]) == (0, 0)
    assert (with_one["error_workflow"], with_one["error_runs"], with_one["error_runs_succeeded"]) == (1, 4, 4)
    assert all(f["runs"] == 4 and f["p50_ms"] > 0 and f["failed_per_s"] > 0 for f in (without, with_one))


async def test_the_admission_benchmark_times_the_claim_and_the_start_check_against_a_backlog() -> None:
    measured = await admission.measure("postgres" if SERVICES else "sqlite", 300, 3, POSTGRES_ADMIN_URL)
    assert [len(took) for _, took in measured] == [3, 3, 3, 3]
    assert all(ms > 0 for _, took in measured for ms in took)


async def test_the_reads_benchmark_measures_the_runs_pages_own_query() -> None:
    """The Runs page's figure is that of the web app's document (read from frontend/src/api/), and each filtered page
    is checked: the benchmark fails on a wrong answer (a run of another status or trigger), not just a slow one."""
    document = graphql_reads.frontend_document("RunsPage")
    assert document.lstrip().startswith("query RunsPage(") and "fragment RunRowFields on Run" in document
    results = await graphql_reads.run("sqlite", 2, 3, POSTGRES_ADMIN_URL, 20.0, runs=600)
    labels = [result.backend for result in results]
    assert [label.split(": ", 1)[1] for label in labels] == [
        "workflows(first: 50) { latestVersion }",
        "runs(first: 50) { steps } of 600",
        "RunsPage: top-level of 600",
        "RunsPage: FAILED webhook runs of 600",
        "RunsPage: one workflow, one starter of 600",
        "RunsPage: top-level, 60 % deep of 600",
    ]
    assert all(len(result.latencies_ms) == 3 and min(result.statements) > 0 for result in results)


async def test_the_validation_benchmark_measures_operations_refused_at_their_first_field() -> None:
    rows = await graphql_validation.measure(repeat=3, rounds=1)  # raises unless each operation met the refusal
    assert [label.split(": ")[0] for label, _ in rows] == ["development"] * 3 + ["production"] * 3
    assert all(us > 0 for _, us in rows)


async def test_the_trusted_documents_benchmark_sends_each_document_three_ways() -> None:
    rows = await trusted_documents.measure(repeat=3, rounds=1)  # raises unless each request met the refusal
    assert [label for label, _ in rows] == [
        f"{name} by {how}"
        for name in ("StartRun", "GetRun")
        for how in ("documentId", "text (cached)", "a text never seen")
    ]
    assert all(us > 0 for _, us in rows)


def test_the_draft_validation_benchmark_times_a_valid_draft_with_and_without_template_checks() -> None:
    draft = validation.draft(41)
    assert len(draft["nodes"]) == 41
    rows = validation.measure(41, repeat=1)  # raises unless the draft has no error
    assert [label for label, _, _ in rows] == [
        "41 nodes, with template checks, cold",
        "41 nodes, with template checks, warm (unchanged draft)",
        "41 nodes, structure only (no template checks)",
    ]
    assert all(wall > 0 and cpu >= 0 for _, wall, cpu in rows)


async def test_the_code_benchmark_times_each_language() -> None:
    figures = await code.measure("javascript", 3)
    assert len(figures.latencies_ms) == 3 and all(ms > 0 for ms in figures.latencies_ms)
    unsandboxed = await code.measure("python", 2, unsafe_no_sandbox=True)  # no bubblewrap needed
    assert unsandboxed.row().startswith("| python (no sandbox) | 2 |") and "nan" not in unsandboxed.row()


async def test_the_client_benchmark_sees_every_run_end_over_http() -> None:
    """Runs started over HTTP (startRun, then runEvents; a webhook with ?wait) against real processes: each latency is
    a run the client saw end, and the breakdown comes from the same runs' rows."""
    mode = "services" if SERVICES else "embedded"
    args = argparse.Namespace(
        runs=4,
        clients=2,
        single=2,
        workers=1,
        paths="GraphQL,webhook",
        postgres_url=POSTGRES_ADMIN_URL,
        redis_url="redis://127.0.0.1:6379/11",
    )
    series = await client.measure(mode, ["W10"], args)
    assert [(s.path, s.workload) for s in series] == [("GraphQL", "W10"), ("webhook", "W10")]
    for s in series:
        assert len(s.burst_ms) == 4 and len(s.single_ms) == 2 and s.steps_per_s > 0
        assert len(s.queue_ms) == len(s.execution_ms) == len(s.notification_ms) == 2
        assert all(ms > 0 for ms in s.burst_ms + s.single_ms)
        assert "nan" not in client.one_row(s)
    found = {name: measured for name, _, measured in client.targets(series, "no Celery")}
    assert ("W10 single p50 <= 15 ms" in found) == SERVICES
