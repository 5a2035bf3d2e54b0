"""Webhooks: signed deliveries start runs, everything else is refused with a JSON error that says what to fix,
and a delivery key starts at most one run however often (and however concurrently) it is repeated."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from studio_gql.state import AppState
from studio_shared.db import models
from studio_shared.rbac import Role
from studio_shared.webhooks import TOLERANCE_S, sign_github, sign_standard, sign_stripe
from tests.conftest import GraphQLClient, TenantFixture
from tests.worker.engine_harness import chain, publish, wait_for
from tests.worker.test_nodes_io import node

pytestmark = pytest.mark.usefixtures("workers")

CREATE = """mutation($w: ID!, $input: WebhookInput) { createWebhook(workflowId: $w, input: $input) {
  webhook { id url auth enabled } secret errors { path message code } } }"""
ROTATE = "mutation($id: ID!) { rotateWebhookSecret(id: $id) { webhook { id } secret errors { code } } }"
UPDATE = """mutation($id: ID!, $input: WebhookUpdateInput!) { updateWebhook(id: $id, input: $input) {
  webhook { id enabled rateLimitPerMinute } errors { path message code } } }"""
DELETE = "mutation($id: ID!) { deleteWebhook(id: $id) { deletedId errors { code } } }"
ECHO = chain(node("echo", "transform", value="{{ input }}"))


class Hook:
    def __init__(self, http: httpx.AsyncClient, id: str, secret: str | None, workflow_id: uuid.UUID) -> None:
        self.http, self.id, self.secret, self.workflow_id = http, id, secret, workflow_id

    def standard(
        self, body: bytes, msg_id: str | None = None, stamp: int | None = None, secret: str | None = None
    ) -> dict[str, str]:
        msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
        stamp = int(time.time()) if stamp is None else stamp
        signature = sign_standard(secret or self.secret or "", msg_id, stamp, body)
        return {"webhook-id": msg_id, "webhook-timestamp": str(stamp), "webhook-signature": signature}

    async def post(self, body: bytes, headers: dict[str, str], query: str = "") -> httpx.Response:
        return await self.http.post(
            f"/hooks/{self.id}{query}", content=body, headers={"content-type": "application/json", **headers}
        )


async def make_hook(
    gql: GraphQLClient,
    state: AppState,
    tenant: TenantFixture,
    http: httpx.AsyncClient,
    definition: dict[str, Any] = ECHO,
    **input: Any,
) -> Hook:
    workflow_id = await publish(state, tenant, definition, name="hooked")
    made = (await gql.data(CREATE, {"w": str(workflow_id), "input": input or None}, tenant.token(Role.EDITOR)))[
        "createWebhook"
    ]
    assert made["errors"] == [], made
    return Hook(http, made["webhook"]["id"], made["secret"], workflow_id)


async def runs_of(state: AppState, hook: Hook) -> list[models.Run]:
    async with state.sessions() as s:
        return list(await s.scalars(sa.select(models.Run).where(models.Run.workflow_id == hook.workflow_id)))


async def test_a_signed_delivery_starts_a_run_with_the_body_as_input(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture, http: httpx.AsyncClient
) -> None:
    hook = await make_hook(gql, state, tenant, http)
    assert hook.secret is not None and hook.secret.startswith("whsec_")
    listed = await gql.data(
        "query($w: ID!) { workflow(id: $w) { webhooks { id url auth enabled } } }",
        {"w": str(hook.workflow_id)},
        tenant.token(Role.EDITOR),
    )
    assert listed["workflow"]["webhooks"] == [
        {"id": hook.id, "url": f"http://studio.test/hooks/{hook.id}", "auth": "STANDARD", "enabled": True}
    ]
    assert hook.secret not in json.dumps(listed)
    body = json.dumps({"order": 7}).encode()
    response = await hook.post(body, {**hook.standard(body), "authorization": "Bearer leaked?"})
    assert response.status_code == 202, response.text
    run_id = uuid.UUID(response.json()["run_id"])
    finished = await wait_for(state, tenant.id, run_id)
    assert finished.run.input == {"order": 7} and finished.run.trigger == "webhook"
    assert finished.run.output == {"echo": {"order": 7}}
    kept = finished.run.trigger_data or {}
    assert kept["body"] == {"order": 7} and "webhook-signature" in kept["headers"]
    assert "authorization" not in kept["headers"]


# An hour past the tolerance: 301 s left under a second for int()'s truncation plus the request's trip, and a
# loaded machine ate it (a future stamp came within the tolerance: 202, not 401).
OUTSIDE_S = TOLERANCE_S + 3600


def _stale(hook: Hook, body: bytes) -> dict[str, str]:
    return hook.standard(body, stamp=int(time.time()) - OUTSIDE_S)


def _future(hook: Hook, body: bytes) -> dict[str, str]:
    return hook.standard(body, stamp=int(time.time()) + OUTSIDE_S)


def _wrong_secret(hook: Hook, body: bytes) -> dict[str, str]:
    return hook.standard(body, secret="whsec_" + "QUJD" * 11)


def _byte_changed(hook: Hook, body: bytes) -> dict[str, str]:
    return hook.standard(body.replace(b"7", b"8"))


def _unsigned(hook: Hook, body: bytes) -> dict[str, str]:
    return {}


def _no_signature(hook: Hook, body: bytes) -> dict[str, str]:
    headers = hook.standard(body)
    del headers["webhook-signature"]
    return headers


def _garbage_stamp(hook: Hook, body: bytes) -> dict[str, str]:
    return {**hook.standard(body), "webhook-timestamp": "yesterday"}


def _other_id(hook: Hook, body: bytes) -> dict[str, str]:
    return {**hook.standard(body), "webhook-id": "msg_other"}


def _many_signatures(hook: Hook, body: bytes) -> dict[str, str]:
    headers = hook.standard(body)
    headers["webhook-signature"] = " ".join(["v1,AAAA"] * 11 + [headers["webhook-signature"]])
    return headers


def _github_header_on_standard(hook: Hook, body: bytes) -> dict[str, str]:
    return {"x-hub-signature-256": sign_github(hook.secret or "", body)}


@pytest.mark.parametrize(
    ("forge", "fragment"),
    [
        (_unsigned, "send webhook-id"),
        (_no_signature, "send webhook-id"),
        (_wrong_secret, "does not match"),
        (_byte_changed, "does not match"),
        (_other_id, "does not match"),
        (_stale, "away from the server's clock"),
        (_future, "away from the server's clock"),
        (_garbage_stamp, "Unix seconds"),
        (_many_signatures, "more than 10"),
        (_github_header_on_standard, "send webhook-id"),
    ],
)
async def test_bad_signatures_are_401_and_start_nothing(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture, http: httpx.AsyncClient, forge: Any, fragment: str
) -> None:
    hook = await make_hook(gql, state, tenant, http)
    body = b'{"order": 7}'
    response = await hook.post(body, forge(hook, body))
    assert response.status_code == 401
    assert response.json()["error"] == "bad_signature" and fragment in response.json()["message"]
    assert hook.secret not in response.text
    assert await runs_of(state, hook) == []


async def test_a_repeated_delivery_replays_the_first_answer(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture, http: httpx.AsyncClient
) -> None:
    hook = await make_hook(gql, state, tenant, http)
    body = b'{"n": 1}'
    headers = hook.standard(body, msg_id="msg_repeat")
    first = await hook.post(body, headers)
    again = await hook.post(body, hook.standard(body, msg_id="msg_repeat"))  # re-signed, later timestamp
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    other_body = b'{"n": 2}'
    clash = await hook.post(other_body, hook.standard(other_body, msg_id="msg_repeat"))
    assert clash.status_code == 422 and clash.json()["error"] == "key_reused"
    explicit = await hook.post(other_body, {**hook.standard(other_body), "idempotency-key": "k-1"})
    assert explicit.status_code == 202
    assert len(await runs_of(state, hook)) == 2


async def test_concurrent_repeats_start_exactly_one_run(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture, http: httpx.AsyncClient
) -> None:
    hook = await make_hook(gql, state, tenant, http)
    body = b'{"burst": true}'
    answers = await asyncio.gather(*(hook.post(body, hook.standard(body, msg_id="msg_burst")) for _ in range(20)))
    assert {a.status_code for a in answers} == {202}, [a.text for a in answers]
    assert len({a.json()["run_id"] for a in answers}) == 1
    assert len(await runs_of(state, hook)) == 1


async def test_rotation_keeps_the_old_secret_for_the_overlap(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture, http: httpx.AsyncClient
) -> None:
    hook = await make_hook(gql, state, tenant, http)
    old = hook.secret
    rotated = (await gql.data(ROTATE, {"id": hook.id}, tenant.token(Role.EDITOR)))["rotateWebhookSecret"]
    assert rotated["errors"] == [] and rotated["secret"] != old
    body = b"{}"
    assert (await hook.post(body, hook.standard(body, secret=old))).status_code == 202
    assert (await hook.post(body, hook.standard(body, secret=rotated["secret"]))).status_code == 202
    async with state.sessions.begin() as s:
        row = await s.get(models.Webhook, uuid.UUID(hook.id))
        assert row is not None and row.previous_secret_expires_at is not None
        row.previous_secret_expires_at = row.previous_secret_expires_at.replace(year=2000)
    state.webhook_endpoints.forget(uuid.UUID(hook.id))  # a change made behind the API's back: drop the cache
    assert (await hook.post(body, hook.standard(body, secret=old))).status_code == 401
    assert (await hook.post(body, hook.standard(body, secret=rotated["secret"]))).status_code == 202


async def test_github_preset(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture, http: httpx.AsyncClient
) -> None:
    hook = await make_hook(gql, state, tenant, http, auth="GITHUB")
    body = b'{"action": "opened"}'
    good = {"x-hub-signature-256": sign_github(hook.secret or "", body), "x-github-delivery": "d-1"}
    assert (await hook.post(body, good)).status_code == 202
    assert (await hook.post(body, good)).headers.get("idempotent-replayed") == "true"  # GitHub's redelivery
    bad = {"x-hub-signature-256": sign_github("wrong", body), "x-github-delivery": "d-2"}
    assert (await hook.post(body, bad)).status_code == 401
    assert len(await runs_of(state, hook)) == 1


async def test_stripe_preset(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture, http: httpx.AsyncClient
) -> None:
    hook = await make_hook(gql, state, tenant, http, auth="STRIPE")
    body = b'{"id": "evt_1", "type": "charge.succeeded"}'
    now = int(time.time())
    assert (await hook.post(body, {"stripe-signature": sign_stripe(hook.secret or "", now, body)})).status_code == 202
    replay = await hook.post(body, {"stripe-signature": sign_stripe(hook.secret or "", now, body)})
    assert replay.headers.get("idempotent-replayed") == "true"  # the event id is the key
    stale = {"stripe-signature": sign_stripe(hook.secret or "", now - 400, body)}
    assert (await hook.post(body, stale)).status_code == 401
    tampered = {"stripe-signature": sign_stripe(hook.secret or "", now, body).replace("v1=", "v1=0")}
    assert (await hook.post(body, tampered)).status_code == 401
    assert len(await runs_of(state, hook)) == 1


async def test_unsigned_only_when_chosen(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture, http: httpx.AsyncClient
) -> None:
    hook = await make_hook(gql, state, tenant, http, auth="NONE")
    assert hook.secret is None
    assert (await hook.post(b'{"x": 1}', {})).status_code == 202
    rotated = (await gql.data(ROTATE, {"id": hook.id}, tenant.token(Role.EDITOR)))["rotateWebhookSecret"]
    assert [e["code"] for e in rotated["errors"]] == ["INVALID"]


@pytest.mark.parametrize("role", [Role.VIEWER, Role.APPROVER, Role.OPERATOR])
async def test_only_trigger_managers_see_a_webhook_and_so_its_url(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture, http: httpx.AsyncClient, role: Role
) -> None:
    """The attack: a VIEWER read an unsigned webhook's URL (its id is in it) and started runs through it. Without
    trigger:manage a workflow's webhooks are null with a FORBIDDEN error; the rest of the workflow still reads."""
    hook = await make_hook(gql, state, tenant, http, auth="NONE")
    query = "query($w: ID!) { workflow(id: $w) { id name webhooks { id url } } }"
    body = await gql.raw(query, {"w": str(hook.workflow_id)}, tenant.token(role))
    assert [(e["path"], e["extensions"]["code"]) for e in body["errors"]] == [(["workflow", "webhooks"], "FORBIDDEN")]
    assert "trigger:manage" in body["errors"][0]["message"]
    assert body["data"]["workflow"] == {"id": str(hook.workflow_id), "name": "hooked", "webhooks": None}
    assert hook.id not in json.dumps(body)
    editor = await gql.data(query, {"w": str(hook.workflow_id)}, tenant.token(Role.EDITOR))
    assert editor["workflow"]["webhooks"] == [{"id": hook.id, "url": f"http://studio.test/hooks/{hook.id}"}]


