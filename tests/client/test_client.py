"""studio_client against a real ``studio serve`` (this pass's mode): runs started and awaited, live events that
survive a dropped socket, approvals decided, signals, refusals as typed errors, and the sync twin."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from typing import Any

import pytest
from studio_client import (
    FINISHED,
    AsyncStudioClient,
    Decision,
    GraphQLError,
    HumanTaskStatus,
    PayloadError,
    RunEventKind,
    RunStatus,
    StudioClient,
    TransportError,
    WaitTimeout,
)

from tests.client.conftest import Proxy, Server, graphql, publish
from tests.worker.engine_harness import chain

QUICK = chain({"id": "double", "type": "transform", "config": {"value": "{{ input.n * 2 }}"}})
# Steps spaced out in time, so a socket cut after the first events leaves more to come.
SLOW = chain(
    {"id": "a", "type": "delay", "config": {"seconds": 0.3}},
    {"id": "b", "type": "transform", "config": {"value": 1}},
    {"id": "c", "type": "delay", "config": {"seconds": 0.3}},
    {"id": "d", "type": "transform", "config": {"value": 2}},
    {"id": "e", "type": "delay", "config": {"seconds": 0.3}},
)
APPROVAL = chain(
    {"id": "ask", "type": "human.approval", "config": {"title": "Approve {{ input.amount }}"}},
    {"id": "yes", "type": "transform", "config": {"value": "approved"}},
    {"id": "no", "type": "transform", "config": {"value": "rejected"}},
    edges=[("start", "ask"), ("ask", "yes", "approved"), ("ask", "no", "rejected")],
)
SIGNAL = chain(
    {"id": "wait", "type": "wait.event", "config": {}},
    {"id": "got", "type": "transform", "config": {"value": "{{ steps.wait.output.payload }}"}},
    edges=[("start", "wait"), ("wait", "got", "received")],
)


TENANT = f"client-{secrets.token_hex(4)}"


@pytest.fixture(scope="module")
def admin_token(studio_server: Server) -> str:
    return studio_server.token(TENANT)


@pytest.fixture
async def studio(studio_server: Server, admin_token: str) -> Any:
    async with AsyncStudioClient(studio_server.url, admin_token) as client:
        yield client


async def stored_seqs(studio: AsyncStudioClient, run_id: str) -> list[int]:
    history = (await studio.gql.run_history(run_id)).run
    assert history is not None
    return [event.seq for event in history.events]


async def test_start_run_waits_for_the_final_run(studio_server: Server, admin_token: str, studio: AsyncStudioClient):
    workflow_id = await publish(studio_server, admin_token, QUICK)
    run = await studio.start_run(workflow_id, input={"n": 21}, wait=True, timeout=60)
    assert run.status is RunStatus.SUCCEEDED
    assert run.workflow.id == workflow_id
    assert run.input == {"n": 21}
    assert (await studio.get_run(run.id)) == run
    assert run.id in [r.id for r in await studio.list_runs(workflow_id=workflow_id, status=[RunStatus.SUCCEEDED])]


async def test_run_events_resume_after_a_dropped_socket_without_loss_or_repeat(
    studio_server: Server, admin_token: str, proxy: Proxy
):
    workflow_id = await publish(studio_server, admin_token, SLOW)
    ws_url = f"ws://127.0.0.1:{proxy.port}/graphql"
    async with AsyncStudioClient(studio_server.url, admin_token, ws_url=ws_url, reconnect_backoff=0.05) as studio:
        run = await studio.start_run(workflow_id)
        seqs: list[int] = []
        kinds: list[RunEventKind] = []
        async for event in studio.run_events(run.id):
            seqs.append(event.seq)
            kinds.append(event.kind)
            if len(seqs) == 2:
                proxy.cut()  # both ends of the live socket, mid-run
        assert proxy.accepted >= 2, "the client never reconnected"
        assert seqs == sorted(set(seqs)), seqs  # in order, none twice
        assert seqs == await stored_seqs(studio, run.id)  # none lost
        assert kinds[-1] is RunEventKind.RUN_SUCCEEDED
        # A resumption from a given point is the stored tail.
        tail = [e.seq async for e in studio.run_events(run.id, after_seq=seqs[2])]
        assert tail == seqs[3:]


async def test_run_events_of_an_unknown_run_raise_the_servers_refusal(studio: AsyncStudioClient):
    with pytest.raises(GraphQLError) as refused:
        async for _ in studio.run_events("00000000-0000-0000-0000-000000000000"):
            pass
    assert refused.value.code == "NOT_FOUND", refused.value.errors


async def test_wait_falls_back_to_polling_when_the_socket_fails(studio_server: Server, admin_token: str):
    workflow_id = await publish(studio_server, admin_token, QUICK)
    with socket_nobody_listens_on() as dead:
        async with AsyncStudioClient(
            studio_server.url,
            admin_token,
            ws_url=f"ws://127.0.0.1:{dead}/graphql",
            reconnect_attempts=1,
            reconnect_backoff=0.01,
        ) as studio:
            run = await studio.start_run(workflow_id, input={"n": 1}, wait=True, timeout=60)
            assert run.status is RunStatus.SUCCEEDED
            with pytest.raises(TransportError):
                async for _ in studio.run_events(run.id):
                    pass


async def test_wait_through_an_approval_decided_with_decide_task(
    studio_server: Server, admin_token: str, studio: AsyncStudioClient
):
    workflow_id = await publish(studio_server, admin_token, APPROVAL)
    waiting = asyncio.create_task(studio.start_run(workflow_id, input={"amount": 7}, wait=True, timeout=120))

    async def open_task() -> Any:
        while True:
            runs = await studio.list_runs(workflow_id=workflow_id)
            tasks = [t for t in await studio.list_tasks(status=HumanTaskStatus.OPEN) if runs and t.run.id == runs[0].id]
            if tasks:
                return tasks[0]
            assert not waiting.done(), waiting.result()
            await asyncio.sleep(0.1)

    task = await asyncio.wait_for(open_task(), 60)
    assert task.title == "Approve 7"
    assert not waiting.done()  # still waiting on the person
    decided = await studio.decide_task(task.id, Decision.APPROVE, comment="fine")
    assert decided.status is HumanTaskStatus.APPROVED
    run = await waiting
    assert run.status is RunStatus.SUCCEEDED
    assert run.id == task.run.id
    # Deciding it again is refused, as a typed error with the server's code.
    with pytest.raises(PayloadError) as again:
        await studio.decide_task(task.id, "REJECT")
    assert again.value.code == "ALREADY_DECIDED"
    assert again.value.path == ["id"]
    assert "already decided" in again.value.message


async def test_signal_run_resumes_a_waiting_event(studio_server: Server, admin_token: str, studio: AsyncStudioClient):
    workflow_id = await publish(studio_server, admin_token, SIGNAL)
    run = await studio.start_run(workflow_id)
    async with contextlib.aclosing(studio.run_events(run.id)) as events:  # leaving early closes the socket at once
        async for event in events:
            if event.kind is RunEventKind.STEP_AWAITING_EVENT:
                break
    await studio.signal_run(run.id, "wait", {"ok": True})
    finished = await studio.wait_for_run(run.id, timeout=60)
    assert finished.status is RunStatus.SUCCEEDED
    with pytest.raises(PayloadError) as refused:  # the step no longer waits
        await studio.signal_run(run.id, "wait", {"ok": False})
    assert refused.value.code == "ALREADY_RESUMED"
    assert refused.value.path == ["name"]


async def test_refusals_are_typed_errors(studio_server: Server, admin_token: str, studio: AsyncStudioClient):
    with pytest.raises(PayloadError) as unknown:
        await studio.start_run("00000000-0000-0000-0000-000000000000")
    assert unknown.value.code == "NOT_FOUND"
    viewer = studio_server.token(TENANT, role="VIEWER")  # the same tenant, a read-only role
    workflow_id = await publish(studio_server, admin_token, QUICK)
    started = await studio.start_run(workflow_id, input={"n": 1})
    async with AsyncStudioClient(studio_server.url, viewer) as read_only:
        with pytest.raises(GraphQLError) as forbidden:
            await read_only.start_run(workflow_id)
        # It may read the tenant's runs: the admin's one, and nothing it tried to start.
        assert [r.id for r in await read_only.list_runs(workflow_id=workflow_id)] == [started.id]
    assert forbidden.value.code == "FORBIDDEN"
    assert "run:start" in forbidden.value.message
    async with AsyncStudioClient(studio_server.url, "not-a-token") as stranger:
        with pytest.raises(GraphQLError) as unauthenticated:
            await stranger.list_runs()
        with pytest.raises(GraphQLError) as refused_socket:  # the socket's refusal, not endless reconnections
            async for _ in stranger.run_events(started.id):
                pass
    assert unauthenticated.value.code == "UNAUTHENTICATED"
    assert refused_socket.value.code == "FORBIDDEN", refused_socket.value.errors


async def test_the_sync_client(studio_server: Server, admin_token: str):
    quick = await publish(studio_server, admin_token, QUICK)
    slow = await publish(studio_server, admin_token, SLOW)

    def script() -> tuple[Any, list[int], list[int]]:
        with StudioClient(studio_server.url, admin_token) as studio:
            run = studio.start_run(quick, input={"n": 2}, wait=True, timeout=60)
            with pytest.raises(PayloadError) as refused:
                studio.retry_run(run.id)  # nothing failed: nothing to retry
            assert (refused.value.code, refused.value.path) == ("INVALID", ["fromStep"])
            streamed = studio.start_run(slow)
            seqs = [event.seq for event in studio.run_events(streamed.id)]
            stored = [r.id for r in studio.list_runs(workflow_id=slow)]
            return run, seqs, [len(stored)]

    run, seqs, [listed] = await asyncio.to_thread(script)
    assert run.status is RunStatus.SUCCEEDED
    assert run.input == {"n": 2}
    assert seqs and seqs == sorted(set(seqs))
    assert listed == 1


def socket_nobody_listens_on() -> Any:
    import socket

    @contextlib.contextmanager
    def reserved() -> Any:
        with socket.socket() as sock:  # bound, never listening: connections are refused
            sock.bind(("127.0.0.1", 0))
            yield sock.getsockname()[1]

    return reserved()


async def test_the_readme_example(studio_server: Server, admin_token: str, studio: AsyncStudioClient):
    """The README's example, as written there (printing aside): follow a run, approve its task when it opens."""
    workflow_id = await publish(studio_server, admin_token, APPROVAL)
    run = await studio.start_run(workflow_id, input={"amount": 7})
    kinds: list[RunEventKind] = []
    async for event in studio.run_events(run.id):
        kinds.append(event.kind)
        if event.kind is RunEventKind.STEP_TASK_OPENED:
            for task in [t for t in await studio.list_tasks() if t.run.id == run.id]:
                await studio.decide_task(task.id, Decision.APPROVE, comment="looks right")
    assert RunEventKind.STEP_TASK_OPENED in kinds
    assert kinds[-1] is RunEventKind.RUN_SUCCEEDED
    finished = await studio.get_run(run.id)
    assert finished is not None and finished.status is RunStatus.SUCCEEDED


