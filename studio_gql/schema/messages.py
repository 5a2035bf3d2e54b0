"""Conversations on message channels: what came in and what steps replied."""

from __future__ import annotations

import uuid
from datetime import datetime

import strawberry

from studio_gql.context import Info
from studio_gql.errors import UserError, payload
from studio_gql.permissions import needs
from studio_gql.schema.common import Connection, connection
from studio_gql.schema.runs import Run
from studio_shared.db import models
from studio_shared.rbac import Permission
from studio_shared.store import messages as store


@strawberry.type(description="One message on a channel; direction is 'inbound' (to the studio) or 'outbound'.")
class Message:
    id: strawberry.ID
    channel: str
    text: str
    sender: str | None
    direction: str
    created_at: datetime
    _run_id: strawberry.Private[uuid.UUID | None]

    @classmethod
    def from_model(cls, row: models.Message) -> Message:
        return cls(
            id=strawberry.ID(str(row.id)),
            channel=row.channel,
            text=row.text,
            sender=row.sender,
            direction=row.direction.value,
            created_at=row.created_at,
            _run_id=row.run_id,
        )

    @strawberry.field(description="The run the message started or came from, if any.")
    async def run(self, info: Info) -> Run | None:
        if self._run_id is None:
            return None
        row = await info.context.loaders.run.load(self._run_id)
        return Run.from_model(row) if row else None


@strawberry.type
class MessagePayload:
    message: Message | None = None
    runs: list[Run] = strawberry.field(default_factory=list, description="The runs the message started.")
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class MessageMutation:
    @strawberry.mutation(
        description="Send a message to a channel: every published workflow listening on it (trigger.message) starts.",
        extensions=needs(Permission.MESSAGE_SEND),
    )
    @payload(lambda errors: MessagePayload(errors=errors))
    async def send_message(self, info: Info, channel: str, text: str, sender: str | None = None) -> MessagePayload:
        ctx = info.context
        principal = ctx.require_principal()
        sent = await ctx.state.messaging.send(
            ctx.tenant_id, principal.actor, channel, text, sender, started_by=principal.person_id
        )
        runs = [await ctx.loaders.run.load(run_id) for run_id in sent.run_ids]
        return MessagePayload(
            message=Message.from_model(sent.message), runs=[Run.from_model(run) for run in runs if run is not None]
        )


@strawberry.type
class MessageQuery:
    @strawberry.field(description="Messages of a channel, newest first.", extensions=needs(Permission.RUN_READ))
    async def messages(
        self, info: Info, channel: str, first: int | None = None, after: str | None = None
    ) -> Connection[Message]:
        async with info.context.state.reads() as s:
            page = await store.list_messages(s, info.context.tenant_id, channel, first, after)
        return connection(page, Message.from_model)
