"""An agent's memory across runs: load a conversation's earlier turns, store this run's, keep the size capped.

``conversation_key`` (rendered, e.g. a chat thread's id) names the tenant's conversation. When the stored turns
pass ``memory.max_turns`` messages or ``memory.max_chars`` characters, the oldest earlier turns go (never this
run's): dropped, or with ``overflow: summarize`` replaced by one summary message written by the agent's model
(a memoized call, so a re-executed step pays for it once). Turns are cut so that no tool result is kept without
the assistant message that asked for it.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from studio_shared.credentials import ResolvedCredential
from studio_shared.store import conversations
from studio_worker.nodes.base import NodeContext, NodeError
from studio_worker.nodes.llm import complete

DEFAULT_MAX_TURNS = 50
DEFAULT_MAX_CHARS = 50_000
SUMMARY_CALL = 1_000  # the summary's model-call index: past any agent loop's (max_iterations <= 50)
SUMMARY_INSTRUCTIONS = "Summarise this conversation in a few sentences, keeping its facts and decisions."
SUMMARY_PREFIX = "Summary of the earlier conversation: "


def _session(ctx: NodeContext) -> AsyncSession:
    return AsyncSession(ctx.need_services().db, expire_on_commit=False)


def conversation_key(config: dict[str, Any]) -> str | None:
    key = config.get("conversation_key")
    if key is None:
        return None
    text = str(key).strip()
    if not text or len(text) > conversations.MAX_KEY:
        raise NodeError(
            "InvalidConfig",
            f"conversation_key rendered to {len(text)} characters; it must be 1 to {conversations.MAX_KEY}",
        )
    return text


async def load(ctx: NodeContext, key: str) -> list[dict[str, Any]]:
    async with _session(ctx) as s:
        return await conversations.earlier_turns(s, ctx.tenant_id, key, ctx.idempotency_key)


def _size(messages: list[dict[str, Any]]) -> int:
    return sum(len(json.dumps(m, default=str)) for m in messages)


def _cut(earlier: list[dict[str, Any]], new: list[dict[str, Any]], max_turns: int, max_chars: int) -> int:
    """How many of the oldest earlier turns go so that earlier + new fits (never leaving a tool result first)."""
    cut = 0
    while cut < len(earlier) and (
        len(earlier) - cut + len(new) > max_turns or _size(earlier[cut:]) + _size(new) > max_chars
    ):
        cut += 1
    while cut < len(earlier) and earlier[cut].get("role") == "tool":
        cut += 1
    return cut


async def store(
    ctx: NodeContext,
    config: dict[str, Any],
    credential: ResolvedCredential,
    key: str,
    earlier: list[dict[str, Any]],
    new: list[dict[str, Any]],
) -> None:
    limits = dict(config.get("memory") or {})
    max_turns = int(limits.get("max_turns") or DEFAULT_MAX_TURNS)
    max_chars = int(limits.get("max_chars") or DEFAULT_MAX_CHARS)
    cut = _cut(earlier, new, max_turns, max_chars)
    kept = earlier[cut:]
    if cut and limits.get("overflow") == "summarize":
        # The summary takes a turn of its own: make room for it, then summarise everything that goes.
        cut = _cut(earlier, new, max_turns - 1, max_chars)
        summary = await _summary(ctx, config, credential, earlier[:cut])
        kept = [{"role": "system", "content": (SUMMARY_PREFIX + summary)[: max_chars // 2]}, *earlier[cut:]]
    async with _session(ctx) as s, s.begin():
        await conversations.save(s, ctx.tenant_id, key, ctx.idempotency_key, kept, new)


async def _summary(
    ctx: NodeContext, config: dict[str, Any], credential: ResolvedCredential, dropped: list[dict[str, Any]]
) -> str:
    transcript = "\n".join(f"{m.get('role')}: {m.get('content')}" for m in dropped)
    request = {
        "model": config["model"],
        "messages": [
            {
                "role": "system",
                "content": "Summarise this conversation in a few sentences, keeping facts and decisions.",
            },
            {"role": "user", "content": transcript[-DEFAULT_MAX_CHARS:]},
        ],
    }
    answer = await complete(ctx, credential, request, index=SUMMARY_CALL)
    content = (answer["choices"][0].get("message") or {}).get("content")
    return str(content or "")
