"""``POST /hooks/{webhook_id}``: verified, idempotent webhook deliveries that start runs (contract §7); and
``POST /hooks/resume/{token}``, the resume URL of a waiting ``wait.event`` step, under the same limits (``resume``).

Order of checks: the hook exists and is enabled (404), the body fits (413), the signature over the raw body
(401), the body is JSON (400), the rate limit (429: only deliveries that passed the checks before it count, so
unsigned junk cannot spend a sender's budget), then the delivery key: what the signature covers (the signed
``webhook-id``, Stripe's event id, else the signed body's SHA-256; ``Idempotency-Key`` only for unsigned hooks,
see ``studio_shared.webhooks.delivery_key``).

The run *is* the idempotency record: it is created with the key under the runs table's unique (tenant,
workflow, idempotency key) and keeps the body's SHA-256, in the same transaction as its first event. A repeat
finds it and gets the first answer again (``Idempotent-Replayed: true``); the same key with another body is
422; concurrent repeats race on the unique key, and the losers answer with the winner's run. A delivery that
started no run (its input was invalid, say) leaves nothing to replay: a repeat is judged afresh, and succeeds
once the workflow accepts it. Unless the webhook has a replay window: then the key is remembered that long,
and a repeat inside it that finds no run (none started, or it was deleted) is refused as a replay (409).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from studio_gql import hygiene
from studio_gql.limits import read_body
from studio_gql.state import AppState
from studio_shared.crypto import SecretBox
from studio_shared.db import models, tenancy
from studio_shared.db.types import utcnow
from studio_shared.errors import Conflict, NotFound, RateLimited, ValidationFailed
from studio_shared.events import BusUnavailable, Subscription, channels
from studio_shared.metrics import metrics, status_class
from studio_shared.store import runs as runs_store
from studio_shared.store import webhooks as store
from studio_shared.store.event_waits import ResumeRefused
from studio_shared.types import RunStatus, WebhookAuth
from studio_shared.webhooks import SignatureInvalid, delivery_key, verify

log = logging.getLogger("studio.hooks")
MAX_KEY = 150
ENDPOINT_TTL_S = 2.0  # a webhook's settings are cached this long per process (edits elsewhere apply after it)
FINAL = {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED}
# Headers never kept with the delivery (they authenticate the sender or carry secrets).
UNKEPT = {"authorization", "cookie", "proxy-authorization", "x-api-key"}


def problem(status: int, error: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": error, "message": message}, status_code=status, headers=headers)


async def deliver(request: Request) -> Response:
    """POST /hooks/{id}, counted in studio_webhook_deliveries_total by the status class of its answer."""
    try:
        response = await _deliver(request)
    except Exception:  # the app's handlers answer it (a database outage: 503)
        metrics.webhook_deliveries.labels("5xx").inc()
        raise
    metrics.webhook_deliveries.labels(status_class(response.status_code)).inc()
    return response


async def _deliver(request: Request) -> Response:
    state: AppState = request.app.state.studio
    settings = state.settings
    try:
        hook_id = uuid.UUID(request.path_params["webhook_id"])
    except ValueError:
        hook_id = None
    hook = await state.webhook_endpoints.get(hook_id) if hook_id else None
    if hook is None or not hook.enabled:
        return problem(404, "not_found", "no enabled webhook has this URL: check the id, or enable the webhook")
    tenancy.act_for(hook.tenant_id)  # the rest of the delivery acts for the webhook's tenant only
    body = await read_body(request, settings.webhook_max_body_bytes)
    if body is None:
        return problem(413, "too_large", f"the body is larger than {settings.webhook_max_body_bytes} bytes")
    headers = {name.lower(): value for name, value in request.headers.items()}
    try:
        verify(hook.auth, hook.secrets, headers, body, time.time())
    except SignatureInvalid as exc:
        return problem(401, "bad_signature", str(exc))
    try:
        payload = hygiene.loads(body)
    except hygiene.BadJSON as exc:  # also U+0000, unpaired surrogates, NaN, nesting: JSON nothing could store
        return problem(400, "not_json", f"the body must be JSON (Content-Type: application/json): {exc}")
    except ValueError:
        return problem(400, "not_json", "the body must be JSON (Content-Type: application/json)")
    # Counted only now: a delivery its sender signed (for an unsigned hook, any JSON body: nothing tells the
    # sender's from anybody's). Junk refused above never spends the webhook's budget.
    if hook.rate_limit_per_minute is not None:
        retry_after = await state.limiter.hit(f"webhook:{hook.id}", hook.rate_limit_per_minute)
        if retry_after is not None:
            return problem(
                429,
                "rate_limited",
                f"this webhook takes {hook.rate_limit_per_minute} deliveries a minute; retry after {retry_after} s",
                {"Retry-After": str(retry_after)},
            )
    wait_s = _wait(request.query_params.get("wait"), settings.webhook_max_wait_s)
    if isinstance(wait_s, Response):
        return wait_s
    key = delivery_key(hook.auth, headers, body, payload)
    if key is not None and not 1 <= len(key) <= MAX_KEY:
        return problem(400, "bad_key", f"the idempotency key must have 1 to {MAX_KEY} characters")
    delivery = {
        "webhook_id": str(hook.id),
        "received_at": utcnow().isoformat(),
        "headers": {k: v for k, v in headers.items() if k not in UNKEPT},
        "body": payload,
    }
    delivery["sha256"] = hashlib.sha256(body).hexdigest()
    if hook.replay_window_s and key is not None:
        replayed = await _replay_refusal(state, hook, hook.replay_window_s, key, delivery["sha256"])
        if replayed is not None:
            return replayed
    try:
        status, answer, run, created = await _start(state, hook, payload, key, delivery)
    except RateLimited as exc:  # the tenant's start pace or live-run cap, shared with every other kind of start
        return refused(exc)
    headers = {}
    if run is not None and not created:  # the run an earlier delivery with this key started: a repeat
        if (run.trigger_data or {}).get("sha256") != delivery["sha256"]:
            return problem(
                422, "key_reused", "this idempotency key was used with another body: send a new key for a new delivery"
            )
        headers["Idempotent-Replayed"] = "true"
    if wait_s and run is not None:
        status, answer = await _await_run(state, hook.tenant_id, run.id, wait_s, status, answer)
    return JSONResponse(answer, status_code=status, headers=headers)


async def _replay_refusal(
    state: AppState, hook: store.Endpoint, window_s: int, key: str, sha256: str
) -> Response | None:
    """Inside the webhook's replay window: a key seen before is answered by its run (the normal repeat, below),
    and refused (409) when it has none: the first started no run, or its run was deleted since."""
    async with state.sessions.begin() as s:
        first_seen = await store.remember_delivery(s, hook.tenant_id, hook.id, key, sha256, window_s)
    if first_seen is None:
        return None
    async with state.reads() as s:
        run = await runs_store.by_idempotency_key(s, hook.tenant_id, hook.workflow_id, _run_key(hook, key))
    if run is not None:
        return None
    return problem(
        409,
        "replayed",
        f"this delivery was received at {first_seen.isoformat(timespec='seconds')}; this webhook refuses a repeat "
        f"for {window_s} s (its replay window): send a new delivery",
    )


def _run_key(hook: store.Endpoint, key: str) -> str:
    return f"webhook:{hook.id}:{key}"


def _wait(raw: str | None, cap: float) -> float | Response:
    if raw is None or raw == "":
        return 0.0
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= cap:
        return problem(400, "bad_wait", f"wait is a number of seconds from 0 to {cap:g}")
    return value


async def _start(
    state: AppState, hook: store.Endpoint, payload: Any, key: str | None, delivery: dict[str, Any]
) -> tuple[int, Any, models.Run | None, bool]:
    """Start the run (or find the one this key started): status, answer, run, and whether it is new."""
    try:
        run, created = await state.control.start_run(
            hook.tenant_id,
            f"webhook:{hook.id}",
            hook.workflow_id,
            input=payload,
            idempotency_key=_run_key(hook, key) if key else None,
            trigger="webhook",
            trigger_data=delivery,
            started_by=hook.created_by,
        )
    except ValidationFailed as exc:
        problems = [{"path": list(p.path), "message": p.message, "code": p.code} for p in exc.problems]
        return 422, {"error": "invalid_input", "message": str(exc), "problems": problems}, None, False
    except NotFound:
        return 404, {"error": "not_found", "message": "the webhook's workflow no longer exists"}, None, False
    except Conflict as exc:
        return 409, {"error": "conflict", "message": str(exc)}, None, False
    return 202, {"run_id": str(run.id)}, run, created


def refused(exc: RateLimited) -> JSONResponse:
    """The answer of every HTTP start (webhooks, messages) that admission refused: 429, told when to retry."""
    body = {"error": exc.code.lower(), "message": str(exc), "retry_after_s": math.ceil(exc.retry_after_s * 100) / 100}
    return JSONResponse(body, status_code=429, headers={"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))})


WAIT_QUIET_S = 2.0  # ?wait=: a quiet spell after which the run is read again (a bus message may have been lost)


async def _await_run(
    state: AppState, tenant_id: uuid.UUID, run_id: uuid.UUID, wait_s: float, status: int, answer: Any
) -> tuple[int, Any]:
    """``?wait=``: the run's outcome if it finishes in time, else the first answer with its current status.

    Woken by the run's own bus channel, not by polling: subscribed first, then the run read, so a run that ended
    in between is seen by the read; afterwards the database is read again only when a message carries a final
    event (its outcome is in the row that transaction committed), when the bus reconnects, or after a quiet spell
    (a lost message costs at most ``WAIT_QUIET_S``). Without a bus, the run is read every ``WAIT_QUIET_S``/10."""
    deadline = time.monotonic() + wait_s
    try:
        async with state.bus.subscribe(channels.run(tenant_id, run_id), buffer=64) as live:
            return await _until_final(state, tenant_id, run_id, deadline, status, answer, live)
    except BusUnavailable:
        return await _until_final(state, tenant_id, run_id, deadline, status, answer, None)


async def _until_final(
    state: AppState,
    tenant_id: uuid.UUID,
    run_id: uuid.UUID,
    deadline: float,
    status: int,
    answer: Any,
    live: Subscription | None,
) -> tuple[int, Any]:
    while True:
        async with state.reads() as s:
            run = await runs_store.get(s, tenant_id, run_id)
        if run is None:
            return status, answer
        if run.status in FINAL:
            return 200, {"run_id": str(run_id), "status": run.status.value, "output": run.output, "error": run.error}
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return status, {**answer, "status": run.status.value}
            if live is None:
                await asyncio.sleep(min(left, WAIT_QUIET_S / 10))
                break
            message = await live.get(timeout=min(left, WAIT_QUIET_S))
            if message is None and live.ended:
                live = None  # the bus closed under us (the app is stopping): read the run until the deadline
            if message is None or _ends_run(message):
                break  # read the run again


def _ends_run(message: dict[str, Any]) -> bool:
    """A message on the run's channel that carries a final event, or one of another shape (a bus reconnect)."""
    events = message.get("events")
    if not isinstance(events, list):
        return True
    return any(isinstance(e, dict) and e.get("final") for e in events)


