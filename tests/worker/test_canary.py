"""The canary scan: credentials with unique values are used on every node's success and failure paths, then
every sink is searched for them — every table of the database, the run's events and step envelopes as the
API serves them, the process logs and the worker processes' logs, and in services mode every Redis message and
key (arq's pickled jobs and results included). The server's JWT and secret keys are canaries too. One hit
anywhere fails the test."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import logging
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from studio_gql.state import AppState
from studio_shared import logs, tracing
from studio_shared.db import models
from studio_shared.rbac import Role
from tests.conftest import TEST_JWT_SECRET, TEST_SECRET_KEY, GraphQLClient, TenantFixture, Workers
from tests.servers import FakeModel, Target, serve
from tests.worker.engine_harness import chain, run_once
from tests.worker.test_nodes_io import add_credential, node

pytestmark = pytest.mark.usefixtures("workers")

CANARIES = {kind: f"canary-{kind}-{secrets.token_hex(8)}" for kind in ("bearer", "basic", "header", "openai")}

RUN = """query($id: ID!) { run(id: $id) { status output error
  steps { stepId status input output error envelope } events { kind data } artifacts { name } } }"""


@pytest.fixture(scope="module")
async def servers() -> AsyncIterator[tuple[Target, FakeModel]]:
    target, model = Target(), FakeModel()
    async with serve(target.app()) as target_url, serve(model.app()) as model_url:
        target.url, model.url = target_url, model_url
        yield target, model


def workflows(target: Target) -> list[tuple[str, dict[str, Any]]]:
    echo = f"{target.url}/echo"
    tool = {
        "kind": "http",
        "name": "peek",
        "description": "Calls the echo service.",
        "request": {"url": echo, "credential": "header-cred"},
    }
    return [
        ("bearer echoed back", chain(node("n", "http.request", url=echo, credential="bearer-cred"))),
        (
            "basic echoed in an error",
            chain(node("n", "http.request", url=f"{target.url}/status/500?echo=1", credential="basic-cred")),
        ),
        (
            "header, redirect refused",
            chain(
                node("n", "http.request", url=f"{target.url}/redirect?to=http://10.0.0.1/", credential="header-cred")
            ),
        ),
        (
            "header, logged",
            chain(node("n", "http.request", url=echo, credential="header-cred", headers={"X-Echo": "1"})),
        ),
        (
            "model repeats its key",
            chain(
                node(
                    "n", "llm.chat", model="m", credential="openai-cred", messages=[{"role": "user", "content": "key?"}]
                )
            ),
        ),
        (
            "model error quotes the key",
            chain(
                node("n", "llm.chat", model="m", credential="openai-cred", messages=[{"role": "user", "content": "x"}])
            ),
        ),
        (
            "agent tool sees a credential",
            chain(node("n", "agent", model="m", credential="openai-cred", instructions="Peek.", tools=[tool])),
        ),
        (
            "json mode with a key",
            chain(
                node(
                    "n",
                    "llm.chat",
                    model="m",
                    credential="openai-cred",
                    json=True,
                    messages=[{"role": "user", "content": "x"}],
                )
            ),
        ),
    ]


async def test_no_secret_reaches_any_sink(
    state: AppState,
    tenant: TenantFixture,
    gql: GraphQLClient,
    workers: Workers,
    servers: tuple[Target, FakeModel],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    # This process's logs as the JSON lines a deployment writes (with the bound ids), and its spans.
    json_lines = io.StringIO()
    handler = logging.StreamHandler(json_lines)
    handler.addFilter(logs.ContextFields())
    handler.setFormatter(logs.JsonFormatter())
    logging.getLogger().addHandler(handler)
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    tracing.install(provider)
    try:
        await _scan(state, tenant, gql, workers, servers, caplog, json_lines, spans)
    finally:
        logging.getLogger().removeHandler(handler)
        tracing.install(None)
        provider.shutdown()


async def _scan(
    state: AppState,
    tenant: TenantFixture,
    gql: GraphQLClient,
    workers: Workers,
    servers: tuple[Target, FakeModel],
    caplog: pytest.LogCaptureFixture,
    json_lines: io.StringIO,
    spans: InMemorySpanExporter,
) -> None:
    target, model = servers
    await add_credential(state, tenant, "bearer-cred", "bearer", {"token": CANARIES["bearer"]})
    await add_credential(state, tenant, "basic-cred", "basic", {"username": "u", "password": CANARIES["basic"]})
    await add_credential(state, tenant, "header-cred", "header", {"name": "X-Key", "value": CANARIES["header"]})
    await add_credential(
        state, tenant, "openai-cred", "openai", {"api_key": CANARIES["openai"], "base_url": f"{model.url}/v1"}
    )
    model.script += [
        {"content": f"your key is {CANARIES['openai']}"},
        {"status": 401, "message": f"Incorrect API key provided: {CANARIES['openai']}"},
        {"tool_calls": [("peek", {})]},
        {"content": "done"},
        {"content": json.dumps({"key": CANARIES["openai"]})},
    ]
    outcomes: dict[str, str] = {}
    served: list[Any] = []
    redis = RedisSink(state.settings.redis_url) if state.settings.redis_url else None
    if redis is not None:
        await redis.start()
    for name, definition in workflows(target):
        finished = await run_once(state, tenant, definition)
        outcomes[name] = finished.run.status.value
        served.append(await gql.data(RUN, {"id": str(finished.run.id)}, tenant.token(Role.VIEWER)))
    # The scenarios did reach the code paths they are about (a scan of runs that never started proves nothing).
    assert outcomes == {
        "bearer echoed back": "SUCCEEDED",
        "basic echoed in an error": "FAILED",
        "header, redirect refused": "FAILED",
        "header, logged": "SUCCEEDED",
        "model repeats its key": "SUCCEEDED",
        "model error quotes the key": "FAILED",
        "agent tool sees a credential": "SUCCEEDED",
        "json mode with a key": "SUCCEEDED",
    }
    assert {seen.headers.get("x-key") for seen in target.seen if "x-key" in seen.headers} == {CANARIES["header"]}
    assert model.headers[0]["authorization"] == f"Bearer {CANARIES['openai']}"

    sinks = {
        "redis (every message published, every key: arq jobs and results)": await redis.stop() if redis else "",
        "database": await dump_database(state),
        "api": json.dumps(served),
        "process logs": "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records),
        "process logs as JSON lines": json_lines.getvalue(),
        # The workers' logs are JSON lines too (STUDIO_LOG_FORMAT=json), and they export their spans to files.
        "worker logs": "\n".join(path.read_text(errors="replace") for path in workers.logs.glob("*.log")),
        "spans": json.dumps([tracing.as_dict(span) for span in spans.get_finished_spans()]),
        "worker spans": "\n".join(path.read_text(errors="replace") for path in workers.logs.glob("spans-*.jsonl")),
    }
    # Each canary in every form it travels in: raw, and base64 inside a Basic header; and the server's own keys.
    forms = {
        **CANARIES,
        "basic header": base64.b64encode(f"u:{CANARIES['basic']}".encode()).decode(),
        "jwt key": TEST_JWT_SECRET,
        "secret key": TEST_SECRET_KEY,
    }
    leaks = [(sink, kind) for sink, text in sinks.items() for kind, canary in forms.items() if canary in text]
    assert leaks == [], leaks
    assert "[REDACTED]" in sinks["database"] and "[REDACTED]" in sinks["api"]
    # The new sinks saw the runs (a scan of empty sinks proves nothing): the steps' spans, and their hosts.
    step_spans = sinks["worker spans"] if workers.procs else sinks["spans"]
    assert '"step n"' in step_spans and '"HTTP POST"' in step_spans
    if redis is not None:
        assert redis.messages > 0 and redis.keys > 0, "the Redis scan saw the runs' traffic"


class RedisSink:
    """Everything the runs put through Redis: each pub/sub message (any channel; pub/sub ignores the database
    number, so this is every message on the server) and, at the end, every key of the queue's database."""

    def __init__(self, url: str) -> None:
        self.client = aioredis.Redis.from_url(url)
        self.pubsub = self.client.pubsub()
        self.seen: list[bytes] = []
        self.messages = self.keys = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.pubsub.psubscribe("*")
        self._task = asyncio.create_task(self._listen())

    async def _listen(self) -> None:
        async for message in self.pubsub.listen():
            if message["type"] == "pmessage":
                self.messages += 1
                self.seen.append(message["data"])

    async def stop(self) -> str:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self.pubsub.aclose()
        async for key in self.client.scan_iter(count=500):
            self.keys += 1
            kind = (await self.client.type(key)).decode()
            if kind == "string":
                self.seen.append(await self.client.get(key) or b"")
            elif kind == "zset":
                self.seen.extend(await self.client.zrange(key, 0, -1))
            elif kind == "hash":
                self.seen.extend(v for pair in (await self.client.hgetall(key)).items() for v in pair)
            elif kind == "list":
                self.seen.extend(await self.client.lrange(key, 0, -1))
            elif kind == "set":
                self.seen.extend(await self.client.smembers(key))
            self.seen.append(key)
        await self.client.aclose()
        # arq pickles its jobs and results: the canaries would still appear as plain bytes inside them.
        return "\n".join(item.decode("utf-8", "replace") for item in self.seen)


async def dump_database(state: AppState) -> str:
    """Every row of every table, as text (the credentials table holds only ciphertext, so it is scanned too)."""
    out: list[str] = []
    async with state.db_engine.connect() as conn:
        for table in models.Base.metadata.sorted_tables:
            for row in await conn.execute(sa.select(table)):
                out.append(repr(tuple(row)))
    return "\n".join(out)
