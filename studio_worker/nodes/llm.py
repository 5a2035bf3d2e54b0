"""``llm.chat`` and the model client the agent shares: OpenAI-compatible ``/chat/completions``.

Every call is memoized under an id derived from the step's idempotency key and the call's position in the
step, with a hash of the request: a step re-executed after a crash, or an agent resumed after a child run,
gets the earlier answers back instead of paying for them twice. The same rows are the usage ledger.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any

import httpx

from studio_shared.credentials import ResolvedCredential
from studio_shared.db import jsondata
from studio_shared.db.types import utcnow
from studio_shared.metrics import metrics
from studio_shared.store import llm_calls
from studio_worker.egress import EgressDenied, EgressError, check_url, send
from studio_worker.nodes import llm_budget as budget
from studio_worker.nodes.base import NodeContext, NodeError, NodeResult, NodeSpec
from studio_worker.nodes.llm_stream import (
    MAX_RESPONSE_BYTES,
    MODEL_TIMEOUT_S,
    RATE_LIMIT_TRIES,
    provider_message,
    retry_after,
)
from studio_worker.nodes.llm_stream import stream as _stream
from studio_worker.nodes.outputs import derived_id
from studio_worker.nodes.redact import Redactor

TOKEN_FIELDS = ("prompt_tokens", "completion_tokens", "total_tokens")


async def model_credential(ctx: NodeContext, config: dict[str, Any]) -> ResolvedCredential:
    name = config.get("credential")
    if not name:
        raise NodeError("InvalidConfig", f"{ctx.node_type} needs config.credential: an openai credential")
    credential = await ctx.credential(str(name))
    if credential.kind != "openai":
        raise NodeError("InvalidConfig", f"credential {credential.name!r} is {credential.kind}; use an openai one")
    return credential


async def complete(
    ctx: NodeContext,
    credential: ResolvedCredential,
    request: dict[str, Any],
    index: int = 0,
    config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The provider's answer to ``request`` (memoized as the step's ``index``-th model call).

    ``config`` is the step's: its ``max_tokens_total`` / ``max_cost_usd`` limit the step, and ``stream: true``
    streams the answer (``step.delta`` on the bus while it grows; the memo holds the whole answer).
    """
    services = ctx.need_services()
    config = config or {}
    call_id = derived_id(ctx, "llm", str(index))
    digest = hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()
    async with services.db.connect() as conn:
        memo = await llm_calls.recorded(conn, ctx.tenant_id, call_id)
    if memo is not None and memo.request_sha256 == digest:
        ctx.log(f"model call {index}: answer reused from an earlier execution (not billed again)")
        answer: dict[str, Any] = memo.response
        return answer
    model = str(request.get("model"))
    plan = await budget.plan(ctx, config, request)
    if plan.limited and not request.get("max_tokens"):
        # Under a budget every call has a known worst case: the provider may not write more than it reserved.
        request = {**request, "max_tokens": services.settings.llm_budget_max_tokens}
    scopes = await budget.reserve(ctx, plan, call_id, request)
    try:
        if config.get("stream"):
            streamed = {**request, "stream": True, "stream_options": {"include_usage": True}}
            raw = await _stream(ctx, credential, streamed, index)
        else:
            raw = await _post(ctx, credential, request)
    except BaseException:
        await budget.release(ctx, call_id)
        raise
    # A model that repeats a secret (say, a tool result it was shown) must not put it in the memo either.
    answer = Redactor(ctx.secrets)(raw)
    usage = {k: int(v) for k, v in (answer.get("usage") or {}).items() if k in TOKEN_FIELDS and isinstance(v, int)}
    cost = _cost(services.settings.llm_prices, model, usage)
    row = {
        "id": call_id,
        "tenant_id": ctx.tenant_id,
        "run_id": ctx.run_id,
        "step_id": ctx.step_id,
        "model": model[:200],
        "request_sha256": digest,
        "response": answer,
        "prompt_tokens": usage.get("prompt_tokens", 0),
        "completion_tokens": usage.get("completion_tokens", 0),
        "cost_usd": cost,
        "created_at": utcnow(),
    }
    async with services.db.begin() as conn:
        await llm_calls.record(conn, row)
        await budget.settle(conn, ctx, call_id, scopes, usage, cost)
    # Billed and recorded: counted once (a re-executed step reuses the memo above and is not counted again).
    metrics.tokens(model, usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0))
    return answer


