"""Load scaled to this machine: sustained mixed load across 20 tenants, and a noisy tenant beside quiet ones.

``mixed-load``: for ``LOAD_S`` seconds, clients start runs of each tenant's workflow through the GraphQL API
(``startRun``) at a fixed rate, and read run lists and run details at the same rate, against a real
``studio serve`` and two ``studio worker`` processes. Counted: runs started and finished per second (held when
the finishing rate keeps up with the starting rate), step queue latency (ready to started) p95/p99, GraphQL
latency p95, and 5xx answers (bound: 0). Meanwhile it scrapes ``/metrics`` of the API and of both workers every 5 s, as
Prometheus would: ``studio_runs_started_total`` (the API's) and ``studio_runs_finished_total`` by status (the workers')
move by exactly the runs it started and finished, and never go down; every process logs JSON lines
(``STUDIO_LOG_FORMAT=json``), each a JSON object, none holding a server key.

``noisy-tenant``: four quiet tenants start a run every 0.25 s each, and their start-to-finish latency is measured in
10 s windows that take turns: alone; beside a fifth tenant's runs started by one client at its start rate (its
pace); beside the same tenant's flood (16 webhook senders delivering its 5,000 runs as fast as the API lets them,
re-sending each delivery the API answers 429 after the delay it names: deliveries take turns of the same start pace
as ``startRun``, so one admission governs both); pace and flood twice more; alone again (A P F P F P F A; after each
noisy window the noisy tenant's runs finish before the next). The noisy tenant has a concurrency limit
(``max_concurrent_runs``) like any tenant on a shared studio; its runs wait QUEUED beyond it, and its starts
(``startRun`` calls and deliveries alike) are paced at its start rate (each waits for its turn; one whose turn is
over a second away is told when to retry). So the flood gets exactly the work admitted that the paced client gets,
and the bound says what isolation promises: the quiet tenants' p95 beside the flood stays within 1.5x of their p95
beside the same admitted work without a flood (and under 750 ms). Against their p95 alone it is reported, not
bounded: on two cores the noisy tenant's admitted work (20 runs/s) outweighs the four quiet tenants' together (16
runs/s), and the CPU it takes moved the quiet p95 from ~34 ms alone to 43-58 ms (1.26-1.67x in ten runs, of which
the noise of a ~35 ms p95 is a good part: single windows ranged 28-39 ms alone). Windows taken in turn cancel the
drift of a shared machine's speed, and pooling three windows steadies each p95.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import re
import statistics
import time
import uuid
from collections import Counter
from typing import Any

import httpx
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from bench.common import percentile
from bench.engine import seed
from reliability.faults import FINAL, Sink, _wait_final, serve
from reliability.outcome import Measured, Outcome
from reliability.services import START_RUN, Studio, environment, graph, http_step
from studio_shared.auth import Principal
from studio_shared.db import models
from studio_shared.rbac import Role
from studio_shared.store import webhooks
from studio_shared.types import RunStatus, WebhookAuth
from studio_shared.webhooks import standard_headers

TENANTS = 20
LOAD_S = 60.0
STARTS_PER_S = 12.0
READS_PER_S = 12.0
READ_RUN = "query($id: ID!) { run(id: $id) { id status steps { stepId status startedAt finishedAt } } }"
READ_RUNS = "{ runs(first: 20) { edges { node { id status createdAt } } } }"


def _mixed(sink_url: str) -> dict[str, Any]:
    return graph(
        {"id": "prepare", "type": "transform", "config": {"value": "{{ run.id }}"}},
        {"id": "pause", "type": "delay", "config": {"seconds": 0.2}},
        http_step("call", f"{sink_url}/effect", body={"step": "call"}),
        {"id": "done", "type": "transform", "config": {"value": "{{ steps.call.output.status }}"}},
        edges=[("start", "prepare"), ("prepare", "pause"), ("pause", "call"), ("call", "done")],
    )


class Client:
    """GraphQL over HTTP with per-call latency and status counts."""

    def __init__(self, base: str) -> None:
        self.http = httpx.AsyncClient(base_url=base, timeout=30, limits=httpx.Limits(max_connections=32))
        self.latency: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()
        self.rate_limited = 0
        self.transport_errors = 0

    async def call(self, token: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        t0 = time.perf_counter()
        try:
            response = await self.http.post(
                "/graphql", json={"query": query, "variables": variables}, headers={"authorization": f"Bearer {token}"}
            )
        except httpx.TransportError:
            # A pooled connection the server closed as it was reused (keep-alive), seen on a machine shared with other
            # loads: counted; a start is sent again with the same idempotency key, as a careful client does.
            self.transport_errors += 1
            return {"transport_error": True}
        self.latency.append((time.perf_counter() - t0) * 1000)
        self.statuses[response.status_code] += 1
        if response.status_code != 200:
            return {}
        body: dict[str, Any] = response.json()
        for error in body.get("errors") or []:
            code = (error.get("extensions") or {}).get("code", "NONE")
            if code != "RATE_LIMITED":  # an answer telling the client to slow down, not a failure
                self.errors[code] += 1
        return body

    async def start(self, token: str, workflow_id: uuid.UUID) -> str | None:
        """startRun, retried with the same key while the API answers RATE_LIMITED (as a well-behaved client)."""
        key = uuid.uuid4().hex
        while True:
            body = await self.call(token, START_RUN, {"w": str(workflow_id), "k": key})
            run = ((body.get("data") or {}).get("startRun") or {}).get("run")
            if run:
                return str(run["id"])
            if body.get("transport_error"):  # the run may exist: the same key answers with it, or starts it once
                await asyncio.sleep(0.1)
                continue
            limited = [e for e in body.get("errors") or [] if (e.get("extensions") or {}).get("code") == "RATE_LIMITED"]
            if not limited:
                return None
            self.rate_limited += 1
            await asyncio.sleep(limited[0]["extensions"]["retryAfterS"] * random.random())

    async def deliver(self, hook_id: uuid.UUID, secret: str) -> str | None:
        """A signed webhook delivery, re-sent with the same key while the API answers 429 (as a well-behaved
        sender does): the webhook's run id, or None for any other refusal."""
        key, body = f"msg_{uuid.uuid4().hex}", json.dumps({"flood": True}).encode()
        while True:
            headers = standard_headers(secret, key, body)  # signed afresh: a re-sent delivery has a new timestamp
            t0 = time.perf_counter()
            response = await self.http.post(f"/hooks/{hook_id}", content=body, headers=headers)
            self.latency.append((time.perf_counter() - t0) * 1000)
            self.statuses[response.status_code] += 1
            if response.status_code == 202:
                return str(response.json()["run_id"])
            if response.status_code != 429:
                self.errors[f"HTTP {response.status_code}"] += 1
                return None
            self.rate_limited += 1
            await asyncio.sleep(float(response.json()["retry_after_s"]) * random.random())

    async def close(self) -> None:
        await self.http.aclose()