async def test_a_wait_that_times_out_names_the_run_which_can_then_be_cancelled(
    studio_server: Server, admin_token: str, studio: AsyncStudioClient
):
    workflow_id = await publish(studio_server, admin_token, APPROVAL)
    with pytest.raises(WaitTimeout) as gave_up:  # nobody decides: the run waits on its task
        await studio.start_run(workflow_id, input={"amount": 1}, wait=True, timeout=0.5)
    assert gave_up.value.code == "WAIT_TIMEOUT"
    run = await studio.get_run(gave_up.value.run_id)
    assert run is not None and run.status not in FINISHED
    await studio.cancel_run(run.id)
    cancelled = await studio.wait_for_run(run.id, timeout=60)
    assert cancelled.status is RunStatus.CANCELLED
    [task] = [t for t in await studio.list_tasks() if t.run.id == run.id]
    assert task.status is HumanTaskStatus.CANCELLED


API_KEY = """mutation($name: String!) { createApiKey(name: $name, role: OPERATOR) { apiKey { id } key errors { message } } }"""
REVOKE = """mutation($id: ID!) { revokeApiKey(id: $id) { errors { message } } }"""


async def test_an_api_key_works_until_revoked(studio_server: Server, admin_token: str):
    made = (await graphql(studio_server, admin_token, API_KEY, {"name": f"ci-{secrets.token_hex(3)}"}))["createApiKey"]
    assert made["errors"] == [], made
    workflow_id = await publish(studio_server, admin_token, QUICK)
    async with AsyncStudioClient(studio_server.url, made["key"]) as ci:
        run = await ci.start_run(workflow_id, input={"n": 5}, wait=True, timeout=60)
        assert run.status is RunStatus.SUCCEEDED
        await graphql(studio_server, admin_token, REVOKE, {"id": made["apiKey"]["id"]})
        with pytest.raises(GraphQLError) as revoked:
            await ci.get_run(run.id)
    assert revoked.value.code == "UNAUTHENTICATED"
