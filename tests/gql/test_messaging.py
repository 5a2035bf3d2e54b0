"""The messaging trigger: a message to a channel starts every workflow listening there; replies come back."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from studio_gql.state import AppState
from studio_shared.rbac import Role
from tests.conftest import GraphQLClient, TenantFixture
from tests.worker.engine_harness import publish, wait_for

pytestmark = pytest.mark.usefixtures("workers")

SEND = """mutation($c: String!, $t: String!, $s: String) { sendMessage(channel: $c, text: $t, sender: $s) {
  message { id channel text sender direction } runs { id trigger input } errors { path message code } } }"""
MESSAGES = """query($c: String!) { messages(channel: $c, first: 20) {
  edges { node { text direction sender run { id } } } } }"""


def listener(channel: str, pattern: str | None = None, reply: str = "echo: {{ input.text }}") -> dict[str, Any]:
    config: dict[str, Any] = {"channel": channel}
    if pattern:
        config["pattern"] = pattern
    return {
        "nodes": [
            {"id": "start", "type": "trigger.message", "config": config},
            {"id": "reply", "type": "message.reply", "config": {"channel": "{{ input.channel }}", "text": reply}},
        ],
        "edges": [{"source": "start", "target": "reply"}],
    }


async def test_a_message_starts_the_listening_workflows_and_reads_the_replies(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture, other_tenant: TenantFixture
) -> None:
    channel = f"support-{uuid.uuid4().hex[:6]}"
    everyone = await publish(state, tenant, listener(channel), name="echo")
    refunds = await publish(state, tenant, listener(channel, "^refund", "refund noted"), name="refunds")
    await publish(state, tenant, listener("elsewhere"), name="other channel")
    await publish(state, other_tenant, listener(channel), name="other tenant")  # never sees tenant's messages

    sent = (await gql.data(SEND, {"c": channel, "t": "hello", "s": "ada"}, tenant.token(Role.OPERATOR)))["sendMessage"]
    assert sent["errors"] == [] and sent["message"]["direction"] == "inbound"
    [run] = sent["runs"]
    assert run["trigger"] == "message" and run["input"]["text"] == "hello" and run["input"]["sender"] == "ada"
    await wait_for(state, tenant.id, uuid.UUID(run["id"]))

    refund = (await gql.data(SEND, {"c": channel, "t": "refund please"}, tenant.token(Role.OPERATOR)))["sendMessage"]
    assert len(refund["runs"]) == 2
    for started in refund["runs"]:
        await wait_for(state, tenant.id, uuid.UUID(started["id"]))

    edges = (await gql.data(MESSAGES, {"c": channel}, tenant.token(Role.VIEWER)))["messages"]["edges"]
    conversation = [(e["node"]["direction"], e["node"]["text"]) for e in reversed(edges)]
    assert conversation[:2] == [("inbound", "hello"), ("outbound", "echo: hello")]
    assert conversation[2] == ("inbound", "refund please")
    assert sorted(conversation[3:]) == [("outbound", "echo: refund please"), ("outbound", "refund noted")]
    assert (await gql.data(MESSAGES, {"c": channel}, other_tenant.token()))["messages"]["edges"] == []
    assert everyone != refunds


@pytest.mark.parametrize(
    ("variables", "path"),
    [
        ({"c": "bad channel!", "t": "x"}, ["channel"]),
        ({"c": "ok", "t": ""}, ["text"]),
        ({"c": "ok", "t": "x", "s": "s" * 201}, ["sender"]),
    ],
)
async def test_bad_messages_say_what_to_fix(
    gql: GraphQLClient, tenant: TenantFixture, variables: dict[str, Any], path: list[str]
) -> None:
    sent = (await gql.data(SEND, variables, tenant.token(Role.OPERATOR)))["sendMessage"]
    assert sent["message"] is None and [e["path"] for e in sent["errors"]] == [path]


async def test_the_inbound_endpoint_takes_an_api_key(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture, http: httpx.AsyncClient
) -> None:
    channel = f"chat-{uuid.uuid4().hex[:6]}"
    await publish(state, tenant, listener(channel), name="chat")
    keys = {}
    for role in (Role.OPERATOR, Role.VIEWER):
        made = await gql.data(
            'mutation($r: Role!) { createApiKey(name: "chat", role: $r) { key } }', {"r": role.value}, tenant.token()
        )
        keys[role] = made["createApiKey"]["key"]
    ok = await http.post(
        f"/messages/{channel}",
        json={"text": "hi", "sender": "bot"},
        headers={"Authorization": f"Bearer {keys[Role.OPERATOR]}"},
    )
    assert ok.status_code == 202, ok.text
    assert len(ok.json()["run_ids"]) == 1
    await wait_for(state, tenant.id, uuid.UUID(ok.json()["run_ids"][0]))
    refusals = [
        (await http.post(f"/messages/{channel}", json={"text": "hi"}), 401),
        (await http.post(f"/messages/{channel}", json={"text": "hi"}, headers={"Authorization": "Bearer nope"}), 401),
        (
            await http.post(
                f"/messages/{channel}", json={"text": "hi"}, headers={"Authorization": f"Bearer {keys[Role.VIEWER]}"}
            ),
            403,
        ),
        (
            await http.post(
                f"/messages/{channel}", content=b"hi", headers={"Authorization": f"Bearer {keys[Role.OPERATOR]}"}
            ),
            400,
        ),
        (
            await http.post(
                "/messages/bad%20channel",
                json={"text": "hi"},
                headers={"Authorization": f"Bearer {keys[Role.OPERATOR]}"},
            ),
            422,
        ),
    ]
    for response, status in refusals:
        assert response.status_code == status, response.text
        assert response.json()["message"]


async def test_an_oversized_message_body_is_refused_without_being_read_whole(
    gql: GraphQLClient, tenant: TenantFixture, http: httpx.AsyncClient, state: AppState
) -> None:
    """The attack: a huge chunked body (no Content-Length). It used to be read whole before its size was checked
    (300 MB grew the API by 267 MB); now reading stops just past the limit, and the answer is 413."""
    made = await gql.data('mutation { createApiKey(name: "big", role: OPERATOR) { key } }', None, tenant.token())
    key = made["createApiKey"]["key"]
    limit = state.settings.message_max_body_bytes
    chunk = b"x" * 65536
    total = 64 * 1024 * 1024
    sent = 0

    async def body() -> Any:
        nonlocal sent
        yield b'{"text": "'
        while sent < total:
            sent += len(chunk)
            yield chunk
        yield b'"}'

    response = await http.post(
        f"/messages/big-{uuid.uuid4().hex[:6]}", content=body(), headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 413, response.text
    assert response.json()["error"] == "too_large" and str(limit) in response.json()["message"]
    assert sent <= limit + 2 * len(chunk), f"read {sent} bytes of a body refused at {limit}"
    declared = await http.post(
        "/messages/big",
        content=b"{}",
        headers={"Authorization": f"Bearer {key}", "Content-Length": str(total)},
    )
    assert declared.status_code == 413  # a declared length over the limit: refused before reading anything
