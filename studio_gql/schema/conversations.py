"""Agents' remembered conversations (``conversation_key``): ADMIN lists and deletes them."""

from __future__ import annotations

from datetime import datetime

import strawberry

from studio_gql.context import Info
from studio_gql.errors import payload
from studio_gql.permissions import needs
from studio_gql.schema.common import JSON, DeletePayload, require_id
from studio_shared.db import models
from studio_shared.rbac import Permission
from studio_shared.store import conversations as store

MAX_LIST = 200


@strawberry.type(description="A conversation an agent remembers across runs, under its conversation_key.")
class Conversation:
    id: strawberry.ID
    key: str
    turn_count: int
    turns: JSON = strawberry.field(description="The remembered messages, oldest first ({role, content, ...}).")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_model(cls, row: models.Conversation) -> Conversation:
        messages = [t.get("message") for t in row.turns if isinstance(t, dict)]
        return cls(
            id=strawberry.ID(str(row.id)),
            key=row.key,
            turn_count=len(messages),
            turns=JSON(messages),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@strawberry.type
class ConversationQuery:
    @strawberry.field(
        description=f"Your tenant's remembered conversations, most recently updated first (at most {MAX_LIST}); "
        "updatedBefore pages on.",
        extensions=needs(Permission.CONVERSATION_MANAGE),
    )
    async def conversations(
        self, info: Info, limit: int = 50, updated_before: datetime | None = None
    ) -> list[Conversation]:
        async with info.context.state.reads() as s:
            rows = await store.list_conversations(
                s, info.context.tenant_id, max(1, min(limit, MAX_LIST)), updated_before
            )
        return [Conversation.from_model(row) for row in rows]


@strawberry.type
class ConversationMutation:
    @strawberry.mutation(
        description="Forget a conversation: the next run with its key starts afresh.",
        extensions=needs(Permission.CONVERSATION_MANAGE),
    )
    @payload(lambda errors: DeletePayload(errors=errors))
    async def delete_conversation(self, info: Info, id: strawberry.ID) -> DeletePayload:
        ctx = info.context
        conversation_id = require_id(id, "conversation")
        async with ctx.state.sessions.begin() as s:
            await store.delete(s, ctx.tenant_id, ctx.require_principal(), conversation_id)
        return DeletePayload(deleted_id=id)