def test_every_way_to_a_webhook_needs_trigger_manage(settings: Any) -> None:
    """Class guard: walk the schema from its roots; every path that reaches the Webhook type (whose id is its
    URL) passes a field that requires trigger:manage or a permission only higher roles hold."""
    from studio_gql.permissions import required_permission
    from studio_gql.schema import build_schema
    from studio_shared.rbac import Permission, lowest_role_with

    schema = build_schema(settings)
    core = schema._schema
    floor = lowest_role_with(Permission.TRIGGER_MANAGE)
    seen: set[tuple[str, bool]] = set()
    exposed: list[str] = []

    def named(graphql_type: Any) -> Any:
        while hasattr(graphql_type, "of_type"):
            graphql_type = graphql_type.of_type
        return graphql_type

    def walk(type_name: str, guarded: bool, path: str) -> None:
        if (type_name, guarded) in seen:
            return
        seen.add((type_name, guarded))
        if type_name == "Webhook" and not guarded:
            exposed.append(path)
            return
        graphql_type = core.type_map[type_name]
        for field_name, field in getattr(graphql_type, "fields", {}).items():
            target = named(field.type)
            if not hasattr(target, "fields"):
                continue
            strawberry_field = schema.get_field_for_type(field_name, type_name)
            permission = required_permission(strawberry_field.extensions) if strawberry_field else None
            now_guarded = guarded or (permission is not None and lowest_role_with(permission).at_least(floor))
            walk(target.name, now_guarded, f"{path}.{field_name}")

    for root in (core.query_type, core.mutation_type, core.subscription_type):
        if root is not None:
            walk(root.name, False, root.name)
    assert ("Webhook", True) in seen, "the walk reaches webhooks at all"
    assert exposed == [], f"webhooks reachable without trigger:manage: {exposed}"


