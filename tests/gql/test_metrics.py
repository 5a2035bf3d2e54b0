"""Prometheus metrics: who may read GET /metrics, that the run counters move by exactly the runs a test starts and
finishes (in the API process of the embedded default, in the `studio worker` processes of services mode), that a
worker serves its own port, and that the output holds no secret and no tenant id unless an operator asks for them."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from studio_gql.state import AppState
from studio_shared.db import models
from studio_shared.metrics import BoundedLabel, StudioMetrics, metrics
from studio_shared.rbac import Role
from studio_shared.settings import Settings
from studio_shared.store import runs as store_runs
from studio_shared.types import RunStatus
from tests.conftest import SERVICES, TEST_JWT_SECRET, TEST_SECRET_KEY, GraphQLClient, TenantFixture, Workers
from tests.gql.test_subscriptions import RUN_EVENTS
from tests.gql.test_webhooks import make_hook
from tests.gql.wsclient import WsClient
from tests.servers import FakeModel, serve
from tests.worker.engine_harness import chain, publish, run_once, wait_for
from tests.worker.test_nodes_io import node, openai

pytestmark = pytest.mark.usefixtures("workers")

METRICS_TOKEN = "metrics-token-" + "m" * 32
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of an exposition, keyed by (sample name, labels); the parser rejects a malformed one."""
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of ``name`` over every series whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def merged(texts: Iterable[str]) -> Samples:
    """Several processes' samples added together (the session's worker processes)."""
    summed: Samples = {}
    for text in texts:
        for key, v in parse(text).items():
            summed[key] = summed.get(key, 0.0) + v
    return summed


async def scrape(http: httpx.AsyncClient, token: str) -> str:
    response = await http.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


async def scrape_workers(workers: Workers) -> Samples:
    async with httpx.AsyncClient() as client:
        texts = [(await client.get(url)).text for url in workers.metrics_urls]
    return merged(texts)


# -- who may read it ------------------------------------------------------------------------------------------------


