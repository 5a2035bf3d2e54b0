"""Nodes with effects, end to end from published workflows (in the mode of this pass): http.request, llm.chat,
agent, artifact.write and message.reply against real local servers, with credentials resolved per tenant."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from studio_gql.state import AppState
from studio_shared.auth import Principal
from studio_shared.db import models
from studio_shared.rbac import Role
from studio_shared.store import credentials
from studio_worker.nodes.base import NodeContext
from studio_worker.nodes.llm import complete, model_credential
from studio_worker.nodes.services import NodeServices
from tests.conftest import GraphQLClient, TenantFixture
from tests.servers import FakeModel, Target, serve
from tests.worker.engine_harness import Finished, chain, publish, run_once

pytestmark = pytest.mark.usefixtures("workers")
TOKEN = "tok-3d9f1b7c2a6e4"  # a credential value: it must never show up in anything a run records


def node(id: str, type: str, **config: Any) -> dict[str, Any]:
    return {"id": id, "type": type, "config": config}


@pytest.fixture(scope="module")
async def target() -> AsyncIterator[Target]:
    server = Target()
    async with serve(server.app()) as url:
        server.url = url
        yield server


@pytest.fixture(autouse=True)
def fresh(target: Target, model: FakeModel) -> None:
    target.seen.clear()
    model.script.clear()
    model.requests.clear()
    model.headers.clear()


async def add_credential(
    state: AppState, tenant: TenantFixture, name: str, kind: str, value: dict[str, Any], hosts: list[str] | None = None
) -> None:
    actor = Principal(tenant_id=tenant.id, role=Role.ADMIN, user_id=tenant.users[Role.ADMIN])
    async with state.sessions.begin() as s:
        await credentials.create(s, state.box, tenant.id, actor, name, kind, value, hosts)


async def test_llm_json_mode_refuses_an_answer_holding_nan(
    state: AppState, tenant: TenantFixture, model: FakeModel
) -> None:
    await openai(state, tenant, model)
    model.script.append({"content": '{"score": NaN}'})
    chat = node(
        "chat",
        "llm.chat",
        model="gpt-test",
        credential="llm",
        json=True,
        messages=[{"role": "user", "content": "Rate it."}],
    )
    finished = await run_once(state, tenant, chain(chat))
    assert finished.steps["chat"].error["type"] == "InvalidModelOutput"
    assert finished.run.status.value == "FAILED"


async def openai(state: AppState, tenant: TenantFixture, model: FakeModel) -> None:
    await add_credential(state, tenant, "llm", "openai", {"api_key": TOKEN, "base_url": f"{model.url}/v1"})


def recorded_text(finished: Finished) -> str:
    """Everything the run recorded about its steps and events, as one string to search."""
    parts: list[Any] = [finished.run.output, finished.run.error]
    for step in finished.steps.values():
        parts += [step.output, step.error, step.envelope, step.input, step.state]
    parts += [event.data for event in finished.events]
    return json.dumps(parts, default=str)


# -- http.request ------------------------------------------------------------------------------------------


async def test_http_request_sends_credential_query_and_idempotency_key(
    state: AppState, tenant: TenantFixture, target: Target
) -> None:
    await add_credential(state, tenant, "api", "bearer", {"token": TOKEN})
    call = node(
        "call",
        "http.request",
        method="POST",
        url=f"{target.url}/echo",
        query={"q": "{{ input.q }}", "flag": True},
        headers={"X-Run": "{{ run.id }}"},
        body={"n": "{{ input.n }}"},
        credential="api",
    )
    finished = await run_once(state, tenant, chain(call), input={"q": "a b", "n": 3})
    assert finished.run.status.value == "SUCCEEDED", finished.steps["call"].error
    output = finished.steps["call"].output
    assert output["status"] == 200 and output["headers"]["content-type"] == "application/json"
    assert output["body"]["query"] == {"q": "a b", "flag": "true"}
    assert json.loads(output["body"]["body"]) == {"n": 3}
    [seen] = target.seen
    assert seen.headers["authorization"] == f"Bearer {TOKEN}"
    assert seen.headers["x-run"] == str(finished.run.id)
    assert seen.headers["idempotency-key"] == f"{finished.run.id}:call:0"
    # The target echoed the Authorization header back; the recorded output has it masked.
    assert output["body"]["headers"]["authorization"] == "[REDACTED]"
    assert TOKEN not in recorded_text(finished)


@pytest.mark.parametrize(
    ("body_type", "body", "content_type", "sent"),
    [
        ("form", {"a": "1", "b": "{{ input.x }}"}, "application/x-www-form-urlencoded", "a=1&b=y"),
        ("text", "hello {{ input.x }}", None, "hello y"),
    ],
)
async def test_http_request_body_encodings(
    state: AppState,
    tenant: TenantFixture,
    target: Target,
    body_type: str,
    body: Any,
    content_type: str | None,
    sent: str,
) -> None:
    call = node("call", "http.request", method="PUT", url=f"{target.url}/echo", body=body, body_type=body_type)
    finished = await run_once(state, tenant, chain(call), input={"x": "y"})
    assert finished.run.status.value == "SUCCEEDED", finished.steps["call"].error
    assert target.seen[0].body.decode() == sent
    if content_type:
        assert target.seen[0].headers["content-type"] == content_type


async def test_http_text_response_and_parse_modes(state: AppState, tenant: TenantFixture, target: Target) -> None:
    text = node("text", "http.request", url=f"{target.url}/text")
    strict = node("strict", "http.request", url=f"{target.url}/text", parse="json")
    finished = await run_once(state, tenant, chain(text, strict))
    assert finished.steps["text"].output["body"] == "plain words"
    assert finished.steps["strict"].error["type"] == "InvalidResponse"


async def test_a_response_with_nan_or_infinity_is_not_json(
    state: AppState, tenant: TenantFixture, target: Target
) -> None:
    """Python's parser takes NaN and Infinity; JSON has neither, and one in a step's output could not be stored:
    in the auto mode such a body stays text, and the json mode refuses it."""
    auto = node("auto", "http.request", url=f"{target.url}/nonfinite")
    strict = node("strict", "http.request", url=f"{target.url}/nonfinite", parse="json")
    finished = await run_once(state, tenant, chain(auto, strict))
    assert finished.steps["auto"].output["body"] == '{"price": NaN, "limits": [Infinity, -Infinity], "big": 1e999}'
    assert finished.steps["strict"].error["type"] == "InvalidResponse"
    assert finished.run.status.value == "FAILED"


@pytest.mark.parametrize(
    ("path", "config", "error_type", "attempts"),
    [
        ("/status/404", {}, "HttpStatus", 1),  # a client error is not retried
        ("/status/503", {}, "HttpStatus", 2),  # a server error is (the node has two attempts)
        ("/status/429", {}, "HttpStatus", 2),
        ("/slow?s=3", {"timeout_s": 0.3}, "Timeout", 2),
        ("/big?bytes=200000", {"max_response_bytes": 5000}, "ResponseTooLarge", 1),
        ("/redirect?hops=6", {}, "TooManyRedirects", 1),
    ],
)
async def test_http_failures_are_typed_and_retried_only_when_it_may_help(
    state: AppState,
    tenant: TenantFixture,
    target: Target,
    path: str,
    config: dict[str, Any],
    error_type: str,
    attempts: int,
) -> None:
    call = {
        **node("call", "http.request", url=f"{target.url}{path}", **config),
        "retry": {"max_attempts": 2, "initial_interval_s": 0.05, "jitter": False},
    }
    finished = await run_once(state, tenant, chain(call))
    step = finished.steps["call"]
    assert finished.run.status.value == "FAILED"
    assert step.error["type"] == error_type, step.error
    assert step.attempt == attempts


async def test_http_status_errors_can_be_outputs(state: AppState, tenant: TenantFixture, target: Target) -> None:
    call = node("call", "http.request", url=f"{target.url}/status/404", fail_on_status=False)
    finished = await run_once(state, tenant, chain(call))
    assert finished.steps["call"].output["status"] == 404
    assert finished.steps["call"].output["body"] == {"error": "status 404"}


async def test_redirects_are_followed_within_the_limit(state: AppState, tenant: TenantFixture, target: Target) -> None:
    call = node("call", "http.request", method="POST", url=f"{target.url}/redirect?hops=5&code=307", body={"k": 1})
    finished = await run_once(state, tenant, chain(call))
    assert finished.run.status.value == "SUCCEEDED", finished.steps["call"].error
    assert json.loads(finished.steps["call"].output["body"]["body"]) == {"k": 1}  # 307 keeps method and body
    assert len(target.seen) == 6


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://[::1]:{port}/echo",
        "http://localhost:{port}/echo",
        "http://[::ffff:127.0.0.2]:{port}/echo",
        "http://2130706434:{port}/echo",
        "file:///etc/passwd",
        "http://user:pw@127.0.0.1:{port}/echo",
        "{url}/redirect?to=http://169.254.169.254/",
        "{url}/redirect?to=http://[::1]:{port}/echo",
        "{url}/redirect?to=file:///etc/passwd",
    ],
)
async def test_ssrf_through_the_node_is_refused(
    state: AppState, tenant: TenantFixture, target: Target, url: str
) -> None:
    port = httpx.URL(target.url).port
    call = node("call", "http.request", url=url.format(url=target.url, port=port))
    finished = await run_once(state, tenant, chain(call))
    error = finished.steps["call"].error
    assert finished.run.status.value == "FAILED"
    assert error["type"] == "EgressDenied", error
    assert error["retryable"] is False
    assert all(seen.path == "/redirect" for seen in target.seen), "a blocked address was reached"


async def test_credential_goes_only_to_its_allowed_hosts(
    state: AppState, tenant: TenantFixture, target: Target
) -> None:
    await add_credential(state, tenant, "pinned", "bearer", {"token": TOKEN}, hosts=["api.example.org"])
    direct = node("direct", "http.request", url=f"{target.url}/echo", credential="pinned")
    finished = await run_once(state, tenant, chain(direct))
    assert finished.steps["direct"].error["type"] == "CredentialHostNotAllowed"
    assert target.seen == []


async def test_credential_is_not_followed_through_a_redirect_elsewhere(
    state: AppState, tenant: TenantFixture, target: Target
) -> None:
    await add_credential(state, tenant, "local", "header", {"name": "X-Api-Key", "value": TOKEN}, hosts=["127.0.0.1"])
    hop = node("hop", "http.request", url=f"{target.url}/redirect?to=http://elsewhere.example/", credential="local")
    finished = await run_once(state, tenant, chain(hop))
    assert finished.steps["hop"].error["type"] == "EgressDenied"
    assert [seen.path for seen in target.seen] == ["/redirect"]
    assert target.seen[0].headers["x-api-key"] == TOKEN


async def test_unknown_and_foreign_credentials_read_the_same(
    state: AppState, tenant: TenantFixture, other_tenant: TenantFixture, target: Target
) -> None:
    await add_credential(state, other_tenant, "theirs", "bearer", {"token": TOKEN})
    for name in ("theirs", "nobody"):
        call = node("call", "http.request", url=f"{target.url}/echo", credential=name)
        finished = await run_once(state, tenant, chain(call))
        assert finished.steps["call"].error == {
            "type": "CredentialNotFound",
            "message": f"no credential named {name!r}: create it, or fix config.credential",
            "retryable": False,
        }
    assert target.seen == []


# -- llm.chat ----------------------------------------------------------------------------------------------


USAGE = "query($id: ID!) { run(id: $id) { usage { calls promptTokens completionTokens totalTokens costUsd } } }"


async def test_llm_chat_json_mode_and_usage(
    state: AppState, tenant: TenantFixture, model: FakeModel, gql: GraphQLClient
) -> None:
    await openai(state, tenant, model)
    model.script.append({"content": '{"label": "bug"}'})
    chat = node(
        "chat",
        "llm.chat",
        model="gpt-test",
        credential="llm",
        json=True,
        temperature=0,
        messages=[{"role": "system", "content": "Classify."}, {"role": "user", "content": "{{ input.text }}"}],
    )
    finished = await run_once(state, tenant, chain(chat), input={"text": "it crashes"})
    assert finished.run.status.value == "SUCCEEDED", finished.steps["chat"].error
    output = finished.steps["chat"].output
    budgets = output["usage"].pop("budgets")  # used against each limit: tests/worker/test_llm_spend.py
    assert output == {
        "text": '{"label": "bug"}',
        "json": {"label": "bug"},
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }
    assert budgets["step"]["tokens"] == budgets["run"]["tokens"] == budgets["tenant_day"]["tokens"] == 15
    [request] = model.requests
    assert request["messages"][1] == {"role": "user", "content": "it crashes"}
    assert request["response_format"] == {"type": "json_object"} and request["temperature"] == 0
    assert model.headers[0]["authorization"] == f"Bearer {TOKEN}"
    async with state.sessions() as s:
        calls = list(await s.scalars(sa.select(models.LlmCall).where(models.LlmCall.run_id == finished.run.id)))
    assert [(c.model, c.prompt_tokens, c.completion_tokens) for c in calls] == [("gpt-test", 10, 5)]
    usage = (await gql.data(USAGE, {"id": str(finished.run.id)}, tenant.token(Role.VIEWER)))["run"]["usage"]
    # Priced per million tokens in the test settings: 10 x 1.0 + 5 x 2.0.
    assert usage == {"calls": 1, "promptTokens": 10, "completionTokens": 5, "totalTokens": 15, "costUsd": 2e-05}
    tenant_usage = (await gql.data("{ usage { calls totalTokens } }", token=tenant.token(Role.VIEWER)))["usage"]
    assert tenant_usage == {"calls": 1, "totalTokens": 15}


async def test_llm_rate_limit_is_absorbed_and_errors_are_clear(
    state: AppState, tenant: TenantFixture, model: FakeModel
) -> None:
    await openai(state, tenant, model)
    model.script += [{"status": 429, "headers": {"Retry-After": "0"}}, {"content": "fine"}]
    chat = node("chat", "llm.chat", model="m", credential="llm", messages=[{"role": "user", "content": "hi"}])
    finished = await run_once(state, tenant, chain(chat))
    assert finished.steps["chat"].output["text"] == "fine"
    assert len(model.requests) == 2
    model.script.append({"status": 400, "message": "model 'm' does not exist"})
    finished = await run_once(state, tenant, chain(chat))
    assert finished.steps["chat"].error["type"] == "ModelError"
    assert "model 'm' does not exist" in finished.steps["chat"].error["message"]


async def test_model_answers_are_memoized_per_step_and_call(
    state: AppState, tenant: TenantFixture, model: FakeModel
) -> None:
    """A step executed again (a worker died after the model answered) gets the stored answer, unbilled."""
    await openai(state, tenant, model)
    finished = await run_once(state, tenant, chain(node("noop", "transform", value=1)))
    services = NodeServices(state.settings, state.db_engine)
    ctx = NodeContext(
        tenant_id=tenant.id,
        run_id=finished.run.id,
        step_id="noop",
        node_type="llm.chat",
        attempt=1,
        idempotency_key=f"{finished.run.id}:noop:0",
        scope={},
        raw_config={},
        services=services,
    )
    try:
        credential = await model_credential(ctx, {"credential": "llm"})
        request = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        first = await complete(ctx, credential, request)
        assert await complete(ctx, credential, request) == first
        assert len(model.requests) == 1
        await complete(ctx, credential, {**request, "temperature": 0})  # another request is asked again
        await complete(ctx, credential, request, index=1)  # so is the step's next call
        assert len(model.requests) == 3
    finally:
        await services.close()


async def test_llm_needs_an_openai_credential(state: AppState, tenant: TenantFixture, model: FakeModel) -> None:
    await add_credential(state, tenant, "plain", "bearer", {"token": TOKEN})
    chat = node("chat", "llm.chat", model="m", credential="plain", messages=[{"role": "user", "content": "hi"}])
    finished = await run_once(state, tenant, chain(chat))
    assert finished.steps["chat"].error["type"] == "InvalidConfig"
    assert model.requests == []


# -- agent -------------------------------------------------------------------------------------------------


async def test_agent_calls_http_tools_and_answers(
    state: AppState, tenant: TenantFixture, model: FakeModel, target: Target
) -> None:
    await openai(state, tenant, model)
    model.script += [
        {"tool_calls": [("lookup", {"id": 7}), ("missing", {})]},
        {"tool_calls": [("lookup", {"id": "not a number"})]},
        {"content": "order 7 shipped"},
    ]
    tool = {
        "kind": "http",
        "name": "lookup",
        "description": "Look an order up.",
        "parameters": {"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}},
        "request": {"method": "GET", "url": target.url + "/echo?order={{ args.id }}"},
    }
    agent = node("agent", "agent", model="m", credential="llm", instructions="Help with {{ input.q }}", tools=[tool])
    finished = await run_once(state, tenant, chain(agent), input={"q": "orders"})
    step = finished.steps["agent"]
    assert finished.run.status.value == "SUCCEEDED", step.error
    assert step.output["answer"] == "order 7 shipped"
    assert {k: v for k, v in step.output["usage"].items() if k != "budgets"} == {
        "prompt_tokens": 30,
        "completion_tokens": 15,
        "total_tokens": 45,
    }
    assert step.output["usage"]["budgets"]["step"]["tokens"] == 45, "every call of the step counted"
    assert [seen.path for seen in target.seen] == ["/echo"]  # the invalid call never left
    second = model.requests[1]["messages"]
    assert second[0] == {"role": "system", "content": "Help with orders"}
    tool_replies = [m for m in second if m["role"] == "tool"]
    assert json.loads(tool_replies[0]["content"])["body"]["query"] == {"order": "7"}
    assert "no tool named 'missing'" in tool_replies[1]["content"]
    third = [m for m in model.requests[2]["messages"] if m["role"] == "tool"]
    assert "invalid arguments" in third[-1]["content"]
    assert model.requests[0]["tools"][0]["function"]["name"] == "lookup"
    calls = [e.data for e in finished.events if e.kind == "step.tool_call"]
    assert [c["tool"] for c in calls] == ["lookup", "missing", "lookup"]
    assert calls[0]["arguments"] == {"id": 7}


async def test_agent_runs_workflow_tools_as_child_runs(
    state: AppState, tenant: TenantFixture, model: FakeModel
) -> None:
    await openai(state, tenant, model)
    doubler = chain(node("double", "transform", value="{{ input.n * 2 }}"))
    doubler["nodes"][0]["config"] = {
        "input_schema": {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}}
    }
    child_id = await publish(state, tenant, doubler, name="double")
    model.script += [{"tool_calls": [("double", {"n": 21})]}, {"content": "42"}]
    tool = {"kind": "workflow", "name": "double", "description": "Doubles n.", "workflow": str(child_id)}
    agent = node("agent", "agent", model="m", credential="llm", instructions="Double 21.", tools=[tool])
    finished = await run_once(state, tenant, chain(agent))
    assert finished.run.status.value == "SUCCEEDED", finished.steps["agent"].error
    assert finished.steps["agent"].output["answer"] == "42"
    declared = model.requests[0]["tools"][0]["function"]
    assert declared["parameters"]["required"] == ["n"]  # the child's input schema is the tool's parameters
    [reply] = [m for m in model.requests[1]["messages"] if m["role"] == "tool"]
    assert json.loads(reply["content"]) == {"output": {"double": 42}}
    async with state.sessions() as s:
        children = list(await s.scalars(sa.select(models.Run).where(models.Run.parent_run_id == finished.run.id)))
    assert [(c.parent_step_id, c.status.value, c.input) for c in children] == [("agent", "SUCCEEDED", {"n": 21})]


async def test_a_workflow_tool_past_its_timeout_is_cancelled_and_reported(
    state: AppState, tenant: TenantFixture, model: FakeModel
) -> None:
    await openai(state, tenant, model)
    slow = await publish(state, tenant, chain(node("wait", "delay", seconds=3600)), name="slow")
    model.script += [{"tool_calls": [("slow", {})]}, {"content": "gave up"}]
    tool = {"kind": "workflow", "name": "slow", "description": "Takes an hour.", "workflow": str(slow)}
    agent = node("agent", "agent", model="m", credential="llm", instructions="Try.", tools=[tool], tool_timeout_s=0.5)
    finished = await run_once(state, tenant, chain(agent))
    assert finished.steps["agent"].output["answer"] == "gave up", finished.steps["agent"].error
    assert len(model.requests) == 2, "the model is not asked again when the resume repeats"
    [reply] = [m for m in model.requests[1]["messages"] if m["role"] == "tool"]
    assert "did not finish in time" in reply["content"]
    async with state.sessions() as s:
        [child] = await s.scalars(sa.select(models.Run).where(models.Run.parent_run_id == finished.run.id))
    assert child.cancel_requested_at is not None


async def test_agent_stops_at_max_iterations(state: AppState, tenant: TenantFixture, model: FakeModel) -> None:
    await openai(state, tenant, model)
    model.script += [{"tool_calls": [("nothing", {})]}] * 3
    agent = node("agent", "agent", model="m", credential="llm", instructions="Loop.", max_iterations=2)
    finished = await run_once(state, tenant, chain(agent))
    assert finished.steps["agent"].error["type"] == "MaxIterations"
    assert len(model.requests) == 2


# -- artifacts and messages --------------------------------------------------------------------------------


ARTIFACTS = """query($id: ID!) { run(id: $id) { artifacts { id name contentType size sha256 stepId downloadUrl } } }"""


async def test_artifacts_download_by_token_or_signed_link_and_nowhere_else(
    state: AppState, tenant: TenantFixture, other_tenant: TenantFixture, gql: GraphQLClient, http: httpx.AsyncClient
) -> None:
    write = node(
        "write",
        "artifact.write",
        name="../../report {{ input.n }}.md",
        content="# {{ input.n }}",
        content_type="text/markdown",
    )
    finished = await run_once(state, tenant, chain(write), input={"n": 5})
    output = finished.steps["write"].output
    assert output["size"] == 3
    [artifact] = (await gql.data(ARTIFACTS, {"id": str(finished.run.id)}, tenant.token(Role.VIEWER)))["run"][
        "artifacts"
    ]
    assert artifact["id"] == output["artifact_id"] and artifact["name"] == "../../report 5.md"
    assert artifact["contentType"] == "text/markdown" and artifact["sha256"] == output["sha256"]
    async with state.sessions() as s:
        key = await s.scalar(
            sa.select(models.Artifact.storage_key).where(models.Artifact.id == uuid.UUID(artifact["id"]))
        )
    assert key is not None and key.startswith(f"{tenant.id}/{finished.run.id}/write/") and len(key.split("/")) == 4

    by_link = await http.get(artifact["downloadUrl"])
    assert by_link.status_code == 200 and by_link.content == b"# 5"
    assert by_link.headers["content-type"].startswith("text/markdown")
    assert by_link.headers["content-disposition"].startswith("attachment")
    # The route's own sandbox policy, not the app's (the security-headers middleware only fills in what is unset).
    assert by_link.headers["content-security-policy"] == "sandbox; default-src 'none'"
    assert by_link.headers["referrer-policy"] == "no-referrer"
    by_token = await http.get(
        f"/artifacts/{artifact['id']}", headers={"Authorization": f"Bearer {tenant.token(Role.VIEWER)}"}
    )
    assert by_token.content == b"# 5"

    tampered = artifact["downloadUrl"].replace("signature=", "signature=x")
    expired = (
        artifact["downloadUrl"].split("?")[0] + "?expires=1&signature=" + artifact["downloadUrl"].split("signature=")[1]
    )
    for url, headers in [
        (f"/artifacts/{artifact['id']}", {"Authorization": f"Bearer {other_tenant.token()}"}),
        (f"/artifacts/{artifact['id']}", {}),
        (tampered, {}),
        (expired, {}),
        (f"/artifacts/{uuid.uuid4()}", {"Authorization": f"Bearer {tenant.token()}"}),
        ("/artifacts/not-an-id", {"Authorization": f"Bearer {tenant.token()}"}),
    ]:
        response = await http.get(url, headers=headers)
        assert response.status_code == 404, url
        assert response.json()["error"] == "not_found"
    foreign = await gql.data(ARTIFACTS, {"id": str(finished.run.id)}, other_tenant.token())
    assert foreign["run"] is None


DELETE_RUN = "mutation($id: ID!) { deleteRun(id: $id) { deletedId errors { path message code } } }"


async def test_deleting_a_run_removes_its_artifacts_and_files(
    state: AppState, tenant: TenantFixture, gql: GraphQLClient, http: httpx.AsyncClient
) -> None:
    child = await publish(state, tenant, chain(node("file", "artifact.write", name="child.txt", content="c")), name="c")
    parent = chain(
        node("file", "artifact.write", name="parent.txt", content="p"),
        node("sub", "subworkflow", workflow=str(child)),
    )
    finished = await run_once(state, tenant, parent)
    assert finished.run.status.value == "SUCCEEDED", {k: v.error for k, v in finished.steps.items()}
    async with state.sessions() as s:
        keys = list(
            await s.scalars(sa.select(models.Artifact.storage_key).where(models.Artifact.tenant_id == tenant.id))
        )
        [child_run] = await s.scalars(sa.select(models.Run.id).where(models.Run.parent_run_id == finished.run.id))
    root = Path(state.settings.storage_url.removeprefix("file://"))
    assert len(keys) == 2 and all((root / key).exists() for key in keys)

    as_editor = tenant.token(Role.EDITOR)
    refused = (await gql.data(DELETE_RUN, {"id": str(child_run)}, as_editor))["deleteRun"]
    assert [e["code"] for e in refused["errors"]] == ["CONFLICT"] and "parent run" in refused["errors"][0]["message"]
    deleted = (await gql.data(DELETE_RUN, {"id": str(finished.run.id)}, as_editor))["deleteRun"]
    assert deleted == {"deletedId": str(finished.run.id), "errors": []}
    assert not any((root / key).exists() for key in keys)
    async with state.sessions() as s:
        for table in (models.Run, models.Step, models.RunEvent, models.Artifact):
            left = await s.scalar(sa.select(sa.func.count()).select_from(table).where(table.tenant_id == tenant.id))
            assert left == 0, table.__tablename__
    again = (await gql.data(DELETE_RUN, {"id": str(finished.run.id)}, as_editor))["deleteRun"]
    assert [e["code"] for e in again["errors"]] == ["NOT_FOUND"]


async def test_a_running_run_cannot_be_deleted(state: AppState, tenant: TenantFixture, gql: GraphQLClient) -> None:
    workflow_id = await publish(state, tenant, chain(node("wait", "delay", seconds=3600)))
    run, _ = await state.control.start_run(tenant.id, "test", workflow_id)
    refused = (await gql.data(DELETE_RUN, {"id": str(run.id)}, tenant.token(Role.EDITOR)))["deleteRun"]
    assert [e["code"] for e in refused["errors"]] == ["CONFLICT"] and "cancel it first" in refused["errors"][0][
        "message"
    ]


async def test_artifact_size_limit(state: AppState, tenant: TenantFixture) -> None:
    limit = state.settings.max_artifact_bytes
    write = node("write", "artifact.write", name="big.txt", content="{{ 'x' * input.n }}")
    finished = await run_once(state, tenant, chain(write), input={"n": limit + 1})
    assert finished.steps["write"].error["type"] == "ArtifactTooLarge"
    async with state.sessions() as s:
        count = await s.scalar(
            sa.select(sa.func.count()).select_from(models.Artifact).where(models.Artifact.run_id == finished.run.id)
        )
    assert count == 0


MESSAGES = """query($c: String!) { messages(channel: $c, first: 10) {
  edges { node { text direction sender run { id } } } } }"""


async def test_message_reply_shows_in_the_channel(
    state: AppState, tenant: TenantFixture, other_tenant: TenantFixture, gql: GraphQLClient
) -> None:
    reply = node("reply", "message.reply", channel="support-{{ input.team }}", text="Hello {{ input.who }}")
    finished = await run_once(state, tenant, chain(reply), input={"team": "a", "who": "Ada"})
    assert finished.run.status.value == "SUCCEEDED", finished.steps["reply"].error
    edges = (await gql.data(MESSAGES, {"c": "support-a"}, tenant.token(Role.VIEWER)))["messages"]["edges"]
    assert [e["node"] for e in edges] == [
        {"text": "Hello Ada", "direction": "outbound", "sender": None, "run": {"id": str(finished.run.id)}}
    ]
    assert (await gql.data(MESSAGES, {"c": "support-a"}, other_tenant.token()))["messages"]["edges"] == []
