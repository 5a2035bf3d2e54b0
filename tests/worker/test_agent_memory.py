"""An agent's memory across runs: two runs with the same conversation_key, the second one reads the first's turns;
the size cap drops (or summarises) the oldest turns; conversations are per tenant."""

from __future__ import annotations

from typing import Any

import pytest

from studio_gql.state import AppState
from studio_shared.auth import Principal
from studio_shared.rbac import Role
from studio_shared.store import conversations, credentials
from tests.conftest import TenantFixture
from tests.servers import FakeModel
from tests.worker.engine_harness import chain, run_once

pytestmark = pytest.mark.usefixtures("workers")


@pytest.fixture(autouse=True)
async def fresh(state: AppState, tenant: TenantFixture, model: FakeModel) -> None:
    model.script.clear()
    model.requests.clear()
    actor = Principal(tenant_id=tenant.id, role=Role.ADMIN, user_id=tenant.users[Role.ADMIN])
    async with state.sessions.begin() as s:
        await credentials.create(
            s, state.box, tenant.id, actor, "llm", "openai", {"api_key": "sk-x", "base_url": f"{model.url}/v1"}, None
        )


def chat(**config: Any) -> dict[str, Any]:
    base = {
        "model": "m",
        "credential": "llm",
        "instructions": "You are a helpful assistant.",
        "message": "{{ input.text }}",
        "conversation_key": "thread-{{ input.thread }}",
    }
    return chain({"id": "agent", "type": "agent", "config": {**base, **config}})


def contents(request: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(m["role"], m["content"]) for m in request["messages"]]


async def stored(state: AppState, tenant: TenantFixture, key: str) -> list[tuple[str, Any]]:
    async with state.sessions() as s:
        found = await conversations.get(s, tenant.id, key)
    return [] if found is None else [(t["message"]["role"], t["message"]["content"]) for t in found.turns]


async def test_a_second_run_remembers_the_first(state: AppState, tenant: TenantFixture, model: FakeModel) -> None:
    model.script += [{"content": "Hello Ada."}, {"content": "Your name is Ada."}, {"content": "Who?"}]
    first = await run_once(state, tenant, chat(), input={"thread": "7", "text": "I am Ada."})
    assert first.run.status.value == "SUCCEEDED", first.steps["agent"].error
    second = await run_once(state, tenant, chat(), input={"thread": "7", "text": "What is my name?"})
    assert second.steps["agent"].output["answer"] == "Your name is Ada."
    assert contents(model.requests[1]) == [
        ("system", "You are a helpful assistant."),
        ("user", "I am Ada."),
        ("assistant", "Hello Ada."),
        ("user", "What is my name?"),
    ]
    other = await run_once(state, tenant, chat(), input={"thread": "8", "text": "What is my name?"})
    assert other.run.status.value == "SUCCEEDED"
    assert len(model.requests[2]["messages"]) == 2, "another key is another conversation"
    assert await stored(state, tenant, "thread-7") == [
        ("user", "I am Ada."),
        ("assistant", "Hello Ada."),
        ("user", "What is my name?"),
        ("assistant", "Your name is Ada."),
    ]


async def test_the_oldest_turns_are_dropped_past_the_cap(
    state: AppState, tenant: TenantFixture, model: FakeModel
) -> None:
    model.script += [{"content": f"answer {i}"} for i in range(3)]
    for i in range(3):
        done = await run_once(state, tenant, chat(memory={"max_turns": 4}), input={"thread": "cap", "text": f"q{i}"})
        assert done.run.status.value == "SUCCEEDED", done.steps["agent"].error
    assert await stored(state, tenant, "thread-cap") == [
        ("user", "q1"),
        ("assistant", "answer 1"),
        ("user", "q2"),
        ("assistant", "answer 2"),
    ]


async def test_overflow_summarize_replaces_the_oldest_turns_with_a_summary(
    state: AppState, tenant: TenantFixture, model: FakeModel
) -> None:
    model.script += [{"content": "answer 0"}, {"content": "answer 1"}, {"content": "they asked q0"}]
    config = {"memory": {"max_turns": 3, "overflow": "summarize"}}
    for i in range(2):
        done = await run_once(state, tenant, chat(**config), input={"thread": "sum", "text": f"q{i}"})
        assert done.run.status.value == "SUCCEEDED", done.steps["agent"].error
    assert await stored(state, tenant, "thread-sum") == [
        ("system", "Summary of the earlier conversation: they asked q0"),
        ("user", "q1"),
        ("assistant", "answer 1"),
    ]
    assert contents(model.requests[2])[1] == ("user", "user: q0\nassistant: answer 0")
