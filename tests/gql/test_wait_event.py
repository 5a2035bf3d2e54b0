"""wait.event from outside: ``POST /hooks/resume/<token>`` (the webhook endpoint's limits) and ``signalRun``."""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from studio_gql.state import AppState
from studio_shared.rbac import Role
from studio_shared.types import EventWaitStatus, RunStatus, StepStatus
from tests.conftest import GraphQLClient, TenantFixture
from tests.gql.test_webhooks import make_hook
from tests.worker.engine_harness import load, wait_for
from tests.worker.test_wait_event import event_flow, start, wait_row, waiting

pytestmark = pytest.mark.usefixtures("workers")

EVENTS = """query($id: ID!) { run(id: $id) { events(first: 100) { kind stepId data } } }"""
SIGNAL = """mutation($id: ID!, $name: String!, $payload: JSON) {
  signalRun(runId: $id, name: $name, payload: $payload) { run { id status } errors { path message code } } }"""


async def resume_url(gql: GraphQLClient, tenant: TenantFixture, run_id: uuid.UUID, role: Role = Role.OPERATOR) -> Any:
    """The URL the waiting step's step.awaiting_event shows to ``role``."""
    events = (await gql.data(EVENTS, {"id": str(run_id)}, tenant.token(role)))["run"]["events"]
    awaiting = [e for e in events if e["kind"] == "STEP_AWAITING_EVENT"]
    assert awaiting and awaiting[-1]["stepId"] == "wait"
    return awaiting[-1]["data"]["resume_url"]


def path_of(url: str) -> str:
    return urlsplit(url).path


async def post(http: httpx.AsyncClient, url: str, body: Any = None, **headers: str) -> httpx.Response:
    content = b"" if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
    return await http.post(path_of(url), content=content, headers={"content-type": "application/json", **headers})


async def test_the_resume_url_resumes_once_and_repeats_get_409_with_the_first_outcome(
    state: AppState, tenant: TenantFixture, gql: GraphQLClient, http: httpx.AsyncClient
) -> None:
    run_id = await start(state, tenant, event_flow())
    await waiting(state, tenant, run_id)
    url = await resume_url(gql, tenant, run_id)
    assert url.startswith("http://127.0.0.1:8000/hooks/resume/"), "STUDIO_PUBLIC_URL's default"
    assert await resume_url(gql, tenant, run_id, Role.VIEWER) is None, "only run:signal roles read the capability"

    first = await post(http, url, {"order": 7})
    assert first.status_code == 202, first.text
    answer = first.json()
    assert answer["run_id"] == str(run_id) and answer["step_id"] == "wait" and answer["status"] == "received"
    again = await post(http, url, {"order": 8})
    assert again.status_code == 409
    refusal = again.json()
    assert refusal["error"] == "already_resumed"
    assert refusal["first"] == {
        "status": "RECEIVED",
        "event": "wait",
        "via": "url",
        "at": answer["at"],
        "payload": {"order": 7},
    }
    done = await wait_for(state, tenant.id, run_id)
    assert done.run.status is RunStatus.SUCCEEDED and done.steps["got"].output == {"order": 7}
    events = (await gql.data(EVENTS, {"id": str(run_id)}, tenant.token(Role.VIEWER)))["run"]["events"]
    received = [e["data"] for e in events if e["kind"] == "STEP_EVENT_RECEIVED"]
    assert received == [{"event": "wait", "via": "url", "at": answer["at"]}]


async def test_forged_and_unknown_tokens_are_the_same_404(
    state: AppState, tenant: TenantFixture, gql: GraphQLClient, http: httpx.AsyncClient
) -> None:
    run_id = await start(state, tenant, event_flow())
    await waiting(state, tenant, run_id)
    url = await resume_url(gql, tenant, run_id)
    subject, mac = path_of(url).rsplit("/", 1)[1].split(".")
    flipped = mac[:-1] + ("A" if mac[-1] != "A" else "B")
    unknown_run = state.resume_links.url(tenant.id, uuid.uuid4(), "wait")
    other_step = state.resume_links.url(tenant.id, run_id, "tell")  # a real step, but no wait.event
    answers = []
    forged = f"/hooks/resume/{subject}.{flipped}"
    for bad in (forged, "/hooks/resume/nonsense", "/hooks/resume/a.b", unknown_run, other_step):
        response = await post(http, bad, {"x": 1})
        answers.append((response.status_code, response.json()))
    assert len({json.dumps(a) for a in answers}) == 1, answers
    assert answers[0][0] == 404
    assert (await wait_row(state, tenant, run_id)).status is EventWaitStatus.WAITING