async def test_refusals_say_what_to_fix(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture, http: httpx.AsyncClient
) -> None:
    hook = await make_hook(gql, state, tenant, http)
    not_json = b"order=7"
    cases = [
        (await hook.post(not_json, hook.standard(not_json)), 400, "not_json"),
        (await hook.post(b"{" + b" " * (1024 * 1024) + b"}", {}), 413, "too_large"),
        (await http.post(f"/hooks/{uuid.uuid4()}", content=b"{}"), 404, "not_found"),
        (await http.post("/hooks/not-an-id", content=b"{}"), 404, "not_found"),
        (await hook.post(b"{}", hook.standard(b"{}"), "?wait=99999"), 400, "bad_wait"),
    ]
    for response, status, error in cases:
        assert response.status_code == status, response.text
        assert response.json()["error"] == error and response.json()["message"]
    disabled = await gql.data(UPDATE, {"id": hook.id, "input": {"enabled": False}}, tenant.token(Role.EDITOR))
    assert disabled["updateWebhook"]["webhook"]["enabled"] is False
    assert (await hook.post(b"{}", hook.standard(b"{}"))).status_code == 404
    assert await runs_of(state, hook) == []


async def test_input_schema_errors_are_422_and_start_nothing(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture, http: httpx.AsyncClient
) -> None:
    definition = chain(node("echo", "transform", value="{{ input }}"))
    definition["nodes"][0]["config"] = {"input_schema": {"type": "object", "required": ["order"]}}
    hook = await make_hook(gql, state, tenant, http, definition)
    body = b'{"nope": 1}'
    first = await hook.post(body, hook.standard(body, msg_id="msg_bad"))
    assert first.status_code == 422 and first.json()["problems"][0]["path"] == ["input"]
    again = await hook.post(body, hook.standard(body, msg_id="msg_bad"))  # judged afresh: no run to replay
    assert again.status_code == 422 and "idempotent-replayed" not in again.headers
    assert await runs_of(state, hook) == []
    fixed = b'{"order": 1}'
    assert (await hook.post(fixed, hook.standard(fixed, msg_id="msg_fixed"))).status_code == 202


