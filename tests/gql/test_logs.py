"""Process logs: each line as JSON (or text on a terminal) with the ids of what it is about, bound where the work
starts: the request id (taken from X-Request-ID when plausible, returned in the answer), the tenant, run and step of a
step's lines in whichever process runs it, and the trace id when traces are on."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from studio_gql.request_context import RequestContext
from studio_gql.state import AppState
from studio_shared import logs, tracing
from tests.conftest import SERVICES, GraphQLClient, TenantFixture, Workers
from tests.worker.engine_harness import chain, publish, wait_for

pytestmark = pytest.mark.usefixtures("workers")

START = "mutation($w: ID!) { startRun(workflowId: $w) { run { id } errors { code message } } }"


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """This process's root logger also writes JSON lines (with the bound ids) to a buffer, at INFO and above."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.addFilter(logs.ContextFields())
    handler.setFormatter(logs.JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield buffer
    root.removeHandler(handler)
    root.setLevel(level)


def parsed(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


async def test_the_request_id_is_the_callers_when_plausible_and_returned(gql: GraphQLClient) -> None:
    given = await gql.http.get("/healthz", headers={"X-Request-ID": "edge-42.a:b_c"})
    assert given.headers["x-request-id"] == "edge-42.a:b_c"
    made = await gql.http.get("/healthz")
    assert len(made.headers["x-request-id"]) == 32 and int(made.headers["x-request-id"], 16) >= 0
    # A value that could forge or flood a log line is replaced, not echoed.
    for hostile in ("two words", "x" * 129, "line\\nbreak", '"}{"level":"error'):
        answered = await gql.http.get("/healthz", headers={"X-Request-ID": hostile})
        assert answered.headers["x-request-id"] not in (hostile, "")
        assert len(answered.headers["x-request-id"]) == 32


async def test_a_requests_log_lines_carry_its_id(json_lines: io.StringIO) -> None:
    async def endpoint(request: Request) -> PlainTextResponse:
        logging.getLogger("studio.test").warning("handling it")
        return PlainTextResponse("ok")

    app = RequestContext(Starlette(routes=[Route("/", endpoint)]))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        answer = await client.get("/", headers={"X-Request-ID": "req-7"})
    assert answer.headers["x-request-id"] == "req-7"
    line = next(line for line in parsed(json_lines.getvalue()) if line["message"] == "handling it")
    assert line["request_id"] == "req-7" and line["level"] == "warning" and line["logger"] == "studio.test"
    assert "run_id" not in line and "trace_id" not in line
    assert logs.current() == {}, "nothing stays bound after the request"


async def test_a_steps_lines_carry_its_tenant_run_step_and_trace(
    state: AppState, tenant: TenantFixture, gql: GraphQLClient, workers: Workers, json_lines: io.StringIO
) -> None:
    provider = TracerProvider()
    tracing.install(provider)  # the API process traces; the session's worker processes do too (tests/conftest.py)
    try:
        workflow_id = await publish(state, tenant, chain({"id": "counted", "type": "test.count", "config": {}}))
        response = await gql.http.post(
            "/graphql",
            json={"query": START, "variables": {"w": str(workflow_id)}},
            headers={"Authorization": f"Bearer {tenant.token()}"},
        )
        run_id = response.json()["data"]["startRun"]["run"]["id"]
        finished = await wait_for(state, tenant.id, uuid.UUID(run_id))
    finally:
        tracing.install(None)
        provider.shutdown()
    assert finished.run.status.value == "SUCCEEDED"
    assert finished.run.traceparent is not None
    trace_id = finished.run.traceparent.split("-")[1]

    def step_lines() -> list[dict[str, Any]]:
        text = json_lines.getvalue()
        if SERVICES:  # the step ran in a `studio worker` process, which logs JSON lines (STUDIO_LOG_FORMAT=json)
            text = "\n".join(path.read_text(errors="replace") for path in workers.logs.glob("*.log"))
        return [line for line in parsed(text) if line.get("run_id") == run_id and line["logger"] == "tests.nodes"]

    deadline = time.monotonic() + 10
    while True:  # a worker's log line reaches its file a moment after the run's row says it finished
        found = step_lines()
        if found or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    [line] = found
    assert line["message"] == "test node counted: call"
    assert line["tenant_id"] == str(tenant.id) and line["step_id"] == "counted" and line["trace_id"] == trace_id
    assert line["time"].endswith("+00:00")


def record(message: str, **extra: Any) -> logging.LogRecord:
    made = logging.LogRecord("studio.x", logging.ERROR, __file__, 1, message, None, None)
    made.__dict__.update(extra)
    return made


def test_text_on_a_terminal_json_otherwise() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert isinstance(logs.formatter("auto", Terminal()), logs.TextFormatter)
    assert isinstance(logs.formatter("auto", io.StringIO()), logs.JsonFormatter)
    assert isinstance(logs.formatter("json", Terminal()), logs.JsonFormatter)
    assert isinstance(logs.formatter("text", io.StringIO()), logs.TextFormatter)
    text = logs.TextFormatter().format(record("went wrong", context={"run_id": "r1", "step_id": "s1"}))
    assert text.endswith("ERROR studio.x went wrong  [run_id=r1 step_id=s1]")


def test_a_json_line_is_one_line_with_its_traceback() -> None:
    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        failing = record("failed", exc_info=sys.exc_info(), context={"tenant_id": "t1"})
    line = logs.JsonFormatter().format(failing)
    assert "\n" not in line
    decoded = json.loads(line)
    assert decoded["tenant_id"] == "t1" and decoded["level"] == "error"
    assert "ValueError: bad" in decoded["exception"]


def test_configure_installs_one_handler_however_often_called() -> None:
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    try:
        stream = io.StringIO()
        logs.configure("json", stream=stream)
        logs.configure("json", stream=stream)
        ours = [h for h in root.handlers if getattr(h, "studio", False)]
        assert len(ours) == 1
        with logs.bound(run_id="r9"):
            logging.getLogger("studio.y").info("hello")
        [line] = parsed(stream.getvalue())
        assert line["run_id"] == "r9" and line["message"] == "hello"
    finally:
        for handler in [h for h in root.handlers if h not in before]:
            root.removeHandler(handler)
        root.setLevel(level)
