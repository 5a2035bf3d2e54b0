"""Traces: one trace follows a run from the HTTP request that started it, through its enqueue, to each of its steps
and the HTTP calls they make, in the worker that runs them: this process in the embedded mode, another process in
services mode (the session's `studio worker` processes write their spans as JSON lines; see tests/conftest.py).

The API side's spans go to an in-memory exporter installed for these tests; every span is compared as plain data
(``tracing.as_dict``), so both modes are checked by the same assertions."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from studio_gql.state import AppState
from studio_shared import tracing
from studio_shared.settings import Settings
from tests.conftest import SERVICES, GraphQLClient, TenantFixture, Workers
from tests.gql.test_webhooks import make_hook
from tests.servers import Target, serve
from tests.spans import one, spans_of, tree
from tests.worker.engine_harness import chain, publish, wait_for
from tests.worker.test_nodes_io import node

pytestmark = pytest.mark.usefixtures("workers")

log = logging.getLogger(__name__)
START = "mutation($w: ID!) { startRun(workflowId: $w) { run { id } errors { code message } } }"
Span = dict[str, Any]


@pytest.fixture(scope="module")
async def target() -> AsyncIterator[Target]:
    server = Target()
    async with serve(server.app()) as url:
        server.url = url
        yield server


async def test_one_trace_from_the_request_to_each_step_and_its_http_call(
    state: AppState,
    tenant: TenantFixture,
    gql: GraphQLClient,
    workers: Workers,
    target: Target,
    exporter: InMemorySpanExporter,
) -> None:
    definition = chain(
        node("prepare", "transform", value="{{ run.id }}"),
        node("call", "http.request", url=f"{target.url}/echo?secret-looking=query"),
        node("done", "transform", value="{{ steps.call.output.status }}"),
    )
    workflow_id = await publish(state, tenant, definition)
    caller_trace = uuid.uuid4().hex
    caller_span = uuid.uuid4().hex[:16]
    response = await gql.http.post(
        "/graphql",
        json={"query": START, "variables": {"w": str(workflow_id)}},
        headers={
            "Authorization": f"Bearer {tenant.token()}",
            "traceparent": f"00-{caller_trace}-{caller_span}-01",  # the caller's trace: the request continues it
            "X-Request-ID": "req-trace-1",
        },
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-request-id"] == "req-trace-1"
    run_id = uuid.UUID(response.json()["data"]["startRun"]["run"]["id"])
    finished = await wait_for(state, tenant.id, run_id)
    assert finished.run.status.value == "SUCCEEDED", {k: v.error for k, v in finished.steps.items()}
    assert finished.run.traceparent is not None and finished.run.traceparent.split("-")[1] == caller_trace

    spans = await spans_of(caller_trace, exporter, workers, want_steps=4)
    request = one(spans, "POST /graphql")
    assert request["kind"] == "server" and request["parent_id"] == caller_span
    assert request["attributes"]["studio.request_id"] == "req-trace-1"
    start = one(spans, "run.start")
    assert start["parent_id"] == request["span_id"]
    assert start["attributes"]["studio.run_id"] == str(run_id)
    # The run row keeps the start span's context: that is how a worker process continues the trace.
    assert finished.run.traceparent.split("-")[2] == start["span_id"]
    assert one(spans, "run.enqueue")["parent_id"] == start["span_id"]
    steps = {s["attributes"]["studio.step_id"]: s for s in spans if s["name"].startswith("step ")}
    assert set(steps) == {"start", "prepare", "call", "done"}
    assert {s["parent_id"] for s in steps.values()} == {start["span_id"]}
    if SERVICES:  # the steps ran in another process, which exported them itself
        assert {s["service"] for s in steps.values()} == {"studio-worker"}
    call = one(spans, "HTTP GET")
    assert call["parent_id"] == steps["call"]["span_id"] and call["kind"] == "client"
    assert call["attributes"]["http.response.status_code"] == 200
    # No path or query on a client span: a URL's path is where a webhook URL keeps its secret.
    assert "secret-looking" not in json.dumps(spans)
    log.info("the run's span tree:\n%s", tree(spans))  # the README's example (pytest -o log_cli=true)


async def test_a_failed_step_is_an_error_span_naming_its_error_type_only(
    state: AppState,
    tenant: TenantFixture,
    workers: Workers,
    target: Target,
    exporter: InMemorySpanExporter,
) -> None:
    definition = chain(node("call", "http.request", url=f"{target.url}/status/400"))
    workflow_id = await publish(state, tenant, definition)
    run, _ = await state.control.start_run(tenant.id, "test", workflow_id)  # no request: run.start is the root
    finished = await wait_for(state, tenant.id, run.id)
    assert finished.run.status.value == "FAILED"
    assert finished.run.traceparent is not None
    trace_id = finished.run.traceparent.split("-")[1]
    spans = await spans_of(trace_id, exporter, workers, want_steps=2)
    assert one(spans, "run.start")["parent_id"] is None
    failed = one(spans, "step call")
    assert failed["status"] == "error"
    assert failed["parent_id"] == one(spans, "run.start")["span_id"]


async def test_traces_off_store_no_traceparent_and_cost_no_provider(
    state: AppState, tenant: TenantFixture, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_SDK_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    assert not tracing.wanted(settings)
    assert tracing.wanted(settings.model_copy(update={"otel_enabled": True}))
    assert tracing.wanted(settings, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert not tracing.wanted(settings.model_copy(update={"otel_enabled": True}), {"OTEL_SDK_DISABLED": "true"}), (
        "OpenTelemetry's own off switch wins"
    )
    assert not tracing.enabled() and tracing.traceparent() is None and tracing.trace_id() is None
    workflow_id = await publish(state, tenant, chain(node("a", "transform", value=1)))
    run, _ = await state.control.start_run(tenant.id, "test", workflow_id)
    finished = await wait_for(state, tenant.id, run.id)
    assert finished.run.traceparent is None


async def test_a_webhook_delivery_is_the_root_of_its_runs_trace(
    state: AppState,
    tenant: TenantFixture,
    gql: GraphQLClient,
    http: httpx.AsyncClient,
    workers: Workers,
    exporter: InMemorySpanExporter,
) -> None:
    hook = await make_hook(gql, state, tenant, http, chain(node("a", "transform", value=1)))
    body = json.dumps({"order": 1}).encode()
    answer = await hook.post(body, hook.standard(body))
    assert answer.status_code == 202, answer.text
    finished = await wait_for(state, tenant.id, uuid.UUID(answer.json()["run_id"]))
    assert finished.run.traceparent is not None
    spans = await spans_of(finished.run.traceparent.split("-")[1], exporter, workers, want_steps=2)
    delivery = one(spans, "POST /hooks")
    assert delivery["parent_id"] is None and delivery["kind"] == "server"
    assert hook.id not in json.dumps(spans), "a webhook's id is part of its secret URL: never in a span"
    start = one(spans, "run.start")
    assert start["parent_id"] == delivery["span_id"] and start["attributes"]["studio.trigger"] == "webhook"
    assert {s["parent_id"] for s in spans if s["name"].startswith("step ")} == {start["span_id"]}