async def test_rate_limit_answers_429_with_retry_after(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture, http: httpx.AsyncClient
) -> None:
    hook = await make_hook(gql, state, tenant, http, rateLimitPerMinute=2)
    statuses = [(await hook.post(b"{}", hook.standard(b"{}"))) for _ in range(3)]
    assert [r.status_code for r in statuses] == [202, 202, 429]
    assert 1 <= int(statuses[2].headers["retry-after"]) <= 60
    assert len(await runs_of(state, hook)) == 2


async def test_wait_returns_the_runs_outcome(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture, http: httpx.AsyncClient
) -> None:
    hook = await make_hook(gql, state, tenant, http)
    body = b'{"v": 3}'
    done = await hook.post(body, hook.standard(body), "?wait=20")
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "SUCCEEDED" and done.json()["output"] == {"echo": {"v": 3}}
    slow = await make_hook(gql, state, tenant, http, chain(node("wait", "delay", seconds=3600)))
    pending = await slow.post(body, slow.standard(body), "?wait=0.3")
    assert pending.status_code == 202 and pending.json()["status"] in {"QUEUED", "RUNNING", "WAITING"}


class _CountingRuns:
    """``studio_gql.routes.hooks.runs_store`` with its ``get`` counted: the reads a waiting delivery makes."""

    def __init__(self, real: Any) -> None:
        self.real, self.gets = real, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    async def get(self, *args: Any, **kwargs: Any) -> Any:
        self.gets += 1
        return await self.real.get(*args, **kwargs)


