"""Nodes that leave something behind for people: artifacts (files) and message replies.

Both are safe to execute twice: ids derive from the step's idempotency key, so a step re-run after a crash
replaces its artifact and posts its reply once.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from typing import Any

from studio_shared.db.types import utcnow
from studio_shared.storage import ObjectTooLarge, StorageError, object_key
from studio_shared.store import artifacts, messages
from studio_shared.types import MessageDirection
from studio_worker.nodes.base import NodeContext, NodeError, NodeResult, NodeSpec

_IDS = uuid.UUID("5b1f6c1e-8a52-4a53-9d0e-3c1d1f0a7e21")  # namespace of ids derived from idempotency keys


def derived_id(ctx: NodeContext, *parts: str) -> uuid.UUID:
    return uuid.uuid5(_IDS, ":".join((ctx.idempotency_key, *parts)))


async def artifact_write(ctx: NodeContext, config: dict[str, Any]) -> NodeResult:
    services = ctx.need_services()
    name = str(config["name"]).strip()
    if not name or len(name) > 255 or "\x00" in name:
        raise NodeError("InvalidConfig", "name must render to 1 to 255 characters, none of them NUL: check config.name")
    content = config.get("content", "")
    data = (content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)).encode()
    limit = services.settings.max_artifact_bytes
    if len(data) > limit:
        raise NodeError("ArtifactTooLarge", f"the content is {len(data)} bytes; an artifact may have {limit}")
    content_type = str(config.get("content_type") or "text/plain")
    key = object_key(ctx.tenant_id, ctx.run_id, ctx.step_id, name)
    try:
        stored = await services.store.put(key, data, content_type=content_type, max_bytes=limit)
    except ObjectTooLarge as exc:
        raise NodeError("ArtifactTooLarge", f"an artifact may have {limit} bytes") from exc
    except StorageError as exc:
        raise NodeError("StorageError", f"could not store the artifact: {exc}", retryable=True) from exc
    artifact_id = derived_id(ctx, "artifact", name)
    row = {
        "id": artifact_id,
        "tenant_id": ctx.tenant_id,
        "run_id": ctx.run_id,
        "step_id": ctx.step_id,
        "name": name,
        "content_type": content_type,
        "size": stored.size,
        "sha256": stored.sha256,
        "storage_key": key,
        "created_at": utcnow(),
    }
    try:
        async with services.db.begin() as conn:
            replaced = await artifacts.replace(conn, row)
    except BaseException:
        with contextlib.suppress(StorageError):
            await services.store.delete(key)  # no row points at it
        raise
    if replaced and replaced != key:
        with contextlib.suppress(StorageError):
            await services.store.delete(replaced)
    if str(artifact_id) not in ctx.artifacts:  # written again under the same name: the same artifact, replaced
        ctx.artifacts.append(str(artifact_id))
    ctx.log(f"stored {name} ({stored.size} bytes, {content_type})")
    return NodeResult(output={"artifact_id": str(artifact_id), "size": stored.size, "sha256": stored.sha256})


async def message_reply(ctx: NodeContext, config: dict[str, Any]) -> NodeResult:
    services = ctx.need_services()
    channel, text = str(config["channel"]).strip(), str(config["text"])
    if not channel or len(channel) > 100:
        raise NodeError("InvalidConfig", "channel must render to 1 to 100 characters: check config.channel")
    if not text:
        raise NodeError("InvalidConfig", "text rendered empty: check config.text")
    message_id = derived_id(ctx, "reply")
    async with services.db.begin() as conn:
        await messages.post_once(
            conn, ctx.tenant_id, message_id, channel, text, MessageDirection.OUTBOUND, sender=None, run_id=ctx.run_id
        )
    return NodeResult(output={"message_id": str(message_id)})


SPECS = [NodeSpec("artifact.write", artifact_write), NodeSpec("message.reply", message_reply)]