async def test_metrics_need_an_admin_or_the_metrics_token(
    http: httpx.AsyncClient, state: AppState, tenant: TenantFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def status(authorization: str | None) -> int:
        headers = {"Authorization": authorization} if authorization is not None else {}
        response = await http.get("/metrics", headers=headers)
        if response.status_code != 200:
            assert "studio_" not in response.text  # a refusal shows nothing of the series
            assert response.json()["message"]
        return response.status_code

    assert await status(None) == 401
    assert await status("Basic dXNlcjpwYXNz") == 401
    assert await status("Bearer not-a-token") == 401
    assert await status(f"Bearer {METRICS_TOKEN}") == 401  # no metrics token configured: it is just a bad token
    for role in (Role.VIEWER, Role.OPERATOR, Role.EDITOR):
        assert await status(f"Bearer {tenant.token(role)}") == 403, role
    assert await status(f"Bearer {tenant.token(Role.ADMIN)}") == 200

    monkeypatch.setattr(state.settings, "metrics_token", SecretStr(METRICS_TOKEN))
    assert await status(f"Bearer {METRICS_TOKEN}") == 200
    assert await status(f"Bearer {METRICS_TOKEN}x") == 401
    assert await status(f"Bearer {METRICS_TOKEN[:-1]}") == 401
    assert await status(f"Bearer {tenant.token(Role.EDITOR)}") == 403
    assert await status(f"Bearer {tenant.token(Role.ADMIN)}") == 200

    # With tenant ids in the output, one tenant's admin may not read them: the metrics token only.
    monkeypatch.setattr(state.settings, "metrics_tenant_labels", True)
    assert await status(f"Bearer {tenant.token(Role.ADMIN)}") == 403
    assert await status(f"Bearer {METRICS_TOKEN}") == 200


# -- the counters ---------------------------------------------------------------------------------------------------

START = """mutation($w: ID!) { startRun(workflowId: $w) { run { id } errors { code message } } }"""


async def start_runs(gql: GraphQLClient, tenant: TenantFixture, workflow_id: uuid.UUID, count: int) -> list[uuid.UUID]:
    ids = []
    for _ in range(count):
        data = await gql.data(START, {"w": str(workflow_id)}, tenant.token(Role.OPERATOR))
        assert data["startRun"]["errors"] == [], data
        ids.append(uuid.UUID(data["startRun"]["run"]["id"]))
    return ids


async def finished_counts(
    http: httpx.AsyncClient, workers: Workers, tenant: TenantFixture, status: str, expected: float
) -> Samples:
    """The samples of the process(es) that drive runs, once the tenant's finished counter reached ``expected``: the
    counter moves right after the commit a test's database poll sees, so it may trail that poll by a moment."""
    deadline = time.monotonic() + 10
    while True:
        samples = await scrape_workers(workers) if SERVICES else parse(await scrape(http, tenant.token()))
        seen = value(samples, "studio_tenant_runs_finished_total", tenant=str(tenant.id), status=status, mode="live")
        if seen >= expected or time.monotonic() > deadline:
            return samples
        await asyncio.sleep(0.05)


async def test_run_counters_move_by_exactly_the_runs_started_and_finished(
    http: httpx.AsyncClient,
    gql: GraphQLClient,
    state: AppState,
    tenant: TenantFixture,
    workers: Workers,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The tenant's own series, so runs of earlier tests still finishing do not count; in services mode the session's
    # workers run with STUDIO_METRICS_TENANT_LABELS=true (tests/conftest.py).
    monkeypatch.setattr(metrics, "tenant_labels", True)
    monkeypatch.setattr(state.settings, "metrics_token", SecretStr(METRICS_TOKEN))
    if SERVICES:
        assert len(workers.metrics_urls) == len(workers.procs) == 2
    ok = await publish(state, tenant, chain(node("a", "transform", value=1)), name="counted")
    failing = await publish(state, tenant, chain(node("boom", "fail", message="no")), name="failing")
    tid = str(tenant.id)

    api_before = parse(await scrape(http, METRICS_TOKEN))
    runners_before = await scrape_workers(workers) if SERVICES else api_before
    started = await start_runs(gql, tenant, ok, 3) + await start_runs(gql, tenant, failing, 2)
    for run_id in started:
        await wait_for(state, tenant.id, run_id)
    await finished_counts(http, workers, tenant, "failed", 2)
    runners_after = await finished_counts(http, workers, tenant, "succeeded", 3)
    api_after = parse(await scrape(http, METRICS_TOKEN))

    def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    # Started: counted by the API process that committed the starts.
    assert moved(api_before, api_after, "studio_tenant_runs_started_total", tenant=tid, mode="live") == 5
    assert moved(api_before, api_after, "studio_runs_started_total", trigger="manual", mode="live") == 5
    # Finished: counted by the process whose final transaction ended each run, once each.
    finished = "studio_tenant_runs_finished_total"
    assert moved(runners_before, runners_after, finished, tenant=tid, status="succeeded", mode="live") == 3
    assert moved(runners_before, runners_after, finished, tenant=tid, status="failed", mode="live") == 2
    assert moved(runners_before, runners_after, finished, tenant=tid, status="cancelled", mode="live") == 0
    assert (
        moved(
            runners_before,
            runners_after,
            "studio_runs_finished_total",
            status="succeeded",
            trigger="manual",
            mode="live",
        )
        >= 3
    )
    # Step durations by node type: one observation per finished transform step at least.
    count = "studio_step_duration_seconds_count"
    assert (
        total(runners_after, count, node_type="transform", status="succeeded")
        - total(runners_before, count, node_type="transform", status="succeeded")
        >= 3
    )
    assert (
        total(runners_after, count, node_type="fail", status="failed")
        - total(runners_before, count, node_type="fail", status="failed")
        >= 2
    )


async def test_a_cancelled_waiting_run_counts_once_as_cancelled(
    http: httpx.AsyncClient, gql: GraphQLClient, state: AppState, tenant: TenantFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that no driver holds (parked on a delay) is ended by the cancel's own transaction in the API process, and
    counted there, once."""
    monkeypatch.setattr(metrics, "tenant_labels", True)
    slow = await publish(state, tenant, chain(node("wait", "delay", seconds=600)), name="slow")
    [run_id] = await start_runs(gql, tenant, slow, 1)
    await wait_for(state, tenant.id, run_id, {RunStatus.WAITING})
    before = parse(await scrape(http, tenant.token()))
    cancel = "mutation($id: ID!) { cancelRun(id: $id) { run { status } errors { code } } }"
    await gql.data(cancel, {"id": str(run_id)}, tenant.token(Role.OPERATOR))
    assert (await wait_for(state, tenant.id, run_id)).run.status is RunStatus.CANCELLED
    after = parse(await scrape(http, tenant.token()))
    name = "studio_tenant_runs_finished_total"
    labels = {"tenant": str(tenant.id), "status": "cancelled", "mode": "live"}
    assert value(after, name, **labels) - value(before, name, **labels) == 1
    assert value(after, name, **{**labels, "status": "succeeded"}) == 0


async def test_webhook_deliveries_count_by_status_class(
    http: httpx.AsyncClient, gql: GraphQLClient, state: AppState, tenant: TenantFixture
) -> None:
    hook = await make_hook(gql, state, tenant, http)
    before = parse(await scrape(http, tenant.token()))
    body = json.dumps({"order": 1}).encode()
    assert (await hook.post(body, hook.standard(body))).status_code == 202
    assert (await hook.post(body, hook.standard(body, secret="whsec_" + "A" * 32))).status_code == 401
    assert (await http.post(f"/hooks/{uuid.uuid4()}", content=body)).status_code == 404
    after = parse(await scrape(http, tenant.token()))
    name = "studio_webhook_deliveries_total"
    assert value(after, name, outcome="2xx") - value(before, name, outcome="2xx") == 1
    assert value(after, name, outcome="4xx") - value(before, name, outcome="4xx") == 2


@pytest.fixture(scope="module")
async def model() -> AsyncIterator[FakeModel]:
    server = FakeModel()
    async with serve(server.app()) as url:
        server.url = url
        yield server


async def test_model_tokens_count_by_model_once_per_billed_call(
    http: httpx.AsyncClient, state: AppState, tenant: TenantFixture, workers: Workers, model: FakeModel
) -> None:
    await openai(state, tenant, model)
    model.script.append({"content": "hello"})
    name = f"gpt-metrics-{uuid.uuid4().hex[:6]}"  # a model no other test uses: its counter is this test's alone
    chat = node("chat", "llm.chat", model=name, credential="llm", messages=[{"role": "user", "content": "Hi"}])
    finished = await run_once(state, tenant, chain(chat))
    assert finished.run.status is RunStatus.SUCCEEDED, finished.steps["chat"].error
    samples: Samples = {}
    deadline = time.monotonic() + 10
    while value(samples, "studio_model_tokens_total", model=name, kind="completion") < 5:
        assert time.monotonic() < deadline, "the model tokens were not counted"
        samples = await scrape_workers(workers) if SERVICES else parse(await scrape(http, tenant.token()))
        await asyncio.sleep(0.02)
    assert value(samples, "studio_model_tokens_total", model=name, kind="prompt") == 10
    assert value(samples, "studio_model_tokens_total", model=name, kind="completion") == 5


async def test_open_subscriptions_gauge_follows_subscribe_and_complete(
    http: httpx.AsyncClient, gql: GraphQLClient, state: AppState, tenant: TenantFixture, live_url: str
) -> None:
    parked = await publish(state, tenant, chain(node("wait", "delay", seconds=600)), name="watched")
    [run_id] = await start_runs(gql, tenant, parked, 1)
    await wait_for(state, tenant.id, run_id, {RunStatus.WAITING})
    gauge = "studio_graphql_subscriptions_open"

    async def open_now(expected: float) -> float:
        deadline = time.monotonic() + 10
        while True:
            seen = value(parse(await scrape(http, tenant.token())), gauge)
            if seen == expected or time.monotonic() > deadline:
                return seen
            await asyncio.sleep(0.02)

    before = value(parse(await scrape(http, tenant.token())), gauge)
    async with WsClient(live_url, tenant.token(Role.VIEWER)) as ws:
        id = await ws.subscribe(RUN_EVENTS, {"id": str(run_id)})
        assert (await ws.receive(id))["type"] == "next"  # the stream is open: its stored events arrive
        assert await open_now(before + 1) == before + 1
        await ws.complete(id)
        assert await open_now(before) == before
    await gql.data("mutation($id: ID!) { cancelRun(id: $id) { errors { code } } }", {"id": str(run_id)}, tenant.token())


async def test_queue_gauges_read_the_oldest_queued_run(state: AppState, tenant: TenantFixture) -> None:
    """The scrape's one query, on a QUEUED run that exists only inside this test's transaction (rolled back, so no
    engine ever sees it)."""
    workflow = await publish(state, tenant, chain(node("a", "transform", value=1)), name="queued")
    long_ago = datetime(2020, 1, 1, tzinfo=UTC)
    async with state.sessions() as s:
        version = await s.scalar(
            sa.select(models.WorkflowVersion).where(models.WorkflowVersion.workflow_id == workflow)
        )
        assert version is not None
        empty_before = await store_runs.queue_backlog(await s.connection(), 100_000)
        s.add(
            models.Run(
                tenant_id=tenant.id,
                workflow_id=workflow,
                workflow_version_id=version.id,
                version=version.version,
                status=RunStatus.QUEUED,
                trigger="manual",
                created_by="user:x",
                created_at=long_ago,
                updated_at=long_ago,
            )
        )
        await s.flush()
        depth, oldest = await store_runs.queue_backlog(await s.connection(), 100_000)
        capped, _ = await store_runs.queue_backlog(await s.connection(), 1)
        await s.rollback()
    assert depth == empty_before[0] + 1
    assert oldest is not None and oldest.replace(tzinfo=UTC) == long_ago
    assert capped == 1


# -- what the output holds ------------------------------------------------------------------------------------------


async def test_every_series_is_studio_and_names_no_tenant_or_secret_by_default(
    http: httpx.AsyncClient, gql: GraphQLClient, state: AppState, tenant: TenantFixture
) -> None:
    assert metrics.tenant_labels is False  # the default
    workflow = await publish(state, tenant, chain(node("a", "transform", value=1)), name="quiet")
    [run_id] = await start_runs(gql, tenant, workflow, 1)
    await wait_for(state, tenant.id, run_id)
    await gql.data("query Me { me { role } }", token=tenant.token())
    text = await scrape(http, tenant.token())
    for family in text_string_to_metric_families(text):
        assert family.name.startswith("studio_"), family.name
    for secret in (str(tenant.id), tenant.slug, TEST_JWT_SECRET, TEST_SECRET_KEY, tenant.token()):
        assert secret not in text
    samples = parse(text)
    assert value(samples, "studio_graphql_request_duration_seconds_count", operation="Me", outcome="ok") >= 1
    assert ("studio_queue_depth", frozenset()) in samples
    assert ("studio_db_pool_checked_out", frozenset()) in samples


async def test_graphql_requests_by_operation_and_outcome(http: httpx.AsyncClient, gql: GraphQLClient, tenant) -> None:
    before = parse(await scrape(http, tenant.token()))
    await gql.raw('query Fails { run(id: "nope") { id } }', token=tenant.token())
    await gql.raw("{ me { role } }", token=tenant.token())
    response = await http.post(
        "/graphql", json={"query": "query Broken { nope }"}, headers={"Accept": "application/json"}
    )
    assert response.status_code == 200
    after = parse(await scrape(http, tenant.token()))
    count = "studio_graphql_request_duration_seconds_count"

    def moved(**labels: str) -> float:
        return value(after, count, **labels) - value(before, count, **labels)

    assert moved(operation="anonymous", outcome="ok") >= 1
    assert moved(operation="Broken", outcome="rejected") == 1
    assert moved(operation="Fails", outcome="error") + moved(operation="Fails", outcome="ok") == 1


def test_label_values_stay_bounded() -> None:
    label = BoundedLabel(limit=3, max_len=20)
    assert label(None) == label("") == "anonymous"
    assert [label(n) for n in ("A", "B", "C", "D", "A")] == ["A", "B", "C", "other", "A"]
    long = BoundedLabel(limit=10, max_len=20)
    cut = long("Q" * 500)
    assert len(cut) == 20 and cut.startswith("Q" * 11) and cut != long("Q" * 499)
    assert long("has space") == long("naïve") == "other"


def test_tenant_series_count_only_when_turned_on() -> None:
    off, on = StudioMetrics(), StudioMetrics(tenant_labels=True)
    tenant = uuid.uuid4()
    for m in (off, on):
        m.run_started(tenant, "webhook", test=False)
        m.run_started(tenant, "plugin-kind", test=True)
        m.run_finished(tenant, "SUCCEEDED", "webhook", test=False)
    off_text, on_text = off.exposition().decode(), on.exposition().decode()
    assert str(tenant) not in off_text and str(tenant) in on_text
    samples = parse(off_text)
    assert value(samples, "studio_runs_started_total", trigger="webhook", mode="live") == 1
    assert value(samples, "studio_runs_started_total", trigger="other", mode="test") == 1
    assert value(samples, "studio_runs_finished_total", status="succeeded", trigger="webhook", mode="live") == 1


# -- a worker's own port --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["worker", "scheduler"])
def test_a_worker_or_scheduler_serves_its_metrics_on_its_own_port(
    settings: Settings, tmp_path: Path, command: str
) -> None:
    if not SERVICES:
        pytest.skip(f"`studio {command}` needs Redis: the postgres pass (services mode) runs it")
    worker = Workers(settings, tmp_path, command, args=("--metrics-port", "0"))
    try:
        worker.start()
        [url] = worker.metrics_urls
        assert url.startswith("http://127.0.0.1:")  # the default bind: this host only
        response = httpx.get(url)
        assert response.status_code == 200
        text = response.text
        names = {family.name for family in text_string_to_metric_families(text)}
        # (the parser names a counter family without its _total)
        assert {"studio_runs_finished", "studio_step_duration_seconds", "studio_db_pool_checked_out"} <= names
        assert all(name.startswith("studio_") for name in names), names
        for secret in (TEST_JWT_SECRET, TEST_SECRET_KEY, settings.database_url):
            assert secret not in text
    finally:
        worker.stop()


# -- the dashboard --------------------------------------------------------------------------------------------------


def test_the_grafana_dashboard_uses_only_series_the_studio_exports() -> None:
    import json
    import re

    from tests.conftest import REPO

    dashboard = json.loads((REPO / "deploy" / "grafana" / "studio.json").read_text())
    assert dashboard["title"] and dashboard["uid"] and isinstance(dashboard["schemaVersion"], int)
    exported = StudioMetrics()
    names = set()
    for family in exported.registry.collect():
        names |= {family.name, f"{family.name}_total", f"{family.name}_bucket", f"{family.name}_count"}
        names |= {f"{family.name}_sum"}
    used = set()
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            used |= set(re.findall(r"\bstudio_\w+", target["expr"]))
    assert used and used <= names, used - names
    titles = " ".join(p["title"].lower() for p in dashboard["panels"])
    for topic in ("status", "p95", "queue", "graphql", "webhook", "subscriptions", "database"):
        assert topic in titles, topic