async def test_wait_is_woken_by_the_runs_final_event_not_by_polling(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from studio_gql.routes import hooks as route

    counting = _CountingRuns(route.runs_store)
    monkeypatch.setattr(route, "runs_store", counting)
    hook = await make_hook(
        gql, state, tenant, http, chain(node("pause", "delay", seconds=1), node("done", "transform", value=1))
    )
    body = b'{"v": 1}'
    done = await hook.post(body, hook.standard(body), "?wait=20")
    assert done.status_code == 200 and done.json()["status"] == "SUCCEEDED", done.text
    # A read once subscribed, and one when the final event arrives (polling would read about ten times a second).
    assert counting.gets <= 3, counting.gets


async def test_wait_survives_a_lost_message_and_a_missing_bus(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from contextlib import asynccontextmanager

    from studio_gql.routes import hooks as route
    from studio_shared.events import BusUnavailable
    from studio_shared.events.base import LocalSubscription

    hook = await make_hook(gql, state, tenant, http, chain(node("pause", "delay", seconds=0.5)))
    monkeypatch.setattr(route, "WAIT_QUIET_S", 0.3)

    @asynccontextmanager
    async def deaf(*channels: str, buffer: int = 1000) -> Any:
        yield LocalSubscription(buffer)  # subscribed, but every message is lost

    monkeypatch.setattr(state.bus, "subscribe", deaf)
    body = b'{"v": 2}'
    lost = await hook.post(body, hook.standard(body), "?wait=20")
    assert lost.status_code == 200 and lost.json()["status"] == "SUCCEEDED", lost.text

    def down(*channels: str, buffer: int = 1000) -> Any:
        raise BusUnavailable("the bus is down")

    monkeypatch.setattr(state.bus, "subscribe", down)
    body = b'{"v": 3}'
    unbussed = await hook.post(body, hook.standard(body), "?wait=20")
    assert unbussed.status_code == 200 and unbussed.json()["status"] == "SUCCEEDED", unbussed.text


async def test_webhook_management_errors(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture, other_tenant: TenantFixture, http: httpx.AsyncClient
) -> None:
    hook = await make_hook(gql, state, tenant, http)
    bad = await gql.data(UPDATE, {"id": hook.id, "input": {"rateLimitPerMinute": 0}}, tenant.token(Role.EDITOR))
    assert [e["path"] for e in bad["updateWebhook"]["errors"]] == [["input", "rateLimitPerMinute"]]
    foreign = await gql.data(ROTATE, {"id": hook.id}, other_tenant.token(Role.EDITOR))
    assert [e["code"] for e in foreign["rotateWebhookSecret"]["errors"]] == ["NOT_FOUND"]
    assert await gql.error_codes(ROTATE, {"id": hook.id}, tenant.token(Role.OPERATOR)) == ["FORBIDDEN"]
    deleted = (await gql.data(DELETE, {"id": hook.id}, tenant.token(Role.EDITOR)))["deleteWebhook"]
    assert deleted == {"deletedId": hook.id, "errors": []}
    assert (await hook.post(b"{}", hook.standard(b"{}"))).status_code == 404


REPLAY = """mutation($id: ID!, $v: Int) { replayRun(id: $id, version: $v) {
  run { id version trigger input } errors { path message code } } }"""


async def test_a_delivery_is_replayed_on_a_newer_version(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture, other_tenant: TenantFixture, http: httpx.AsyncClient
) -> None:
    hook = await make_hook(gql, state, tenant, http)
    body = b'{"order": 9}'
    first = await hook.post(body, hook.standard(body))
    original = first.json()["run_id"]
    fixed = chain(node("echo", "transform", value="{{ input.order * 10 }}"))
    data = await gql.data(
        "mutation($id: ID!, $d: JSON!) { updateWorkflow(id: $id, input: {definition: $d}) { errors { code } } }",
        {"id": str(hook.workflow_id), "d": fixed},
        tenant.token(Role.EDITOR),
    )
    assert data["updateWorkflow"]["errors"] == []
    await gql.data(
        "mutation($id: ID!) { publishWorkflow(id: $id) { errors { code } } }",
        {"id": str(hook.workflow_id)},
        tenant.token(Role.EDITOR),
    )
    replayed = (await gql.data(REPLAY, {"id": original}, tenant.token(Role.OPERATOR)))["replayRun"]
    assert replayed["errors"] == []
    assert replayed["run"]["version"] == 2 and replayed["run"]["trigger"] == "webhook"
    assert replayed["run"]["input"] == {"order": 9}
    finished = await wait_for(state, tenant.id, uuid.UUID(replayed["run"]["id"]))
    assert finished.run.output == {"echo": 90}
    assert (finished.run.trigger_data or {})["replay_of"] == original
    on_v1 = (await gql.data(REPLAY, {"id": original, "v": 1}, tenant.token(Role.OPERATOR)))["replayRun"]
    assert on_v1["run"]["version"] == 1
    foreign = (await gql.data(REPLAY, {"id": original}, other_tenant.token(Role.OPERATOR)))["replayRun"]
    assert [e["code"] for e in foreign["errors"]] == ["NOT_FOUND"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b'{"note": "a\\u0000b"}', "U+0000"),
        (b'{"note": "\\ud800"}', "surrogate"),
        (b"[" * 5000 + b"]" * 5000, "nested"),
        (b'{"n": NaN}', "NaN"),
    ],
    ids=["nul", "surrogate", "deep", "nan"],
)
async def test_a_signed_body_nothing_could_store_is_400_and_starts_nothing(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture, http: httpx.AsyncClient, body: bytes, fragment: str
) -> None:
    """Found by `python -m reliability hostile-webhooks`: these were 500s (PostgreSQL, or the decoder's recursion)."""
    hook = await make_hook(gql, state, tenant, http)
    response = await hook.post(body, hook.standard(body))
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "not_json" and fragment in response.json()["message"]
    assert await runs_of(state, hook) == []


