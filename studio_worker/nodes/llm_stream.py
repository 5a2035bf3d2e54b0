"""Streamed model answers (``stream: true``): Server-Sent Events from an OpenAI-compatible ``/chat/completions``,
assembled into the same answer a plain call returns (content, tool calls, the usage of the final chunk).

While the answer grows, ``step.delta`` messages go out on the run's bus channel, coalesced (at most one per
DELTA_EVERY_S unless DELTA_CHARS more characters arrived) and never stored: the step's output holds the final text
once, and a subscriber who joins late reads that. A stream that stops before ``[DONE]`` is a retryable failure:
the step's retry policy runs the call again, and only a whole answer is ever memoized.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import httpx

from studio_shared.credentials import ResolvedCredential
from studio_shared.db.types import utcnow
from studio_shared.errors import StudioError
from studio_shared.events import EventKind, channels
from studio_worker.egress import EgressDenied, check_url
from studio_worker.nodes.base import NodeContext, NodeError
from studio_worker.nodes.redact import Redactor

MODEL_TIMEOUT_S = 120.0
MAX_RESPONSE_BYTES = 8 * 1024 * 1024
RATE_LIMIT_TRIES = 3  # 429s absorbed inside one attempt (honouring Retry-After up to MAX_BACKOFF_S)
MAX_BACKOFF_S = 10.0
DELTA_EVERY_S = 0.05
DELTA_CHARS = 200


def retry_after(value: str | None, attempt: int) -> float:
    backoff = min(MAX_BACKOFF_S, 0.5 * 2.0**attempt)
    try:
        return min(MAX_BACKOFF_S, max(0.0, float(value))) if value else backoff
    except ValueError:
        return backoff


def provider_message(body: bytes) -> str:
    try:
        error = json.loads(body).get("error")
        message = error.get("message") if isinstance(error, dict) else error
        return str(message)[:300] if message else body[:300].decode("utf-8", "replace")
    except (ValueError, AttributeError):
        return body[:300].decode("utf-8", "replace")


class Deltas:
    """The growing answer of one model call, published (coalesced) as ``step.delta`` messages on the run's
    channel. Each message carries the whole text so far: a subscriber that missed one loses nothing."""

    def __init__(self, ctx: NodeContext, call: int) -> None:
        self.ctx, self.call = ctx, call
        self.text = ""
        self._sent = 0
        self._sent_at = 0.0

    async def add(self, piece: str) -> None:
        self.text += piece
        if len(self.text) - self._sent >= DELTA_CHARS or time.monotonic() - self._sent_at >= DELTA_EVERY_S:
            await self.flush()

    async def flush(self) -> None:
        bus = self.ctx.need_services().bus
        if bus is None or self._sent == len(self.text):
            return
        self._sent, self._sent_at = len(self.text), time.monotonic()
        delta = {
            "tenant_id": str(self.ctx.tenant_id),
            "run_id": str(self.ctx.run_id),
            "kind": str(EventKind.STEP_DELTA),
            "step_id": self.ctx.step_id,
            "at": utcnow().isoformat(),
            "data": {"text": Redactor(self.ctx.secrets)(self.text), "call": self.call},
        }
        with contextlib.suppress(StudioError):  # live progress is best-effort; the stored output is the answer
            await bus.publish(channels.run(self.ctx.tenant_id, self.ctx.run_id), {"delta": delta})


async def stream(
    ctx: NodeContext, credential: ResolvedCredential, request: dict[str, Any], call: int = 0
) -> dict[str, Any]:
    """POST ``request`` (with ``stream: true``) and assemble the streamed answer; 429s wait as Retry-After says."""
    services = ctx.need_services()
    try:
        url = check_url(f"{credential.base_url}/chat/completions", services.policy)
    except EgressDenied as exc:
        raise NodeError("EgressDenied", f"{exc}: check the credential's base_url") from None
    headers = {
        **credential.headers(),
        "Idempotency-Key": ctx.idempotency_key,
        "Accept": "text/event-stream",
        "Accept-Encoding": "identity",  # the body is read line by line, with our own size bound
    }
    for attempt in range(RATE_LIMIT_TRIES):
        delay: float | None = None
        try:
            async with services.http_client(httpx.Timeout(MODEL_TIMEOUT_S, connect=10)) as client:
                async with asyncio.timeout(MODEL_TIMEOUT_S):
                    response = await client.send(
                        client.build_request("POST", url, headers=headers, json=request), stream=True
                    )
                    try:
                        if response.status_code == 429 and attempt + 1 < RATE_LIMIT_TRIES:
                            delay = retry_after(response.headers.get("retry-after"), attempt)
                        elif response.status_code >= 400:
                            body = await _error_body(response)
                            raise NodeError(
                                "ModelError",
                                f"{url.host} answered {response.status_code}: {provider_message(body)}",
                                retryable=response.status_code >= 500 or response.status_code == 429,
                            )
                        elif response.headers.get("content-type", "").startswith("application/json"):
                            return _whole(await _head(response, MAX_RESPONSE_BYTES), url.host)  # did not stream
                        else:
                            return await _assemble(ctx, response, url.host, call)
                    finally:
                        await response.aclose()
        except EgressDenied as exc:
            raise NodeError("EgressDenied", str(exc)) from None
        except (TimeoutError, httpx.TimeoutException):
            raise NodeError("Timeout", f"the model at {url.host} did not answer in time", retryable=True) from None
        except httpx.HTTPError as exc:
            raise NodeError(
                "ConnectionError", f"{url.host}: {type(exc).__name__} (the answer was cut off)", retryable=True
            ) from None
        ctx.log(f"rate limited by {url.host}; retrying in {delay:g} s")
        await asyncio.sleep(delay or 0)
    raise AssertionError("unreachable")


async def _error_body(response: httpx.Response) -> bytes:
    """The start of an error answer: enough for its message."""
    body = b""
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > 4096:
            break
    return body


async def _head(response: httpx.Response, limit: int) -> bytes:
    body = b""
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > limit:
            raise NodeError("ModelError", f"the answer from {response.url.host} is larger than {limit} bytes")
    return body


def _whole(body: bytes, host: str) -> dict[str, Any]:
    """A provider that ignored ``stream: true`` and answered at once."""
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if not isinstance(answer, dict) or not isinstance(answer.get("choices"), list) or not answer["choices"]:
        raise NodeError("ModelError", f"{host} sent no choices: is base_url an OpenAI-compatible API?")
    return answer


async def _assemble(ctx: NodeContext, response: httpx.Response, host: str, call: int) -> dict[str, Any]:
    deltas = Deltas(ctx, call)
    tool_calls: dict[int, dict[str, Any]] = {}
    usage: dict[str, Any] | None = None
    finish: str | None = None
    ident, model = "", ""
    size, done = 0, False
    async for line in response.aiter_lines():
        size += len(line) + 1
        if size > MAX_RESPONSE_BYTES:
            raise NodeError("ModelError", f"the answer from {host} is larger than {MAX_RESPONSE_BYTES} bytes")
        if not line.startswith("data:"):
            continue  # blank separators, comments (": keep-alive"), event names
        data = line[5:].strip()
        if data == "[DONE]":
            done = True
            break
        try:
            chunk = json.loads(data)
        except ValueError:
            raise NodeError("ModelError", f"{host} sent a stream chunk that is not JSON") from None
        if not isinstance(chunk, dict):
            continue
        if chunk.get("error"):
            raise NodeError("ModelError", f"{host}: {provider_message(data.encode())}", retryable=True)
        ident, model = str(chunk.get("id") or ident), str(chunk.get("model") or model)
        if isinstance(chunk.get("usage"), dict):
            usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            finish = choice.get("finish_reason") or finish
            if isinstance(delta.get("content"), str):
                await deltas.add(delta["content"])
            for part in delta.get("tool_calls") or []:
                _merge_tool_call(tool_calls, part)
    if not done:
        raise NodeError(
            "ConnectionError", f"the stream from {host} ended before the answer was complete", retryable=True
        )
    await deltas.flush()
    message: dict[str, Any] = {"role": "assistant", "content": deltas.text or None}
    if tool_calls:
        message["tool_calls"] = [tool_calls[i] for i in sorted(tool_calls)]
    return {
        "id": ident,
        "object": "chat.completion",
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": usage or {},
    }


def _merge_tool_call(calls: dict[int, dict[str, Any]], part: dict[str, Any]) -> None:
    """Tool calls arrive in pieces keyed by index: the id and name once, the arguments as text fragments."""
    index = int(part.get("index") or 0)
    call = calls.setdefault(index, {"id": "", "type": "function", "function": {"name": "", "arguments": ""}})
    if part.get("id"):
        call["id"] = str(part["id"])
    function = part.get("function") or {}
    if function.get("name"):
        call["function"]["name"] += str(function["name"])
    if isinstance(function.get("arguments"), str):
        call["function"]["arguments"] += function["arguments"]