# -- POST /hooks/resume/{token}: the resume URL of a wait.event step ------------------------------------------------

UNKNOWN_RESUME = "no waiting step has this resume URL: check the URL (it is the whole of it, as the step showed it)"


async def resume(request: Request) -> Response:
    """Resume a waiting ``wait.event`` step with the JSON body as its payload (an empty body: null).

    Order of checks, as for deliveries: the token (404, the same answer for a forged token and an unknown run or
    step: a forged one is refused by its MAC, compared in constant time, before anything is looked up), the body's
    size (413), the signature when the workflow has a signed webhook (401), JSON (400), the webhook's rate limit
    (429); then the resume itself: 422 a payload its payload_schema refuses (the step keeps waiting), 409 a step
    that is not waiting or was resumed already (with the first resume's outcome), 202 accepted.

    Signature: when any of the run's workflow's webhooks has a signature scheme, the resume must carry a valid
    signature of one of them, exactly as a delivery to that webhook would (the webhook that started the run is
    tried first). Its rate limit then counts the resume, in the same budget as its deliveries; an unsigned resume
    counts against the limit of the webhook that started the run, if any.
    """
    state: AppState = request.app.state.studio
    settings = state.settings
    target = state.resume_links.parse(request.path_params["token"])
    if target is None:
        return problem(404, "not_found", UNKNOWN_RESUME)
    tenancy.act_for(target.tenant_id)  # the rest acts for the token's tenant only
    body = await read_body(request, settings.webhook_max_body_bytes)
    if body is None:
        return problem(413, "too_large", f"the body is larger than {settings.webhook_max_body_bytes} bytes")
    async with state.reads() as s:
        run = await runs_store.get(s, target.tenant_id, target.run_id)
        guards = await store.endpoints_of_workflow(s, state.box, target.tenant_id, run.workflow_id) if run else []
    if run is None:
        return problem(404, "not_found", UNKNOWN_RESUME)
    started_by = str((run.trigger_data or {}).get("webhook_id")) if run.trigger == "webhook" else None
    guards.sort(key=lambda hook: str(hook.id) != started_by)  # the run's own webhook first (a stable sort)
    headers = {name.lower(): value for name, value in request.headers.items()}
    signed = [hook for hook in guards if hook.auth is not WebhookAuth.NONE]
    counted: store.Endpoint | None = next((hook for hook in guards if str(hook.id) == started_by), None)
    if signed:
        counted, refusal = None, None
        for hook in signed:
            try:
                verify(hook.auth, hook.secrets, headers, body, time.time())
            except SignatureInvalid as exc:
                refusal = refusal or exc
                continue
            counted = hook
            break
        if counted is None:
            return problem(401, "bad_signature", f"this workflow's webhook signs its resumes: {refusal}")
    try:
        payload = hygiene.loads(body) if body.strip() else None
    except hygiene.BadJSON as exc:
        return problem(400, "not_json", f"the body must be JSON (or empty): {exc}")
    except ValueError:
        return problem(400, "not_json", "the body must be JSON (or empty)")
    if counted is not None and counted.rate_limit_per_minute is not None:
        retry_after = await state.limiter.hit(f"webhook:{counted.id}", counted.rate_limit_per_minute)
        if retry_after is not None:
            return problem(
                429,
                "rate_limited",
                f"this workflow's webhook takes {counted.rate_limit_per_minute} requests a minute, resumes included; "
                f"retry after {retry_after} s",
                {"Retry-After": str(retry_after)},
            )
    actor = f"webhook:{counted.id}" if signed and counted is not None else "resume_url"
    try:
        resumed = await state.control.resume_wait(
            target.tenant_id, target.run_id, step_id=target.step_id, payload=payload, via="url", actor=actor
        )
    except NotFound:
        return problem(404, "not_found", UNKNOWN_RESUME)
    except ResumeRefused as exc:
        answer: dict[str, Any] = {"error": exc.code.lower(), "message": str(exc)}
        if exc.first is not None:
            answer["first"] = exc.first
        return JSONResponse(answer, status_code=409)
    except ValidationFailed as exc:
        problems = [{"path": list(p.path), "message": p.message, "code": p.code} for p in exc.problems]
        return JSONResponse({"error": "invalid_payload", "message": str(exc), "problems": problems}, status_code=422)
    return JSONResponse(
        {
            "run_id": str(resumed.run_id),
            "step_id": resumed.step_id,
            "event": resumed.event,
            "status": "received",
            "via": resumed.via,
            "at": resumed.at.isoformat(),
        },
        status_code=202,
    )


class EndpointCache:
    """Webhooks by id, cached for ``ENDPOINT_TTL_S``: the delivery path reads no row and decrypts no secret."""

    def __init__(self, state_reads: Any, box: SecretBox) -> None:
        self._reads, self._box = state_reads, box
        self._cache: dict[uuid.UUID, tuple[float, store.Endpoint | None]] = {}

    async def get(self, webhook_id: uuid.UUID) -> store.Endpoint | None:
        now = time.monotonic()
        cached = self._cache.get(webhook_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        async with self._reads() as s:
            found = await store.endpoint(s, self._box, webhook_id)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[webhook_id] = (now + ENDPOINT_TTL_S, found)
        return found

    def forget(self, webhook_id: uuid.UUID) -> None:
        """Drop a webhook edited by this process, so its change applies here at once."""
        self._cache.pop(webhook_id, None)
