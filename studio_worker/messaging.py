"""The messaging trigger: a message sent to a channel starts a run of every published workflow whose
``trigger.message`` listens on that channel (and whose optional pattern matches the text).

Which workflows listen is read from their latest published versions; a version's (channel, pattern) is parsed
once per process (published versions never change). Patterns are user regular expressions, matched with RE2
(``studio_shared.schemas.regex``): linear in the text, so no pattern can stall the API the way ``^(a+)+$`` did
on Python's ``re``. Linear still means up to ~4 ns per text byte and pattern instruction, so a search whose
worst case is more than a millisecond runs in a thread (RE2 releases the GIL); a version whose pattern RE2
refuses (stored before publish checked that) listens to nothing, with a log line.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from studio_shared.db import Sessions, models
from studio_shared.errors import NotFound, ValidationFailed
from studio_shared.schemas.regex import Regex, RegexError, compile_regex
from studio_shared.store import audit, messages
from studio_shared.types import MessageDirection
from studio_worker.control import Control

log = logging.getLogger("studio.messaging")
MAX_TEXT = 100_000
MAX_CHANNEL = 100
INLINE_MATCH_STEPS = 250_000  # RE2 steps (text bytes x pattern instructions): ~1 ms at worst; more goes to a thread
CHANNEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,99}$")
_v, _w = models.WorkflowVersion, models.Workflow
_NEWEST = (
    sa.select(_v.workflow_id, sa.func.max(_v.version).label("version"))
    .where(_v.tenant_id == sa.bindparam("b_tenant"), _v.test.is_(False))
    .group_by(_v.workflow_id)
    .subquery()
)
_LISTENERS = (
    sa.select(_v.id, _v.workflow_id)
    .join(_NEWEST, sa.and_(_v.workflow_id == _NEWEST.c.workflow_id, _v.version == _NEWEST.c.version))
    .join(_w, sa.and_(_w.tenant_id == _v.tenant_id, _w.id == _v.workflow_id))
    .where(_v.tenant_id == sa.bindparam("b_tenant"), _w.archived.is_(False))
)


@dataclass(frozen=True, slots=True)
class Sent:
    message: models.Message
    run_ids: list[uuid.UUID]


@dataclass(frozen=True, slots=True)
class _Listener:
    channel: str | None  # None: the version's trigger is not a message trigger
    pattern: Regex | None


class Messaging:
    def __init__(self, sessions: Sessions, reads: Sessions, control: Control) -> None:
        self.sessions, self.reads, self.control = sessions, reads, control
        self._versions: OrderedDict[uuid.UUID, _Listener] = OrderedDict()

    async def send(
        self,
        tenant_id: uuid.UUID,
        actor: str,
        channel: str,
        text: str,
        sender: str | None,
        started_by: uuid.UUID | None = None,
    ) -> Sent:
        """Record the inbound message and start the runs of every workflow listening on the channel (``started_by``:
        the person who sent it, see ``Control.start_run``).

        Its runs are admitted together before anything is stored (a turn of the tenant's start pace each, and room
        under its cap): refused, the message is not kept and a retry sends it afresh; admitted, every listener
        starts, rather than some of them.
        """
        _check(channel, text, sender)
        listeners = await self._listeners(tenant_id, channel, text)
        await self.control.admit(tenant_id, len(listeners))
        message_id = uuid.uuid4()
        # The message is stored before any run starts, so it precedes their replies in the conversation.
        async with self.sessions.begin() as s:
            conn = await s.connection()
            await messages.post_once(conn, tenant_id, message_id, channel, text, MessageDirection.INBOUND, sender)
            # Who sent what where; the text stays in the message (it may be anything the sender typed).
            audit.record(
                s,
                tenant_id,
                actor,
                "message.send",
                ("message", message_id),
                {"channel": channel, "listeners": len(listeners)},
            )
        run_ids: list[uuid.UUID] = []
        for workflow_id in listeners:
            run_input = {"channel": channel, "text": text, "sender": sender, "message_id": str(message_id)}
            try:
                run, _ = await self.control.start_run(
                    tenant_id,
                    actor,
                    workflow_id,
                    input=run_input,
                    idempotency_key=f"message:{message_id}",
                    trigger="message",
                    trigger_data={"message_id": str(message_id), "channel": channel},
                    started_by=started_by,
                    admitted=True,
                )
            except ValidationFailed as exc:  # its input schema refuses messages: the others still start
                log.info("workflow %s listens on %s but refused the message: %s", workflow_id, channel, exc)
                continue
            run_ids.append(run.id)
        if run_ids:
            async with self.sessions.begin() as s:
                await s.execute(
                    sa.update(models.Message)
                    .where(models.Message.tenant_id == tenant_id, models.Message.id == message_id)
                    .values(run_id=run_ids[0])
                )
        async with self.reads() as s:
            row = await s.get(models.Message, message_id)
        if row is None:  # deleted with its tenant in the meantime
            raise NotFound("message", message_id)
        return Sent(row, run_ids)

    async def _listeners(self, tenant_id: uuid.UUID, channel: str, text: str) -> list[uuid.UUID]:
        async with self.reads() as s:
            versions = (await s.execute(_LISTENERS, {"b_tenant": tenant_id})).all()
            unknown = [version_id for version_id, _ in versions if version_id not in self._versions]
            if unknown:
                rows = await s.execute(
                    sa.select(_v.id, _v.definition).where(_v.tenant_id == tenant_id, _v.id.in_(unknown))
                )
                for version_id, definition in rows:
                    self._remember(version_id, _listener_of(definition))
        matched: list[uuid.UUID] = []
        for version_id, workflow_id in versions:
            listener = self._versions.get(version_id)
            if listener is None or listener.channel != channel:
                continue
            if listener.pattern is None or await _matches(listener.pattern, text):
                matched.append(workflow_id)
        return sorted(matched)

    def _remember(self, version_id: uuid.UUID, listener: _Listener) -> None:
        self._versions[version_id] = listener
        if len(self._versions) > 10_000:
            self._versions.popitem(last=False)


def _check(channel: str, text: str, sender: str | None) -> None:
    if not CHANNEL.match(channel):
        raise ValidationFailed.one(
            ["channel"], "a channel is 1 to 100 letters, digits or _ . : / -, starting with a letter or digit"
        )
    if not text or len(text) > MAX_TEXT:
        raise ValidationFailed.one(["text"], f"send 1 to {MAX_TEXT} characters of text")
    if sender is not None and len(sender) > 200:
        raise ValidationFailed.one(["sender"], "a sender has at most 200 characters")


def _listener_of(definition: Any) -> _Listener:
    nodes = definition.get("nodes", []) if isinstance(definition, dict) else []
    trigger = next((n for n in nodes if str(n.get("type", "")).startswith("trigger.")), None)
    if trigger is None or trigger.get("type") != "trigger.message":
        return _Listener(None, None)
    config = trigger.get("config") or {}
    pattern = None
    if config.get("pattern"):
        try:
            pattern = compile_regex(str(config["pattern"]))
        except RegexError as exc:  # publish refuses these now; a version stored before listens to nothing
            log.warning(
                "a message trigger's pattern is not valid RE2 (%s): the version listens to nothing; republish it",
                exc.reason,
            )
            return _Listener(None, None)
    return _Listener(str(config.get("channel")), pattern)


async def _matches(pattern: Regex, text: str) -> bool:
    if pattern.cost(len(text)) <= INLINE_MATCH_STEPS:
        return pattern.search(text)
    return await asyncio.to_thread(pattern.search, text)
