"""Issue 17, items 1 and 2, performed against the studio in the mode of this pass.

1. A user's JSON Schema never makes the studio fetch anything: a ``$ref`` to a local service, a slow endpoint
   or a file is refused when the definition is saved (with the path of the ``$ref``), and a version stored
   before that check is refused where its schema is used (startRun, a webhook delivery, decideHumanTask, an
   agent's tool call), with nothing fetched and nothing quoted back.
2. No user pattern blocks the event loop: ``^(a+)+$`` against 5,000 characters through startRun, an unsigned
   webhook and a message trigger answers in well under a second (Python's ``re`` takes longer than the age of
   the universe), ``((`` is a problem at publish, and a stored ``((`` is a 422, not a 500.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from studio_gql.state import AppState
from studio_shared.db import models
from studio_shared.rbac import Role
from studio_shared.store import workflows
from studio_shared.types import RunStatus
from tests import schema_corpus
from tests.conftest import GraphQLClient, TenantFixture
from tests.gql.test_approvals import DECIDE, approval_flow
from tests.gql.test_webhooks import CREATE as CREATE_HOOK
from tests.gql.test_webhooks import Hook
from tests.servers import INTERNAL_SECRET, FakeModel, Internal, Target, serve
from tests.timing import HANG_S
from tests.worker.engine_harness import actor, chain, publish, wait_for
from tests.worker.test_nodes_io import node, openai

pytestmark = pytest.mark.usefixtures("workers")

EVIL = "a" * 5000 + "!"  # ^(a+)+$ backtracks through 2^5000 ways to split it before failing
REDOS = "^(a+)+$"
START = """mutation($w: ID!, $input: JSON) { startRun(workflowId: $w, input: $input) {
  run { id } errors { path message code } } }"""
CREATE = """mutation($input: CreateWorkflowInput!) { createWorkflow(input: $input) {
  workflow { id } errors { path message code } } }"""
VALIDATE = "query($d: JSON!) { validateDefinition(definition: $d) { path message code } }"
SEND = """mutation($c: String!, $t: String!) { sendMessage(channel: $c, text: $t) {
  message { id } runs { id } errors { path message code } } }"""

# Every `open` of a watched path, seen by an audit hook (an audit hook stays for the process: it only reads a set).
_WATCHED: set[str] = set()
_OPENED: list[str] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "open" and _WATCHED and str(args[0]) in _WATCHED:
        _OPENED.append(str(args[0]))


sys.addaudithook(_audit)


@pytest.fixture(scope="module")
async def target() -> AsyncIterator[Target]:
    server = Target()
    async with serve(server.app()) as url:
        server.url = url
        yield server


@pytest.fixture(scope="module")
def internal() -> Iterator[Internal]:
    with Internal() as server:
        yield server


@pytest.fixture(autouse=True)
def fresh(target: Target, internal: Internal, model: FakeModel) -> None:
    target.seen.clear()
    internal.paths.clear()
    model.script.clear()
    model.requests.clear()


def with_input_schema(schema: dict[str, Any], trigger: str = "trigger.manual") -> dict[str, Any]:
    definition = chain(node("echo", "transform", value="{{ input }}"))
    definition["nodes"][0].update(type=trigger, config={"input_schema": schema})
    return definition


async def stored_before_the_checks(state: AppState, tenant: TenantFixture, definition: dict[str, Any]) -> uuid.UUID:
    """A workflow whose published version 1 is ``definition``, written as it was before save refused it."""
    async with state.sessions.begin() as s:
        row = await workflows.create(
            s, tenant.id, actor(tenant), state.registry, name="old", description=None, definition=chain()
        )
        s.add(models.WorkflowVersion(tenant_id=tenant.id, workflow_id=row.id, version=1, definition=definition))
    return row.id


def remote_refs(internal: Internal, tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"const": INTERNAL_SECRET}))
    return {
        "internal": f"{internal.url}/internal/config.json",  # a service on the API's own network, quoted back
        "slow": f"{internal.url}/slow?s=15",  # stalled startRun and /healthz for 15 s
        "file": config.as_uri(),  # file:// was opened too
    }


# -- 1. $ref: refused at save, with the path --------------------------------------------------------------


@pytest.mark.parametrize(
    "ref", ["http://127.0.0.1:8397/internal/config.json", "file:///etc/passwd", "https://example.org/s.json"]
)
async def test_save_refuses_a_remote_ref_and_names_where_it_is(
    gql: GraphQLClient, tenant: TenantFixture, ref: str
) -> None:
    schema = {"type": "object", "properties": {"a": {"$ref": ref}}}
    definitions = {
        "input_schema": (
            with_input_schema(schema),
            ["nodes", "0", "config", "input_schema", "properties", "a", "$ref"],
        ),
        "form_schema": (
            approval_flow(form_schema=schema),
            ["nodes", "1", "config", "form_schema", "properties", "a", "$ref"],
        ),
        "tool parameters": (
            chain(
                node(
                    "agent",
                    "agent",
                    model="m",
                    credential="llm",
                    instructions="i",
                    tools=[
                        {
                            "kind": "http",
                            "name": "lookup",
                            "description": "d",
                            "parameters": schema,
                            "request": {"url": "https://example.org/"},
                        }
                    ],
                )
            ),
            ["nodes", "1", "config", "tools", "0", "parameters", "properties", "a", "$ref"],
        ),
    }
    for label, (definition, path) in definitions.items():
        problems = (await gql.data(VALIDATE, {"d": definition}, tenant.token(Role.EDITOR)))["validateDefinition"]
        assert [(p["path"], p["code"]) for p in problems] == [(path, "UNSAFE_SCHEMA")], label
        assert "inline it" in problems[0]["message"] and "$defs" in problems[0]["message"]
        created = await gql.data(
            CREATE, {"input": {"name": label, "definition": definition}}, tenant.token(Role.EDITOR)
        )
        assert created["createWorkflow"]["workflow"] is None
        assert [e["path"] for e in created["createWorkflow"]["errors"]] == [path]


async def test_local_refs_are_accepted(gql: GraphQLClient, tenant: TenantFixture) -> None:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://example.org/order.json",  # the root's own id: refers to nothing outside
        "type": "object",
        "properties": {"a": {"$ref": "#/$defs/amount"}, "b": {"$ref": "#money"}, "c": {"$ref": "#"}},
        "$defs": {"amount": {"type": "integer"}, "m": {"$anchor": "money", "type": "number"}},
    }
    assert (await gql.data(VALIDATE, {"d": with_input_schema(schema)}, tenant.token()))["validateDefinition"] == []


# -- 1. $ref: a version stored before the check fetches nothing where it is used ---------------------------


@pytest.mark.parametrize("which", ["internal", "slow", "file"])
async def test_start_run_never_fetches_a_stored_remote_ref(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture, internal: Internal, tmp_path: Path, which: str
) -> None:
    ref = remote_refs(internal, tmp_path)[which]
    workflow_id = await stored_before_the_checks(
        state, tenant, with_input_schema({"type": "object", "properties": {"a": {"$ref": ref}}})
    )
    _WATCHED.add(str(tmp_path / "config.json"))
    try:
        started = time.monotonic()
        answer = await gql.data(START, {"w": str(workflow_id), "input": {"a": "x"}}, tenant.token(Role.OPERATOR))
        elapsed = time.monotonic() - started
    finally:
        _WATCHED.clear()
    assert internal.paths == [] and _OPENED == [], "the $ref was fetched"
    payload = answer["startRun"]
    assert payload["run"] is None
    assert [(e["path"], e["code"]) for e in payload["errors"]] == [(["input"], "UNUSABLE_SCHEMA")]
    assert "publish again" in payload["errors"][0]["message"]
    assert INTERNAL_SECRET not in json.dumps(answer)
    assert elapsed < HANG_S, f"startRun waited {elapsed:.1f} s"


async def test_a_webhook_delivery_never_fetches_a_stored_remote_ref(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture, http: httpx.AsyncClient, internal: Internal
) -> None:
    schema = {"type": "object", "properties": {"a": {"$ref": f"{internal.url}/internal/config.json"}}}
    workflow_id = await stored_before_the_checks(state, tenant, with_input_schema(schema, "trigger.webhook"))
    for auth in ("STANDARD", "NONE"):
        made = await gql.data(CREATE_HOOK, {"w": str(workflow_id), "input": {"auth": auth}}, tenant.token())
        hook = Hook(http, made["createWebhook"]["webhook"]["id"], made["createWebhook"]["secret"], workflow_id)
        body = json.dumps({"a": "x"}).encode()
        response = await hook.post(body, hook.standard(body) if auth == "STANDARD" else {})
        assert internal.paths == [], "the $ref was fetched"
        assert response.status_code == 422, response.text
        assert response.json()["problems"][0]["code"] == "UNUSABLE_SCHEMA"
        assert INTERNAL_SECRET not in response.text


async def test_decide_human_task_never_fetches_a_stored_remote_ref(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture, internal: Internal
) -> None:
    form = {"type": "object", "properties": {"reason": {"$ref": f"{internal.url}/internal/config.json"}}}
    workflow_id = await stored_before_the_checks(state, tenant, approval_flow(form_schema=form))
    run, _ = await state.control.start_run(tenant.id, "test", workflow_id, input={"amount": 7})
    await wait_for(state, tenant.id, run.id, {RunStatus.WAITING})  # the stored version still runs
    async with state.sessions() as s:
        task = await s.scalar(sa.select(models.HumanTask).where(models.HumanTask.run_id == run.id))
    assert task is not None
    decided = await gql.data(
        DECIDE, {"id": str(task.id), "decision": "APPROVE", "data": {"reason": "x"}}, tenant.token(Role.APPROVER)
    )
    assert internal.paths == [], "the $ref was fetched"
    errors = decided["decideHumanTask"]["errors"]
    assert [(e["path"], e["code"]) for e in errors] == [(["data"], "UNUSABLE_SCHEMA")]
    assert INTERNAL_SECRET not in json.dumps(decided)


async def test_an_agent_tool_call_never_fetches_a_stored_remote_ref(
    state: AppState, tenant: TenantFixture, target: Target, internal: Internal, model: FakeModel
) -> None:
    await openai(state, tenant, model)
    model.script += [{"tool_calls": [("lookup", {"id": "x"})]}, {"content": "done"}]
    tool = {
        "kind": "http",
        "name": "lookup",
        "description": "Look an order up.",
        "parameters": {"type": "object", "properties": {"id": {"$ref": f"{internal.url}/internal/config.json"}}},
        "request": {"url": target.url + "/echo"},
    }
    definition = chain(node("agent", "agent", model="m", credential="llm", instructions="Help.", tools=[tool]))
    workflow_id = await stored_before_the_checks(state, tenant, definition)
    run, _ = await state.control.start_run(tenant.id, "test", workflow_id)
    finished = await wait_for(state, tenant.id, run.id)
    assert internal.paths == [], "the $ref was fetched"
    assert finished.run.status is RunStatus.SUCCEEDED, finished.steps["agent"].error
    [reply] = [m for m in model.requests[1]["messages"] if m["role"] == "tool"]
    assert "parameter schema cannot be used" in reply["content"]
    assert INTERNAL_SECRET not in json.dumps(model.requests)
    assert target.seen == [], "the tool ran with arguments no schema checked"


# -- 2. ReDoS: linear time, whatever the pattern ---------------------------------------------------------


async def _healthz_gaps(http: httpx.AsyncClient, stop: asyncio.Event) -> float:
    """The longest wait between two /healthz answers until ``stop``: how long the event loop was blocked."""
    longest, last = 0.0, time.monotonic()
    while not stop.is_set():
        assert (await http.get("/healthz")).status_code == 200
        now = time.monotonic()
        longest, last = max(longest, now - last), now
        await asyncio.sleep(0.01)
    return longest


async def test_redos_through_start_run_answers_at_once(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture, http: httpx.AsyncClient
) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string", "pattern": REDOS}}}
    workflow_id = await publish(state, tenant, with_input_schema(schema))
    stop = asyncio.Event()
    gaps = asyncio.create_task(_healthz_gaps(http, stop))
    started = time.monotonic()
    answer = await gql.data(START, {"w": str(workflow_id), "input": {"a": EVIL}}, tenant.token(Role.OPERATOR))
    elapsed = time.monotonic() - started
    stop.set()
    assert elapsed < HANG_S, f"startRun took {elapsed:.1f} s"  # a backtracking engine: forever
    assert await gaps < HANG_S  # the event loop blocked by a backtracking match: forever
    [error] = answer["startRun"]["errors"]
    assert error["path"] == ["input", "a"] and error["code"] == "INVALID_INPUT"
    assert error["message"].startswith('"aaaa') and "does not match the pattern" in error["message"]
    assert len(error["message"]) < 200, "the echo is capped"
    fine = await gql.data(START, {"w": str(workflow_id), "input": {"a": "aaa"}}, tenant.token(Role.OPERATOR))
    assert fine["startRun"]["errors"] == []


async def test_redos_through_an_unsigned_webhook_answers_at_once(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture, http: httpx.AsyncClient
) -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string", "pattern": REDOS}},
        "patternProperties": {REDOS: {"type": "integer"}},
        "additionalProperties": {"type": "string"},
    }
    workflow_id = await publish(state, tenant, with_input_schema(schema, "trigger.webhook"))
    made = await gql.data(CREATE_HOOK, {"w": str(workflow_id), "input": {"auth": "NONE"}}, tenant.token())
    hook = Hook(http, made["createWebhook"]["webhook"]["id"], None, workflow_id)
    for body in ({"name": EVIL}, {EVIL: 1}):
        started = time.monotonic()
        response = await hook.post(json.dumps(body).encode(), {})
        elapsed = time.monotonic() - started
        assert elapsed < HANG_S, f"the delivery took {elapsed:.1f} s"
        assert response.status_code == 422, response.text
    accepted = await hook.post(json.dumps({"name": "aaa", "aa": 1, "other": "x"}).encode(), {})
    assert accepted.status_code == 202, accepted.text


async def test_redos_through_a_message_trigger_answers_at_once(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture
) -> None:
    channel = f"redos-{uuid.uuid4().hex[:6]}"

    def listener(pattern: str) -> dict[str, Any]:
        definition = chain(node("echo", "transform", value="{{ input.text }}"))
        definition["nodes"][0].update(type="trigger.message", config={"channel": channel, "pattern": pattern})
        return definition

    await publish(state, tenant, listener(REDOS), name="redos")
    refunds = await publish(state, tenant, listener("(?i)refund"), name="refunds")
    started = time.monotonic()
    sent = (await gql.data(SEND, {"c": channel, "t": EVIL}, tenant.token(Role.OPERATOR)))["sendMessage"]
    elapsed = time.monotonic() - started
    assert elapsed < HANG_S, f"sendMessage took {elapsed:.1f} s"
    assert sent["errors"] == [] and sent["runs"] == []
    matched = await gql.data(SEND, {"c": channel, "t": "a REFUND please"}, tenant.token(Role.OPERATOR))
    [run] = matched["sendMessage"]["runs"]
    finished = await wait_for(state, tenant.id, uuid.UUID(run["id"]))
    assert finished.run.workflow_id == refunds


async def test_a_pattern_re2_refuses_is_a_problem_at_publish(gql: GraphQLClient, tenant: TenantFixture) -> None:
    message = chain(node("echo", "transform", value=1))
    message["nodes"][0].update(type="trigger.message", config={"channel": "c", "pattern": "(("})
    cases = [
        (
            with_input_schema({"type": "object", "properties": {"a": {"type": "string", "pattern": "(("}}}),
            ["nodes", "0", "config", "input_schema", "properties", "a", "pattern"],
        ),
        (
            with_input_schema({"type": "object", "patternProperties": {"(?=x)": {}}}),
            ["nodes", "0", "config", "input_schema", "patternProperties", "(?=x)"],
        ),
        (message, ["nodes", "0", "config", "pattern"]),
    ]
    for definition, path in cases:
        created = await gql.data(CREATE, {"input": {"name": "p", "definition": definition}}, tenant.token())
        errors = created["createWorkflow"]["errors"]
        assert [(e["path"], e["code"]) for e in errors] == [(path, "INVALID_PATTERN")], errors
        assert "RE2" in errors[0]["message"]


async def test_a_stored_invalid_pattern_is_a_422_not_a_500(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture, http: httpx.AsyncClient
) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string", "pattern": "(("}}}
    workflow_id = await stored_before_the_checks(state, tenant, with_input_schema(schema, "trigger.webhook"))
    made = await gql.data(CREATE_HOOK, {"w": str(workflow_id), "input": {"auth": "NONE"}}, tenant.token())
    hook = Hook(http, made["createWebhook"]["webhook"]["id"], None, workflow_id)
    response = await hook.post(b'{"a": "x"}', {})
    assert response.status_code == 422, response.text
    assert response.json()["problems"][0]["code"] == "UNUSABLE_SCHEMA"
    assert "publish again" in response.json()["problems"][0]["message"]


async def test_a_stored_message_pattern_re2_refuses_listens_to_nothing(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture, caplog: pytest.LogCaptureFixture
) -> None:
    channel = f"old-{uuid.uuid4().hex[:6]}"
    definition = chain(node("echo", "transform", value=1))
    definition["nodes"][0].update(type="trigger.message", config={"channel": channel, "pattern": "(?=x)x"})
    await stored_before_the_checks(state, tenant, definition)
    with caplog.at_level(logging.WARNING, logger="studio.messaging"):
        sent = (await gql.data(SEND, {"c": channel, "t": "x"}, tenant.token(Role.OPERATOR)))["sendMessage"]
    assert sent["errors"] == [] and sent["runs"] == []
    assert any("listens to nothing" in r.getMessage() for r in caplog.records)


# -- the corpus (tests/corpora/schemas.json; the reliability scenario hostile-schemas runs it too) ----------

CORPUS = schema_corpus.load()


@pytest.mark.parametrize("entry", CORPUS, ids=[e["id"] for e in CORPUS])
async def test_the_hostile_schema_corpus(
    gql: GraphQLClient,
    state: AppState,
    tenant: TenantFixture,
    http: httpx.AsyncClient,
    internal: Internal,
    tmp_path: Path,
    entry: dict[str, Any],
) -> None:
    secret_file = tmp_path / "config.json"
    secret_file.write_text(json.dumps({"const": INTERNAL_SECRET}))
    channel = f"corpus-{uuid.uuid4().hex[:8]}"
    definition = schema_corpus.definition(entry, internal.url, secret_file.as_uri(), channel)
    problems = (await gql.data(VALIDATE, {"d": definition}, tenant.token(Role.EDITOR)))["validateDefinition"]
    assert [(p["path"], p["code"]) for p in problems] == schema_corpus.save_problems(entry), problems
    workflow_id = await stored_before_the_checks(state, tenant, definition)
    answers: list[str] = []
    started = time.monotonic()
    if entry["trigger"] == "message":
        sent = await gql.data(SEND, {"c": channel, "t": schema_corpus.text(entry["text"])}, tenant.token(Role.OPERATOR))
        assert sent["sendMessage"]["errors"] == []
        assert len(sent["sendMessage"]["runs"]) == entry["runs"]
    else:
        body = schema_corpus.input_json(entry, internal.url, secret_file.as_uri())
        answer = await gql.data(START, {"w": str(workflow_id), "input": json.loads(body)}, tenant.token(Role.OPERATOR))
        codes = [e["code"] for e in answer["startRun"]["errors"]]
        assert codes == [] if entry["use"] == "accepted" else codes[:1] == [entry["use"]], answer
        made = await gql.data(CREATE_HOOK, {"w": str(workflow_id), "input": {"auth": "NONE"}}, tenant.token())
        hook = Hook(http, made["createWebhook"]["webhook"]["id"], None, workflow_id)
        delivered = await hook.post(body.encode(), {})
        if entry["use"] == "accepted":
            assert delivered.status_code == 202, delivered.text
        else:
            assert delivered.status_code == 422, delivered.text
            assert delivered.json()["problems"][0]["code"] == entry["use"]
        answers += [json.dumps(answer), delivered.text]
    elapsed = time.monotonic() - started
    assert internal.paths == [], "a $ref was fetched"
    assert not any(INTERNAL_SECRET in a for a in answers)
    assert elapsed < HANG_S, f"{elapsed:.1f} s"  # the old code: minutes to forever