def _cost(prices: dict[str, dict[str, float]], model: str, usage: dict[str, int]) -> float | None:
    return budget.price(prices, model, usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0))


async def _post(ctx: NodeContext, credential: ResolvedCredential, request: dict[str, Any]) -> dict[str, Any]:
    services = ctx.need_services()
    try:
        url = check_url(f"{credential.base_url}/chat/completions", services.policy)
    except EgressDenied as exc:
        raise NodeError("EgressDenied", f"{exc}: check the credential's base_url") from None
    headers = {**credential.headers(), "Idempotency-Key": ctx.idempotency_key}
    for attempt in range(RATE_LIMIT_TRIES):
        try:
            async with services.http_client(httpx.Timeout(MODEL_TIMEOUT_S, connect=10)) as client:
                async with asyncio.timeout(MODEL_TIMEOUT_S):
                    response = await send(
                        client,
                        client.build_request("POST", url, headers=headers, json=request),
                        policy=services.policy,
                        follow_redirects=False,
                        max_redirects=0,
                        max_response_bytes=MAX_RESPONSE_BYTES,
                    )
        except EgressDenied as exc:
            raise NodeError("EgressDenied", str(exc)) from None
        except EgressError as exc:
            raise NodeError("ModelError", str(exc)) from None
        except (TimeoutError, httpx.TimeoutException):
            raise NodeError("Timeout", f"the model at {url.host} did not answer in time", retryable=True) from None
        except httpx.HTTPError as exc:
            raise NodeError("ConnectionError", f"{url.host}: {type(exc).__name__}", retryable=True) from None
        if response.status == 429 and attempt + 1 < RATE_LIMIT_TRIES:
            delay = retry_after(response.headers.get("retry-after"), attempt)
            ctx.log(f"rate limited by {url.host}; retrying in {delay:g} s")
            await asyncio.sleep(delay)
            continue
        if response.status >= 400:
            raise NodeError(
                "ModelError",
                f"{url.host} answered {response.status}: {provider_message(response.body)}",
                retryable=response.status >= 500 or response.status == 429,
            )
        try:
            answer = jsondata.loads(response.body)
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or not isinstance(answer.get("choices"), list) or not answer["choices"]:
            raise NodeError("ModelError", f"{url.host} sent no choices: is base_url an OpenAI-compatible API?")
        return answer
    raise AssertionError("unreachable")


def usage_of(answers: list[dict[str, Any]]) -> dict[str, int]:
    total = dict.fromkeys(TOKEN_FIELDS, 0)
    for answer in answers:
        for key in TOKEN_FIELDS:
            value = (answer.get("usage") or {}).get(key)
            total[key] += value if isinstance(value, int) else 0
    return total


async def llm_chat(ctx: NodeContext, config: dict[str, Any]) -> NodeResult:
    credential = await model_credential(ctx, config)
    request: dict[str, Any] = {
        "model": config["model"],
        "messages": [{"role": m["role"], "content": str(m["content"])} for m in config["messages"]],
        "temperature": config.get("temperature", 1),
    }
    if config.get("max_tokens"):
        request["max_tokens"] = config["max_tokens"]
    if config.get("json"):
        request["response_format"] = {"type": "json_object"}
    answer = await complete(ctx, credential, request, config=config)
    text = (answer["choices"][0].get("message") or {}).get("content") or ""
    parsed: Any = None
    if config.get("json"):
        try:
            parsed = jsondata.loads(text)
        except ValueError:
            raise NodeError("InvalidModelOutput", "JSON mode is on but the model's answer is not JSON") from None
    usage = {**usage_of([answer]), "budgets": await budget.report(ctx, config)}
    return NodeResult(output={"text": text, "json": parsed, "usage": usage})


SPECS = [NodeSpec("llm.chat", llm_chat)]
