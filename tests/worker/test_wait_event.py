"""wait.event: a run parks holding no worker until its resume URL or signalRun resumes it, exactly once, or it times out.

Resumes go through the real control API (``Control.resume_wait``) in the mode of this pass; the HTTP endpoint and
the GraphQL mutation are covered in tests/gql/test_wait_event.py.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from studio_gql.state import AppState
from studio_shared.db import models
from studio_shared.definition import validate_definition
from studio_shared.errors import NotFound, ValidationFailed
from studio_shared.resume import ResumeLinks
from studio_shared.store import event_waits
from studio_shared.store.event_waits import ResumeRefused
from studio_shared.store.pins import derived_branches
from studio_shared.types import EventWaitStatus, RunStatus, StepStatus
from tests.conftest import TenantFixture
from tests.worker.engine_harness import Finished, actor, assert_events_contiguous, chain, load, publish, wait_for

pytestmark = pytest.mark.usefixtures("workers")

WAITING = {RunStatus.WAITING}


def event_flow(**config: Any) -> dict[str, Any]:
    """start → tell (shows the resume URL, as a template would send it) → wait → got on received, late on timeout."""
    return chain(
        {"id": "tell", "type": "transform", "config": {"value": "{{ run.resume_urls.wait }}"}},
        {"id": "wait", "type": "wait.event", "config": config},
        {"id": "got", "type": "transform", "config": {"value": "{{ steps.wait.output.payload }}"}},
        {"id": "late", "type": "transform", "config": {"value": "{{ steps.wait.output.timed_out }}"}},
        edges=[("start", "tell"), ("tell", "wait"), ("wait", "got", "received"), ("wait", "late", "timeout")],
    )


async def start(state: AppState, tenant: TenantFixture, definition: dict[str, Any]) -> uuid.UUID:
    workflow_id = await publish(state, tenant, definition, name="waits")
    run, _ = await state.control.start_run(tenant.id, "test", workflow_id, input={})
    return run.id


async def waiting(state: AppState, tenant: TenantFixture, run_id: uuid.UUID, step: str = "wait") -> Finished:
    """The run once it is parked and ``step`` waits for its event."""
    for _ in range(1500):
        found = await wait_for(state, tenant.id, run_id, WAITING)
        if found.steps[step].status is StepStatus.WAITING:
            return found
        await asyncio.sleep(0.02)
    raise AssertionError(f"step {step} of run {run_id} never waited")


async def wait_row(state: AppState, tenant: TenantFixture, run_id: uuid.UUID) -> models.EventWait:
    async with state.sessions() as s:
        found = await event_waits.latest_of_step(s, tenant.id, run_id, "wait")
    assert found is not None
    return found


def kinds(done: Finished) -> list[str]:
    return [e.kind for e in done.events]


async def test_resume_url_is_known_upstream_and_resumes_the_run_on_received(
    state: AppState, tenant: TenantFixture
) -> None:
    run_id = await start(state, tenant, event_flow())
    parked = await waiting(state, tenant, run_id)
    url = ResumeLinks.from_settings(state.settings).url(tenant.id, run_id, "wait")
    assert url.startswith(state.settings.public_url.rstrip("/") + "/hooks/resume/")
    assert parked.steps["tell"].output == url, "an earlier step's template read run.resume_urls.wait"
    assert parked.run.lease_owner is None, "a parked run holds no worker"
    awaiting = [e for e in parked.events if e.kind == "step.awaiting_event"]
    assert [(e.step_id, e.data) for e in awaiting] == [
        ("wait", {"event": "wait", "resume_url": url, "expires_at": None})
    ]

    resumed = await state.control.resume_wait(tenant.id, run_id, step_id="wait", payload={"ok": 1}, via="url")
    assert (resumed.step_id, resumed.event, resumed.via) == ("wait", "wait", "url")
    done = await wait_for(state, tenant.id, run_id)
    assert done.run.status is RunStatus.SUCCEEDED, done.run.error
    output = done.steps["wait"].output
    assert output["received"] is True and output["payload"] == {"ok": 1} and output["via"] == "url"
    assert output["at"] == resumed.at.isoformat()
    assert done.steps["wait"].branches == ["received"]
    assert done.steps["got"].output == {"ok": 1}
    assert done.steps["late"].status is StepStatus.SKIPPED
    received = [e for e in done.events if e.kind == "step.event_received"]
    assert [(e.step_id, e.data["via"], e.data["event"]) for e in received] == [("wait", "url", "wait")]
    assert_events_contiguous(done)


async def test_signal_by_event_name_checks_the_payload_and_keeps_waiting_when_it_is_wrong(
    state: AppState, tenant: TenantFixture
) -> None:
    schema = {"type": "object", "required": ["amount"], "properties": {"amount": {"type": "number"}}}
    run_id = await start(state, tenant, event_flow(event="paid", payload_schema=schema))
    await waiting(state, tenant, run_id)

    with pytest.raises(ValidationFailed) as bad:
        await state.control.resume_wait(tenant.id, run_id, event="paid", payload={"amount": "ten"}, via="signal")
    assert [(p.path, p.code) for p in bad.value.problems] == [(("payload", "amount"), "INVALID_PAYLOAD")]
    assert "number" in bad.value.problems[0].message
    with pytest.raises(ValidationFailed) as unknown:
        await state.control.resume_wait(tenant.id, run_id, event="wait", payload={}, via="signal")
    assert unknown.value.problems[0].code == "UNKNOWN_EVENT" and "paid" in unknown.value.problems[0].message
    assert (await wait_row(state, tenant, run_id)).status is EventWaitStatus.WAITING, "refusals change nothing"
    assert (await load(state, tenant.id, run_id)).steps["wait"].status is StepStatus.WAITING

    who = actor(tenant).actor
    await state.control.resume_wait(tenant.id, run_id, event="paid", payload={"amount": 10}, via="signal", actor=who)
    done = await wait_for(state, tenant.id, run_id)
    assert done.run.status is RunStatus.SUCCEEDED, done.run.error
    assert done.steps["wait"].output["via"] == "signal" and done.steps["got"].output == {"amount": 10}
    assert (await wait_row(state, tenant, run_id)).actor == who


async def test_concurrent_resumes_resume_once_and_the_others_get_the_first_outcome(
    state: AppState, tenant: TenantFixture
) -> None:
    run_id = await start(state, tenant, event_flow())
    await waiting(state, tenant, run_id)

    async def attempt(i: int) -> Any:
        via = "url" if i % 2 else "signal"
        try:
            return await state.control.resume_wait(
                tenant.id, run_id, step_id="wait" if via == "url" else None, event="wait", payload={"i": i}, via=via
            )
        except ResumeRefused as exc:
            return exc

    outcomes = await asyncio.gather(*(attempt(i) for i in range(6)))
    won = [o for o in outcomes if not isinstance(o, ResumeRefused)]
    refused = [o for o in outcomes if isinstance(o, ResumeRefused)]
    assert len(won) == 1 and len(refused) == 5
    done = await wait_for(state, tenant.id, run_id)
    payload = done.steps["wait"].output["payload"]
    for refusal in refused:
        assert refusal.code == "ALREADY_RESUMED"
        assert refusal.first is not None and refusal.first["payload"] == payload and refusal.first["via"] == won[0].via
    assert kinds(done).count("step.event_received") == 1
    assert done.steps["got"].output == payload

    with pytest.raises(ResumeRefused) as later:  # after the run moved on: the same answer
        await state.control.resume_wait(tenant.id, run_id, step_id="wait", payload={"late": True}, via="url")
    assert later.value.code == "ALREADY_RESUMED" and later.value.first is not None
    assert later.value.first["payload"] == payload


async def test_a_step_that_is_not_waiting_refuses_a_resume(state: AppState, tenant: TenantFixture) -> None:
    not_yet = chain(
        {"id": "nap", "type": "delay", "config": {"seconds": 3600}},
        {"id": "wait", "type": "wait.event", "config": {}},
        {"id": "after", "type": "transform", "config": {"value": 1}},
        edges=[("start", "nap"), ("nap", "wait"), ("wait", "after", "received")],
    )
    run_id = await start(state, tenant, not_yet)
    await waiting(state, tenant, run_id, step="nap")
    with pytest.raises(ResumeRefused) as early:
        await state.control.resume_wait(tenant.id, run_id, step_id="wait", payload=None, via="url")
    assert early.value.code == "NOT_WAITING" and "not started waiting" in str(early.value)

    await state.control.cancel_run(tenant.id, actor(tenant), run_id)
    await wait_for(state, tenant.id, run_id)
    with pytest.raises(ResumeRefused) as ended:
        await state.control.resume_wait(tenant.id, run_id, step_id="wait", payload=None, via="url")
    assert ended.value.code == "NOT_WAITING"


async def test_cancelling_a_waiting_run_cancels_its_wait(state: AppState, tenant: TenantFixture) -> None:
    run_id = await start(state, tenant, event_flow())
    await waiting(state, tenant, run_id)
    await state.control.cancel_run(tenant.id, actor(tenant), run_id)
    done = await wait_for(state, tenant.id, run_id)
    assert done.run.status is RunStatus.CANCELLED
    assert (await wait_row(state, tenant, run_id)).status is EventWaitStatus.CANCELLED
    with pytest.raises(ResumeRefused) as refused:
        await state.control.resume_wait(tenant.id, run_id, event="wait", payload=None, via="signal")
    assert refused.value.code == "NOT_WAITING" and "CANCELLED" in str(refused.value)
    assert "step.event_received" not in kinds(await load(state, tenant.id, run_id))


async def test_timeout_takes_the_timeout_branch_and_a_late_resume_is_refused(
    state: AppState, tenant: TenantFixture
) -> None:
    run_id = await start(state, tenant, event_flow(timeout_s=0.5))
    done = await wait_for(state, tenant.id, run_id, timeout=30)
    assert done.run.status is RunStatus.SUCCEEDED, done.run.error
    assert done.steps["wait"].branches == ["timeout"]
    assert done.steps["wait"].output == {
        "received": False,
        "timed_out": True,
        "event": "wait",
        "payload": None,
        "via": None,
        "at": None,
    }
    assert done.steps["late"].output is True and done.steps["got"].status is StepStatus.SKIPPED
    assert (await wait_row(state, tenant, run_id)).status is EventWaitStatus.TIMED_OUT
    with pytest.raises(ResumeRefused) as late:
        await state.control.resume_wait(tenant.id, run_id, step_id="wait", payload=None, via="url")
    assert late.value.code == "NOT_WAITING" and "timed out" in str(late.value)


async def test_another_tenants_run_reads_as_unknown(
    state: AppState, tenant: TenantFixture, other_tenant: TenantFixture
) -> None:
    run_id = await start(state, tenant, event_flow())
    await waiting(state, tenant, run_id)
    for who in (other_tenant.id, tenant.id):
        missing = uuid.uuid4() if who == tenant.id else run_id
        with pytest.raises(NotFound) as unknown:
            await state.control.resume_wait(who, missing, event="wait", payload=None, via="signal")
        assert unknown.value.kind == "run"
    assert (await wait_row(state, tenant, run_id)).status is EventWaitStatus.WAITING


async def test_retry_from_the_step_opens_a_new_wait_the_same_url_resumes(
    state: AppState, tenant: TenantFixture
) -> None:
    run_id = await start(state, tenant, event_flow())
    await waiting(state, tenant, run_id)
    await state.control.resume_wait(tenant.id, run_id, step_id="wait", payload={"n": 1}, via="url")
    await wait_for(state, tenant.id, run_id)
    await state.control.retry_run(tenant.id, actor(tenant), run_id, "wait")
    await waiting(state, tenant, run_id)
    await state.control.resume_wait(tenant.id, run_id, step_id="wait", payload={"n": 2}, via="url")
    done = await wait_for(state, tenant.id, run_id)
    assert done.run.status is RunStatus.SUCCEEDED and done.steps["got"].output == {"n": 2}
    async with state.sessions() as s:
        statuses = list(
            await s.scalars(
                sa.select(models.EventWait.status)
                .where(models.EventWait.tenant_id == tenant.id, models.EventWait.run_id == run_id)
                .order_by(models.EventWait.created_at)
            )
        )
    assert statuses == [EventWaitStatus.RECEIVED, EventWaitStatus.RECEIVED]


def test_definitions_refuse_two_steps_with_one_event_name_and_unknown_resume_urls() -> None:
    definition = chain(
        {"id": "a", "type": "wait.event", "config": {"event": "go"}},
        {"id": "b", "type": "wait.event", "config": {"event": "go"}},
        {"id": "c", "type": "transform", "config": {"value": "{{ run.resume_urls.nope }}"}},
        {"id": "d", "type": "wait.event", "config": {"payload_schema": {"type": "nonsense"}}},
        edges=[("start", "a"), ("a", "b", "received"), ("start", "c"), ("start", "d")],
    )
    problems = {(p.dotted, p.code) for p in validate_definition(definition)}
    assert ("nodes[2].config.event", "DUPLICATE_EVENT") in problems
    assert ("nodes[3].config.value", "NO_SUCH_FIELD") in problems
    assert ("nodes[4].config.payload_schema.type", "INVALID_CONFIG") in problems, "checked by the validator factory"


def test_resume_tokens_round_trip_survive_a_key_rotation_and_refuse_forgeries() -> None:
    tenant_id, run_id = uuid.uuid4(), uuid.uuid4()
    old = ResumeLinks([b"k" * 32], "https://studio.example/base/")
    rotated = ResumeLinks([b"n" * 32, b"k" * 32], "https://studio.example/base")
    token = old.token(tenant_id, run_id, "wait_1")
    assert old.url(tenant_id, run_id, "wait_1") == f"https://studio.example/base/hooks/resume/{token}"
    assert old.token(tenant_id, run_id, "wait_1") == token, "deterministic: templates know it before the step runs"
    for links in (old, rotated):
        found = links.parse(token)
        assert found is not None and (found.tenant_id, found.run_id, found.step_id) == (tenant_id, run_id, "wait_1")
    assert ResumeLinks([b"n" * 32], "https://x").parse(token) is None, "a dropped key's URLs stop working"
    subject, mac = token.split(".")
    other = old.token(uuid.uuid4(), run_id, "wait_1").split(".")[0]
    for forged in (f"{other}.{mac}", f"{subject}.{mac[:-2]}", f"{subject}{mac}", "", "a.b", "x" * 300, f"{subject}.."):
        assert old.parse(forged) is None, forged
    # A 32-byte MAC is 43 base64 characters whose last carries 4 bits: the 3 other spellings of that character
    # decode to the same bytes. Only the minted one is the URL.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(mac[-1])
    same_bytes = [alphabet[(last & ~3) | low] for low in range(4) if (last & ~3) | low != last]
    assert len(same_bytes) == 3
    for spelling in same_bytes:
        assert base64.urlsafe_b64decode(f"{mac[:-1]}{spelling}=") == base64.urlsafe_b64decode(f"{mac}=")
        assert old.parse(f"{subject}.{mac[:-1]}{spelling}") is None, "another spelling of the same MAC"


def test_a_pinned_output_chooses_its_branch() -> None:
    node = {"id": "wait", "type": "wait.event", "config": {}}
    assert derived_branches(node, {"received": True}) == ["received"]
    assert derived_branches(node, {"received": False, "timed_out": True}) == ["timeout"]
    assert derived_branches(node, {"payload": 1}) is None