async def _paced(rate: float, duration: float, action: Any) -> None:
    """Call ``action()`` ``rate`` times a second for ``duration`` seconds, without waiting for each to finish."""
    pending: set[asyncio.Task[Any]] = set()
    began = time.monotonic()
    for n in itertools.count():
        at = began + n / rate
        if at - began >= duration:
            break
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        task = asyncio.create_task(action())
        pending.add(task)
        task.add_done_callback(pending.discard)
    if pending:
        await asyncio.gather(*pending)


async def _tenants(world: Studio, count: int, definition: dict[str, Any]) -> list[tuple[uuid.UUID, uuid.UUID, str]]:
    seeded = []
    for _ in range(count):
        tenant_id, workflow_id = await seed(world.state, definition)
        seeded.append((tenant_id, workflow_id, world.token(tenant_id, await world.admin(tenant_id))))
    return seeded


async def _runs(world: Studio, run_ids: list[uuid.UUID]) -> list[Any]:
    runs = models.Run.__table__
    async with world.observer.connect() as conn:
        return list(await conn.execute(sa.select(runs).where(runs.c.id.in_(run_ids))))


async def _queue_latencies(world: Studio, run_ids: list[uuid.UUID], order: list[str]) -> list[float]:
    """Ready-to-started per step, in ms: a chain's step is ready when its predecessor finished (the trigger's
    run when the run was created)."""
    steps, runs = models.Step.__table__, models.Run.__table__
    async with world.observer.connect() as conn:
        created = dict(
            (await conn.execute(sa.select(runs.c.id, runs.c.created_at).where(runs.c.id.in_(run_ids)))).all()
        )
        rows = await conn.execute(
            sa.select(steps.c.run_id, steps.c.step_id, steps.c.started_at, steps.c.finished_at, steps.c.wake_at).where(
                steps.c.run_id.in_(run_ids)
            )
        )
        by_run: dict[uuid.UUID, dict[str, Any]] = {}
        for row in rows:
            by_run.setdefault(row.run_id, {})[row.step_id] = row
    latencies = []
    for run_id, found in by_run.items():
        ready = created[run_id]
        for step_id in order:
            row = found.get(step_id)
            if row is None or row.started_at is None:
                break
            latencies.append((row.started_at - ready).total_seconds() * 1000)
            ready = row.finished_at if row.finished_at is not None else row.started_at
    return latencies