# ------------------------------------------------------------------------------------------- replays (issue 17)

DELETE_RUN = "mutation($id: ID!) { deleteRun(id: $id) { deletedId errors { code message } } }"


def _github(hook: Hook, body: bytes, delivery: str) -> dict[str, str]:
    return {"x-hub-signature-256": sign_github(hook.secret or "", body), "x-github-delivery": delivery}


async def test_a_captured_standard_delivery_with_a_new_idempotency_key_is_answered_not_run_again(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture, http: httpx.AsyncClient
) -> None:
    """The attack: re-send a captured delivery (inside the 5-minute tolerance) with a fresh, unsigned
    Idempotency-Key each time. The key is the signed webhook-id, so every replay gets the first answer."""
    hook = await make_hook(gql, state, tenant, http)
    body = b'{"pay": 100}'
    captured = hook.standard(body, msg_id="msg_captured")
    first = await hook.post(body, captured)
    assert first.status_code == 202, first.text
    for n in range(3):
        replay = await hook.post(body, {**captured, "idempotency-key": f"fresh-{n}"})
        assert replay.status_code == 202 and replay.json() == first.json(), replay.text
        assert replay.headers["idempotent-replayed"] == "true"
    assert len(await runs_of(state, hook)) == 1


async def test_a_captured_stripe_event_with_a_new_idempotency_key_is_answered_not_run_again(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture, http: httpx.AsyncClient
) -> None:
    hook = await make_hook(gql, state, tenant, http, auth="STRIPE")
    body = b'{"id": "evt_captured", "type": "charge.succeeded"}'
    captured = {"stripe-signature": sign_stripe(hook.secret or "", int(time.time()), body)}
    first = await hook.post(body, captured)
    replay = await hook.post(body, {**captured, "idempotency-key": "fresh"})
    assert first.status_code == replay.status_code == 202
    assert replay.json() == first.json() and replay.headers["idempotent-replayed"] == "true"
    pinged = b'{"type": "ping"}'  # no event id: the signed body is the key
    ping = {"stripe-signature": sign_stripe(hook.secret or "", int(time.time()), pinged)}
    assert (await hook.post(pinged, ping)).status_code == 202
    assert (await hook.post(pinged, {**ping, "idempotency-key": "x"})).headers["idempotent-replayed"] == "true"
    assert len(await runs_of(state, hook)) == 2