async def test_body_limits_json_and_payload_schema_refusals_keep_the_step_waiting(
    state: AppState, tenant: TenantFixture, gql: GraphQLClient, http: httpx.AsyncClient
) -> None:
    schema = {"type": "object", "required": ["amount"], "properties": {"amount": {"type": "number"}}}
    run_id = await start(state, tenant, event_flow(payload_schema=schema))
    await waiting(state, tenant, run_id)
    url = await resume_url(gql, tenant, run_id)

    too_big = await post(http, url, b'{"a": "' + b"x" * state.settings.webhook_max_body_bytes + b'"}')
    assert too_big.status_code == 413 and too_big.json()["error"] == "too_large"
    not_json = await post(http, url, b"{nope")
    assert not_json.status_code == 400 and not_json.json()["error"] == "not_json"
    invalid = await post(http, url, {"amount": "ten"})
    assert invalid.status_code == 422
    assert invalid.json()["error"] == "invalid_payload"
    assert invalid.json()["problems"][0]["path"] == ["payload", "amount"]
    empty = await post(http, url)  # an empty body is a null payload: this schema wants an object
    assert empty.status_code == 422
    assert (await load(state, tenant.id, run_id)).steps["wait"].status is StepStatus.WAITING
    assert (await post(http, url, {"amount": 3})).status_code == 202
    assert (await wait_for(state, tenant.id, run_id)).steps["got"].output == {"amount": 3}


async def test_a_workflow_with_a_signed_webhook_needs_signed_resumes_within_its_rate_limit(
    state: AppState, tenant: TenantFixture, gql: GraphQLClient, http: httpx.AsyncClient
) -> None:
    hook = await make_hook(gql, state, tenant, http, definition=event_flow(), rateLimitPerMinute=2)
    body = json.dumps({"ok": True}).encode()
    delivery = await hook.post(body, hook.standard(body))  # the webhook starts the run
    assert delivery.status_code == 202, delivery.text
    run_id = uuid.UUID(delivery.json()["run_id"])
    await waiting(state, tenant, run_id)
    url = await resume_url(gql, tenant, run_id)

    unsigned = await post(http, url, body)
    assert unsigned.status_code == 401 and unsigned.json()["error"] == "bad_signature"
    wrong = await post(http, url, body, **hook.standard(body, secret="whsec_" + "QUFBQQ==" * 8))
    assert wrong.status_code == 401
    assert (await wait_row(state, tenant, run_id)).status is EventWaitStatus.WAITING
    # The delivery spent one of the webhook's two a minute; the signed resume the second, the repeat is over it.
    signed = await post(http, url, body, **hook.standard(body))
    assert signed.status_code == 202, signed.text
    limited = await post(http, url, body, **hook.standard(body))
    assert limited.status_code == 429 and "Retry-After" in limited.headers
    done = await wait_for(state, tenant.id, run_id)
    assert done.steps["wait"].output["payload"] == {"ok": True}


async def test_signal_run_answers_with_codes_and_hides_other_tenants_runs(
    state: AppState, tenant: TenantFixture, other_tenant: TenantFixture, gql: GraphQLClient
) -> None:
    schema = {"type": "object", "required": ["amount"]}
    run_id = await start(state, tenant, event_flow(event="paid", payload_schema=schema))
    await waiting(state, tenant, run_id)
    operator = tenant.token(Role.OPERATOR)

    async def signal(name: str, payload: Any, token: str = operator, run: Any = run_id) -> Any:
        return (await gql.data(SIGNAL, {"id": str(run), "name": name, "payload": payload}, token))["signalRun"]

    unknown = await signal("nope", {})
    assert [e["code"] for e in unknown["errors"]] == ["UNKNOWN_EVENT"] and "paid" in unknown["errors"][0]["message"]
    invalid = await signal("paid", {"x": 1})
    assert [(e["path"], e["code"]) for e in invalid["errors"]] == [(["payload"], "INVALID_PAYLOAD")]
    foreign = await signal("paid", {"amount": 1}, other_tenant.token(Role.ADMIN))
    missing_id = uuid.uuid4()
    missing = await signal("paid", {"amount": 1}, run=missing_id)
    assert [e["code"] for e in foreign["errors"]] == [e["code"] for e in missing["errors"]] == ["NOT_FOUND"]
    said = foreign["errors"][0]["message"].replace(str(run_id), "?")
    assert said == missing["errors"][0]["message"].replace(str(missing_id), "?"), "the same answer as a missing run"

    ok = await signal("paid", {"amount": 1})
    assert ok["errors"] == [] and ok["run"]["id"] == str(run_id)
    repeat = await signal("paid", {"amount": 2})
    assert [e["code"] for e in repeat["errors"]] == ["ALREADY_RESUMED"] and repeat["run"]["id"] == str(run_id)
    assert "via signal" in repeat["errors"][0]["message"]
    done = await wait_for(state, tenant.id, run_id)
    assert done.steps["got"].output == {"amount": 1}
    after = await signal("paid", {"amount": 3})
    assert [e["code"] for e in after["errors"]] == ["ALREADY_RESUMED"]