METRICS_TOKEN = "reliability-metrics-" + uuid.uuid4().hex
_METRICS_URL = re.compile(r"metrics on (http://\S+?/metrics)")
SCRAPE_EVERY_S = 5.0


def _samples(text: str, name: str) -> dict[str, float]:
    """``name``'s samples in an exposition, summed by their ``status`` label ("" when they have none)."""
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                status = sample.labels.get("status", "")
                found[status] = found.get(status, 0.0) + sample.value
    return found


class Counters:
    """The run counters of every process, scraped as Prometheus does: ``studio_runs_started_total`` from the API's
    ``GET /metrics`` (its ``Control`` starts the runs), ``studio_runs_finished_total`` by status from each worker's
    metrics port (the driver's final transaction counts it). Every process is fresh, so each counts only this
    scenario's runs."""

    def __init__(self, api: str, workers: list[str]) -> None:
        self.api, self.workers = api, workers
        self.http = httpx.AsyncClient(timeout=10)
        self.scrapes: list[tuple[float, dict[str, float]]] = []  # (started, finished by status), in order
        self.failures = 0

    async def scrape(self) -> tuple[float, dict[str, float]]:
        finished: dict[str, float] = {}
        for url in self.workers:  # the workers first: a run they count as finished was counted as started before
            for status, n in _samples(await self._get(url, {}), "studio_runs_finished_total").items():
                finished[status] = finished.get(status, 0.0) + n
        api = await self._get(f"{self.api}/metrics", {"authorization": f"Bearer {METRICS_TOKEN}"})
        started = sum(_samples(api, "studio_runs_started_total").values())
        self.scrapes.append((started, finished))
        return started, finished

    async def _get(self, url: str, headers: dict[str, str]) -> str:
        try:
            response = await self.http.get(url, headers=headers)
        except httpx.TransportError:
            self.failures += 1
            return ""
        if response.status_code != 200:
            self.failures += 1
        return response.text

    async def every(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            await self.scrape()

    def monotonic(self) -> bool:
        """No counter went down between scrapes, and finished never passed started."""
        pairs = itertools.pairwise(self.scrapes)
        steady = all(b[0] >= a[0] and sum(b[1].values()) >= sum(a[1].values()) for a, b in pairs)
        return steady and all(sum(finished.values()) <= started for started, finished in self.scrapes)


async def _worker_metrics(world: Studio) -> list[str]:
    """Each worker's metrics URL, from the line its log writes at start (STUDIO_METRICS_PORT=0: a free port)."""
    urls: list[str] = []
    for index in range(len(world.workers.procs)):
        log = world.workers.logs / f"worker-{index}.log"
        for _ in range(100):
            found = _METRICS_URL.search(log.read_text(errors="replace"))
            if found:
                urls.append(found.group(1))
                break
            await asyncio.sleep(0.1)
    return urls


def _log_lines(world: Studio) -> list[str]:
    return [
        line
        for path in world.tmp.glob("*.log")
        for line in path.read_text(errors="replace").splitlines()
        if line.strip()
    ]


async def mixed_load(runs: int) -> Outcome:
    sink = Sink(latency_s=0.02)
    # Every process logs JSON lines (STUDIO_LOG_FORMAT=json) and serves its metrics (the API to a token).
    env = {"STUDIO_METRICS_PORT": "0", "STUDIO_METRICS_TOKEN": METRICS_TOKEN, "STUDIO_LOG_FORMAT": "json"}
    async with serve(sink.app()) as sink_url, environment(**env) as world:
        tenants = await _tenants(world, TENANTS, _mixed(sink_url))
        for _ in range(2):
            await asyncio.to_thread(world.workers.start)
        base = await world.serve()
        client = Client(base)
        counters = Counters(base, await _worker_metrics(world))
        before = await counters.scrape()
        started: list[str] = []
        rng = random.Random(8)

        async def start() -> None:
            _, workflow_id, token = rng.choice(tenants)
            run_id = await client.start(token, workflow_id)
            if run_id:
                started.append(run_id)

        async def read() -> None:
            _, _, token = rng.choice(tenants)
            if started and rng.random() < 0.5:
                await client.call(token, READ_RUN, {"id": rng.choice(started)})
            else:
                await client.call(token, READ_RUNS, {})

        began = time.monotonic()
        scraping = asyncio.create_task(counters.every(SCRAPE_EVERY_S))  # as Prometheus would, during the load
        await asyncio.gather(_paced(STARTS_PER_S, LOAD_S, start), _paced(READS_PER_S, LOAD_S, read))
        load_s = time.monotonic() - began
        run_ids = [uuid.UUID(r) for r in started]
        statuses = await _wait_final(world.observer, run_ids, 120)
        scraping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await scraping
        after = await counters.scrape()  # every run is final: each worker counted it in its final transaction
        await counters.http.aclose()
        rows = await _runs(world, run_ids)
        queue = await _queue_latencies(world, run_ids, ["prepare", "pause", "call", "done"])
        await client.close()
        lines = _log_lines(world)
    finished_in_window = sum(
        1 for r in rows if r.finished_at is not None and (r.finished_at - r.created_at).total_seconds() < LOAD_S
    )
    final = sum(1 for s in statuses.values() if s in FINAL)
    succeeded = sum(1 for s in statuses.values() if s is RunStatus.SUCCEEDED)
    server_errors = sum(n for code, n in client.statuses.items() if code >= 500)
    end_to_end = [(r.finished_at - r.created_at).total_seconds() * 1000 for r in rows if r.finished_at is not None]
    print("| tenants | s | runs started/s | runs finished | step queue p95 / p99 ms | run p95 ms | GraphQL p95 ms "
          "| calls | 5xx | errors |")  # fmt: skip
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    print(
        f"| {TENANTS} | {load_s:.0f} | {len(started) / load_s:.1f} | {final}/{len(started)}"
        f" | {percentile(queue, 95):.0f} / {percentile(queue, 99):.0f} | {percentile(end_to_end, 95):.0f}"
        f" | {percentile(client.latency, 95):.0f} | {sum(client.statuses.values())} | {server_errors}"
        f" | {dict(client.errors) or '-'} |"
    )
    outcome = Outcome(
        figures={
            "runs/s": f"{len(started) / load_s:.1f}",
            "step queue p95/p99 ms": f"{percentile(queue, 95):.0f}/{percentile(queue, 99):.0f}",
            "GraphQL p95 ms": f"{percentile(client.latency, 95):.0f}",
            "5xx": str(server_errors),
        }
    )
    outcome.check("every start was answered with a run", len(started) >= 0.95 * STARTS_PER_S * LOAD_S)
    outcome.check("0 5xx and 0 GraphQL errors", server_errors == 0 and not client.errors)
    outcome.check("the finishing rate kept up (every run finished, all succeeded)", final == succeeded == len(started))
    outcome.check("runs did not pile up (95% finished within the window)", finished_in_window >= 0.95 * len(started))
    # The counters an operator watches: moved by exactly the runs this scenario started and finished.
    started_n, finished_by = after[0] - before[0], {k: v - before[1].get(k, 0.0) for k, v in after[1].items()}
    print(
        f"metrics: {len(counters.scrapes)} scrapes; runs started {started_n:.0f} (answered {len(started)}), "
        f"finished {dict(sorted(finished_by.items()))} (succeeded in the database {succeeded}, final {final})"
    )
    outcome.figures["metrics scrapes"] = str(len(counters.scrapes))
    outcome.figures["connections reset"] = str(client.transport_errors)
    outcome.check("every /metrics scrape answered 200 (API and workers)", counters.failures == 0)
    outcome.check("the run counters never went down, finished never passed started", counters.monotonic())
    outcome.check("studio_runs_started_total moved by exactly the runs started", started_n == len(started))
    outcome.check(
        "studio_runs_finished_total moved by exactly the runs finished, by status",
        finished_by.get("succeeded", 0.0) == succeeded and sum(finished_by.values()) == final,
    )
    # Logs: JSON lines, each a JSON object; the workers' step lines name their run; no key of the server in any.
    not_json = sum(1 for line in lines if not _is_json_object(line))
    secrets_seen = [line for line in lines if any(k in line for k in _server_keys(world))]
    outcome.check(f"every log line is a JSON object ({len(lines)} lines)", lines != [] and not_json == 0)
    outcome.check("no log line holds the JWT secret or the secret key", not secrets_seen)
    return outcome


def _is_json_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def _server_keys(world: Studio) -> list[str]:
    keys = (world.settings.jwt_secret, world.settings.secret_key)
    return [k.get_secret_value() for k in keys if k is not None] + [METRICS_TOKEN]


# ------------------------------------------------------------------------------------------ noisy-tenant

QUIET_TENANTS = 4
QUIET_EVERY_S = 0.25
WARMUP_S = 3.0  # quiet runs before the measured windows, not counted: fresh pooled connections prepare statements
WINDOW_S = 10.0
ROUNDS = 3  # pairs of windows beside the noisy tenant: its runs started at its pace, then its flood (A P F P F P F A)
DRAIN_S = 60.0  # after each window beside the noisy tenant, its admitted runs finish before the next window
TARGET_RATIO = 1.5
NOISY_RUNS = 5000
NOISY_LIMIT = 10
START_RATE = 20  # startRun calls per tenant and second the API admits in this scenario
NOISY_WAIT_S = 0.5
QUIET_P95_BOUND_MS = 750


def _quick() -> dict[str, Any]:
    return graph(
        {"id": "a", "type": "transform", "config": {"value": 1}},
        {"id": "b", "type": "transform", "config": {"value": "{{ steps.a.output + 1 }}"}},
        {"id": "c", "type": "transform", "config": {"value": "{{ steps.b.output + 1 }}"}},
        edges=[("start", "a"), ("a", "b"), ("b", "c")],
    )


def _slow() -> dict[str, Any]:
    """The noisy tenant's runs wait on something for most of their time, as runs calling real services do."""
    return graph(
        {"id": "a", "type": "transform", "config": {"value": 1}},
        {"id": "wait", "type": "delay", "config": {"seconds": NOISY_WAIT_S}},
        {"id": "b", "type": "transform", "config": {"value": "{{ steps.a.output + 1 }}"}},
        edges=[("start", "a"), ("a", "wait"), ("wait", "b")],
    )


async def noisy_tenant(runs: int) -> Outcome:
    async with environment(STUDIO_RUN_STARTS_PER_TENANT_PER_S=str(START_RATE)) as world:
        quiet = await _tenants(world, QUIET_TENANTS, _quick())
        (noisy_id, noisy_workflow, noisy_token), *_ = await _tenants(world, 1, _slow())
        async with world.observer.begin() as conn:
            tenants_t = models.Tenant.__table__
            await conn.execute(
                sa.update(tenants_t).where(tenants_t.c.id == noisy_id).values(max_concurrent_runs=NOISY_LIMIT)
            )
        for _ in range(2):
            await asyncio.to_thread(world.workers.start)
        client = Client(await world.serve())
        runs_t = models.Run.__table__

        async def phase(duration: float) -> list[uuid.UUID]:
            ids: list[uuid.UUID] = []

            async def one(tenant: tuple[uuid.UUID, uuid.UUID, str]) -> None:
                run_id = await client.start(tenant[2], tenant[1])
                if run_id:
                    ids.append(uuid.UUID(run_id))

            await asyncio.gather(
                *(_paced(1 / QUIET_EVERY_S, duration, lambda t=t: one(t)) for t in quiet)  # type: ignore[misc]
            )
            return ids

        async def noisy_by_status() -> dict[str, int]:
            async with world.observer.connect() as conn:
                rows = await conn.execute(
                    sa.select(runs_t.c.status, sa.func.count())
                    .where(runs_t.c.tenant_id == noisy_id)
                    .group_by(runs_t.c.status)
                )
                return {RunStatus(status).value: count for status, count in rows}

        flood_ids: list[str | None] = []
        paced_ids: list[str | None] = []
        remaining = iter(range(NOISY_RUNS))  # the 5,000 runs, enqueued across the flood windows

        # The flood arrives by webhook: deliveries take turns of the same start pace as startRun (one admission for
        # every kind of start), so the flood still gets exactly the work admitted that the paced client gets.
        async with world.state.sessions.begin() as s:
            hook, secret = await webhooks.create(
                s, world.state.box, noisy_id, Principal(tenant_id=noisy_id, role=Role.ADMIN), noisy_workflow,
                WebhookAuth.STANDARD, True, None,
            )  # fmt: skip
        assert secret is not None

        async def flood() -> None:
            """16 senders deliver the noisy tenant's webhook as fast as the API lets them, until cancelled."""

            async def client_loop() -> None:
                for _ in remaining:
                    flood_ids.append(await client.deliver(hook.id, secret))

            await asyncio.gather(*(client_loop() for _ in range(16)))

        async def paced() -> None:
            """The same tenant's runs started at its pace by one client: the work the flood gets admitted, no flood."""

            async def one() -> None:
                paced_ids.append(await client.start(noisy_token, noisy_workflow))

            await _paced(START_RATE, 3600, one)

        drained = True
        noisy_counts: dict[str, int] = {}

        async def beside(noise: Any) -> tuple[list[uuid.UUID], float]:
            """A window of quiet runs while ``noise()`` runs (from a second before), then the noisy tenant's drain."""
            nonlocal drained, noisy_counts
            noisy = asyncio.create_task(noise())
            began = time.monotonic()
            await asyncio.sleep(1)  # the noise is under way
            ids = await phase(WINDOW_S)
            noisy.cancel()  # the window is over: the noisy client stops (an unanswered start is never sent again)
            with contextlib.suppress(asyncio.CancelledError):
                await noisy
            seconds = time.monotonic() - began
            await _wait_final(world.observer, ids, 120)
            noisy_counts = await noisy_by_status()
            drain_deadline = time.monotonic() + DRAIN_S
            while not all(RunStatus(status) in FINAL for status in await noisy_by_status()):
                if time.monotonic() > drain_deadline:
                    drained = False
                    break
                await asyncio.sleep(0.2)
            return ids, seconds

        await _wait_final(world.observer, await phase(WARMUP_S), 60)
        alone_ids: list[list[uuid.UUID]] = [await phase(WINDOW_S)]
        await _wait_final(world.observer, alone_ids[-1], 60)
        paced_windows: list[list[uuid.UUID]] = []
        flood_windows: list[list[uuid.UUID]] = []
        flood_s = 0.0
        for _ in range(ROUNDS):
            paced_windows.append((await beside(paced))[0])
            ids, seconds = await beside(flood)
            flood_windows.append(ids)
            flood_s += seconds
        alone_ids.append(await phase(WINDOW_S))
        await _wait_final(world.observer, alone_ids[-1], 60)
        rate_limited = client.rate_limited
        alone_rows = [await _runs(world, ids) for ids in alone_ids]
        paced_rows = [await _runs(world, ids) for ids in paced_windows]
        flood_rows = [await _runs(world, ids) for ids in flood_windows]
        await client.close()

    def latencies(rows: list[Any]) -> list[float]:
        return [(r.finished_at - r.created_at).total_seconds() * 1000 for r in rows if r.finished_at is not None]

    def waits(rows: list[Any]) -> list[float]:  # created to started: the part of the latency spent queued
        return [(r.started_at - r.created_at).total_seconds() * 1000 for r in rows if r.started_at is not None]

    def pooled(windows: list[list[Any]]) -> list[Any]:
        return [row for rows in windows for row in rows]

    alone, at_pace, flooded = (latencies(pooled(w)) for w in (alone_rows, paced_rows, flood_rows))
    alone_p95, paced_p95, flood_p95 = percentile(alone, 95), percentile(at_pace, 95), percentile(flooded, 95)
    # Each flood window against the paced window just before it (drift cancels), and the median of the three: one
    # window that a stall of the shared machine hits (a 133 ms window among 30-50 ms ones, seen here) moves it not.
    pair_ratios = [
        percentile(latencies(f), 95) / percentile(latencies(p), 95) for p, f in zip(paced_rows, flood_rows, strict=True)
    ]
    ratio = statistics.median(pair_ratios)
    print(
        "  quiet runs' wait to start p50/p95 ms: "
        + ", ".join(
            f"{name} {percentile(waits(pooled(w)), 50):.0f}/{percentile(waits(pooled(w)), 95):.0f}"
            for name, w in (("alone", alone_rows), ("beside its pace", paced_rows), ("beside its flood", flood_rows))
        )
    )
    order = [alone_rows[0], *(w for pair in zip(paced_rows, flood_rows, strict=True) for w in pair), alone_rows[1]]
    print(
        "  p95 per window ms (A P F P F P F A): "
        + " ".join(f"{percentile(latencies(rows), 95):.0f}" for rows in order)
        + f"; each flood window ÷ the paced one before it: {', '.join(f'{r:.2f}' for r in pair_ratios)}"
    )
    unfinished = sum(len(ids) for ids in (*alone_ids, *paced_windows, *flood_windows)) - len(alone + at_pace + flooded)
    admitted = sum(1 for r in flood_ids if r)
    print("| quiet tenants | quiet runs alone / at pace / flood | p50 alone / at pace / flood ms "
          "| p95 alone / at pace / flood ms | flood ÷ pace (median of pairs) | flood ÷ alone (pooled) "
          "| noisy runs admitted in the flood | noisy by status at the last window's end |")  # fmt: skip
    print("| ---: | --- | --- | --- | ---: | ---: | ---: | --- |")
    print(
        f"| {QUIET_TENANTS} | {len(alone)} / {len(at_pace)} / {len(flooded)}"
        f" | {percentile(alone, 50):.0f} / {percentile(at_pace, 50):.0f} / {percentile(flooded, 50):.0f}"
        f" | {alone_p95:.0f} / {paced_p95:.0f} / {flood_p95:.0f} | {ratio:.2f} | {flood_p95 / alone_p95:.2f}"
        f" | {admitted:,} in {flood_s:.0f} s ({rate_limited:,} answers RATE_LIMITED) | {noisy_counts} |"
    )
    outcome = Outcome(
        figures={
            "quiet p95 alone/at pace/flood ms": f"{alone_p95:.0f}/{paced_p95:.0f}/{flood_p95:.0f}",
            "flood ÷ pace": f"{ratio:.2f}",
            "flood ÷ alone": f"{flood_p95 / alone_p95:.2f}",
            "noisy runs admitted": f"{admitted:,} in {flood_s:.0f} s",
        }
    )
    outcome.check(
        "the noisy tenant was admitted at its start rate (paced; any call refused was told when to retry), none failed",
        admitted >= 0.7 * min(NOISY_RUNS, START_RATE * flood_s) and None not in flood_ids + paced_ids,
    )
    outcome.check("every quiet run finished", unfinished == 0)
    outcome.check(f"the noisy tenant's runs were done within {DRAIN_S:.0f} s of each window's end", drained)
    # The quiet runs never queue behind the backlog: their p95 stays far below what waiting for even a small part
    # of 5,000 runs would take (before held runs stopped being swept back into the queue it was 2.3 s here).
    outcome.check(f"quiet tenants' p95 beside the flood under {QUIET_P95_BOUND_MS} ms", flood_p95 < QUIET_P95_BOUND_MS)
    outcome.check(
        f"quiet tenants' p95 beside the flood within {TARGET_RATIO}x of their p95 beside the same tenant's runs "
        "started at its pace (the median of three pairs of windows taken in turn)",
        ratio <= TARGET_RATIO,
    )
    return outcome


SCENARIOS = [
    Measured(
        "mixed-load",
        f"{TENANTS} tenants, {STARTS_PER_S:g} runs/s and {READS_PER_S:g} reads/s for {LOAD_S:g} s",
        mixed_load,
    ),
    Measured("noisy-tenant", f"a tenant enqueues {NOISY_RUNS:,} runs beside {QUIET_TENANTS} quiet ones", noisy_tenant),
]