async def test_a_captured_github_delivery_with_a_new_delivery_id_is_answered_not_run_again(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture, http: httpx.AsyncClient
) -> None:
    """GitHub signs no timestamp and not X-GitHub-Delivery: a captured delivery re-sent with a new delivery id
    (or an Idempotency-Key) would have started a run every time, forever. The key is the signed body."""
    hook = await make_hook(gql, state, tenant, http, auth="GITHUB")
    body = b'{"action": "opened", "number": 7}'
    first = await hook.post(body, _github(hook, body, "d-original"))
    assert first.status_code == 202, first.text
    for n in range(3):
        replay = await hook.post(body, {**_github(hook, body, f"d-forged-{n}"), "idempotency-key": f"k-{n}"})
        assert replay.status_code == 202 and replay.json() == first.json()
        assert replay.headers["idempotent-replayed"] == "true"
    other = b'{"action": "closed", "number": 7}'
    assert (await hook.post(other, _github(hook, other, "d-original"))).headers.get("idempotent-replayed") is None
    assert len(await runs_of(state, hook)) == 2


async def test_unsigned_hooks_keep_honouring_idempotency_key(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture, http: httpx.AsyncClient
) -> None:
    hook = await make_hook(gql, state, tenant, http, auth="NONE")
    first = await hook.post(b'{"n": 1}', {"idempotency-key": "order-1"})
    again = await hook.post(b'{"n": 1}', {"idempotency-key": "order-1"})
    other = await hook.post(b'{"n": 1}', {"idempotency-key": "order-2"})
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert other.json() != first.json()
    assert len(await runs_of(state, hook)) == 2


async def test_the_replay_window_refuses_a_github_replay_after_its_run_is_deleted(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture, http: httpx.AsyncClient
) -> None:
    """Without a window, the run is the only record of a delivery: deleting it lets a replay start a new run.
    With ``replayWindowS``, the signed key is remembered for the window and a repeat without a run is a 409."""
    plain = await make_hook(gql, state, tenant, http, auth="GITHUB")
    windowed = await make_hook(gql, state, tenant, http, auth="GITHUB", replayWindowS=3600)
    body = b'{"action": "deleted-later"}'
    for hook in (plain, windowed):
        first = await hook.post(body, _github(hook, body, "d-1"))
        assert first.status_code == 202, first.text
        repeat = await hook.post(body, _github(hook, body, "d-2"))  # the run exists: its answer, window or not
        assert repeat.status_code == 202 and repeat.headers["idempotent-replayed"] == "true"
        await wait_for(state, tenant.id, uuid.UUID(first.json()["run_id"]))
        deleted = await gql.data(DELETE_RUN, {"id": first.json()["run_id"]}, tenant.token(Role.EDITOR))
        assert deleted["deleteRun"]["errors"] == []
    assert (await plain.post(body, _github(plain, body, "d-3"))).status_code == 202  # why the window exists
    refused = await windowed.post(body, _github(windowed, body, "d-3"))
    assert refused.status_code == 409 and refused.json()["error"] == "replayed", refused.text
    assert "3600 s" in refused.json()["message"]
    assert await runs_of(state, windowed) == []
    # Past the window the key is forgotten (as for a delivery the sender sends again days later).
    async with state.sessions.begin() as s:
        await s.execute(
            sa.update(models.IdempotencyRecord)
            .where(models.IdempotencyRecord.scope == f"webhook:{windowed.id}")
            .values(expires_at=models.IdempotencyRecord.created_at)
        )
    assert (await windowed.post(body, _github(windowed, body, "d-4"))).status_code == 202


