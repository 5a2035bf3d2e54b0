"""ADMIN lists and deletes agents' remembered conversations; another tenant's read as missing."""

from __future__ import annotations

import uuid
from typing import Any

from studio_gql.state import AppState
from studio_shared.rbac import Role
from studio_shared.store import conversations
from tests.conftest import GraphQLClient, TenantFixture

LIST = "{ conversations { id key turnCount turns } }"
DELETE = "mutation($id: ID!) { deleteConversation(id: $id) { deletedId errors { code message } } }"


async def remember(state: AppState, tenant: TenantFixture, key: str) -> uuid.UUID:
    turns: list[dict[str, Any]] = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    async with state.sessions.begin() as s:
        await conversations.save(s, tenant.id, key, "step-1", [], turns)
    async with state.sessions() as s:
        found = await conversations.get(s, tenant.id, key)
    assert found is not None
    return found.id


async def test_admin_lists_and_deletes_a_conversation(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture
) -> None:
    conversation_id = await remember(state, tenant, "thread-1")
    admin = tenant.token(Role.ADMIN)
    [listed] = (await gql.data(LIST, token=admin))["conversations"]
    assert listed == {
        "id": str(conversation_id),
        "key": "thread-1",
        "turnCount": 2,
        "turns": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
    }
    deleted = (await gql.data(DELETE, {"id": str(conversation_id)}, admin))["deleteConversation"]
    assert deleted == {"deletedId": str(conversation_id), "errors": []}
    assert (await gql.data(LIST, token=admin))["conversations"] == []


async def test_another_tenants_conversation_reads_as_missing(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture, make_tenant: Any
) -> None:
    other: TenantFixture = await make_tenant()
    theirs = await remember(state, other, "thread-x")
    admin = tenant.token(Role.ADMIN)
    assert (await gql.data(LIST, token=admin))["conversations"] == []
    deleted = (await gql.data(DELETE, {"id": str(theirs)}, admin))["deleteConversation"]
    assert [e["code"] for e in deleted["errors"]] == ["NOT_FOUND"]
    async with state.sessions() as s:
        assert await conversations.get(s, other.id, "thread-x") is not None
