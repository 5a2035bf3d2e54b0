"""A worker killed (SIGKILL) while an agent's tool call is in flight: the survivor re-runs the step without calling a
non-idempotent tool again (the model is told the outcome is unknown) and calls an idempotent one again; the model
call that asked for the tool is answered from its memo, not asked or charged again. Services mode (worker
processes) only: the PostgreSQL pass runs it.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from studio_gql.state import AppState
from tests.conftest import SERVICES, TenantFixture, Workers
from tests.servers import FakeModel, serve
from tests.worker.engine_harness import chain, publish, wait_for
from tests.worker.test_llm_spend import calls_of, openai, replace_workers, wait_for_lease  # noqa: F401
from tests.worker.test_recovery import stop_worker, until

pytestmark = [
    pytest.mark.usefixtures("workers"),
    pytest.mark.skipif(not SERVICES, reason="needs worker processes: runs in the postgres pass"),
]


@dataclass
class SlowTool:
    """An HTTP tool's server: records every call; the first one hangs until the test lets it go (the worker that
    made it is dead by then), later ones answer at once."""

    url: str = ""
    seen: list[str] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def app(self) -> Starlette:
        async def endpoint(request: Request) -> JSONResponse:
            self.seen.append(request.method)
            if len(self.seen) == 1:
                await self.release.wait()
            return JSONResponse({"charged": True, "call": len(self.seen)})

        return Starlette(routes=[Route("/charge", endpoint, methods=["GET", "POST"])])


@pytest.fixture
async def tool_server() -> AsyncIterator[SlowTool]:
    server = SlowTool()
    async with serve(server.app()) as url:
        server.url = url
        yield server
        server.release.set()


@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_a_kill_9_during_a_tool_call_calls_a_non_idempotent_tool_at_most_once(
    state: AppState,
    tenant: TenantFixture,
    model: FakeModel,
    replace_workers: Workers,  # noqa: F811
    tool_server: SlowTool,
    method: str,
) -> None:
    model.script.clear()
    model.requests.clear()
    await openai(state, tenant, model)
    model.script += [{"tool_calls": [("charge", {"amount": 5})]}, {"content": "done"}]
    tool = {
        "kind": "http",
        "name": "charge",
        "description": "Charge the customer.",
        "parameters": {"type": "object", "properties": {"amount": {"type": "integer"}}},
        "request": {"method": method, "url": tool_server.url + "/charge"},
    }
    step = {
        "id": "a",
        "type": "agent",
        "config": {"model": "m", "credential": "llm", "instructions": "Charge 5.", "tools": [tool]},
        "retry": {"max_attempts": 1},
    }
    workflow_id = await publish(state, tenant, chain(step))
    run, _ = await state.control.start_run(tenant.id, "test", workflow_id)
    await until(lambda: len(tool_server.seen) == 1, 30, "the tool call to be under way")
    owner = (await wait_for_lease(state, tenant, run.id)).split(":")
    victim = next(p for p in replace_workers.procs if p.pid == int(owner[1]))
    await stop_worker(replace_workers, victim, signal.SIGKILL)
    tool_server.release.set()  # the dead worker's request ends without anyone reading the answer

    done = await wait_for(state, tenant.id, run.id, timeout=90)
    assert done.run.status.value == "SUCCEEDED", done.steps["a"].error
    assert done.steps["a"].output["answer"] == "done"
    assert len(model.requests) == 2, "the model call that asked for the tool was answered from its memo"
    assert len(await calls_of(state, run.id)) == 2, "each model call charged once"
    [reply] = [m for m in model.requests[1]["messages"] if m["role"] == "tool"]
    if method == "POST":
        assert tool_server.seen == ["POST"], "a POST tool is not called again after a crash"
        assert "outcome is unknown" in reply["content"]
    else:
        assert tool_server.seen == ["GET", "GET"], "an idempotent (GET) tool is called again"
        assert json.loads(reply["content"])["body"] == {"charged": True, "call": 2}