async def test_the_replay_window_refuses_a_repeat_of_a_delivery_that_started_no_run(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture, http: httpx.AsyncClient
) -> None:
    definition = chain(node("echo", "transform", value="{{ input }}"))
    definition["nodes"][0]["config"] = {"input_schema": {"type": "object", "required": ["order"]}}
    hook = await make_hook(gql, state, tenant, http, definition, replayWindowS=60)
    body = b'{"nope": 1}'
    assert (await hook.post(body, hook.standard(body, msg_id="msg_refused"))).status_code == 422
    again = await hook.post(body, hook.standard(body, msg_id="msg_refused"))
    assert again.status_code == 409 and again.json()["error"] == "replayed"
    listed = await gql.data(
        "query($w: ID!) { workflow(id: $w) { webhooks { replayWindowS } } }",
        {"w": str(hook.workflow_id)},
        tenant.token(Role.EDITOR),  # a webhook (and so its URL) is for trigger:manage only
    )
    assert listed["workflow"]["webhooks"] == [{"replayWindowS": 60}]
    off = await gql.data(UPDATE_WINDOW, {"id": hook.id, "input": {"replayWindowS": 0}}, tenant.token(Role.EDITOR))
    assert off["updateWebhook"]["webhook"]["replayWindowS"] is None
    bad = await gql.data(UPDATE_WINDOW, {"id": hook.id, "input": {"replayWindowS": -1}}, tenant.token(Role.EDITOR))
    assert [e["path"] for e in bad["updateWebhook"]["errors"]] == [["input", "replayWindowS"]]
    state.webhook_endpoints.forget(uuid.UUID(hook.id))
    assert (await hook.post(body, hook.standard(body, msg_id="msg_refused"))).status_code == 422  # afresh again


UPDATE_WINDOW = """mutation($id: ID!, $input: WebhookUpdateInput!) { updateWebhook(id: $id, input: $input) {
  webhook { replayWindowS } errors { path message code } } }"""


# ------------------------------------------------------------------------ rate limit counts deliveries (issue 17)


async def test_unverified_junk_does_not_spend_a_webhooks_rate_limit(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture, http: httpx.AsyncClient
) -> None:
    """Three unsigned (or badly signed) posts used to take the whole budget: the real delivery got 429."""
    hook = await make_hook(gql, state, tenant, http, rateLimitPerMinute=2)
    body = b'{"real": true}'
    junk = [
        await hook.post(body, {}),
        await hook.post(body, hook.standard(body, secret="whsec_" + "QUJD" * 11)),
        await hook.post(b"{}", hook.standard(body)),  # a signature of another body
    ]
    assert [r.status_code for r in junk] == [401, 401, 401]
    real = [await hook.post(body, hook.standard(body)) for _ in range(3)]
    assert [r.status_code for r in real] == [202, 202, 429], [r.text for r in real]
    assert len(await runs_of(state, hook)) == 2


async def test_an_unsigned_hook_counts_every_json_delivery_but_not_junk(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture, http: httpx.AsyncClient
) -> None:
    """With auth NONE nothing tells the sender's deliveries from anybody's: each JSON body counts. A body that is
    not JSON starts nothing and is no delivery: it does not count."""
    hook = await make_hook(gql, state, tenant, http, auth="NONE", rateLimitPerMinute=2)
    assert [(await hook.post(b"not json", {})).status_code for _ in range(3)] == [400, 400, 400]
    assert [(await hook.post(b'{"n": 1}', {})).status_code for _ in range(3)] == [202, 202, 429]
