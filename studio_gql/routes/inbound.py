"""``POST /messages/{channel}``: the inbound endpoint a chat integration calls to start message-triggered runs.

Authenticated like the API (``Authorization: Bearer <API key or token>``, permission ``message:send``);
the body is ``{"text": …, "sender": …}``. Answers ``202 {"message_id", "run_ids"}``; every error is JSON
with a message that says what to fix.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from studio_gql import hygiene
from studio_gql.auth import authenticate
from studio_gql.limits import read_body
from studio_gql.routes.hooks import problem, refused
from studio_gql.state import AppState
from studio_shared.errors import RateLimited, Unauthenticated, ValidationFailed
from studio_shared.rbac import Permission, permissions_for


async def receive(request: Request) -> Response:
    state: AppState = request.app.state.studio
    try:
        principal = await authenticate(state, request.headers.get("authorization"))
    except Unauthenticated as exc:
        return problem(401, "unauthenticated", str(exc))
    if principal is None:
        return problem(401, "unauthenticated", "send 'Authorization: Bearer <API key>' of a key with message:send")
    if Permission.MESSAGE_SEND not in permissions_for(principal.role):
        return problem(403, "forbidden", "this key's role lacks the permission 'message:send' (OPERATOR or above)")
    limit = state.settings.message_max_body_bytes
    body = await read_body(request, limit)  # streamed: a body over the limit is refused without being held
    if body is None:
        return problem(413, "too_large", f"the body is larger than {limit} bytes")
    try:
        payload = hygiene.loads(body)
    except hygiene.BadJSON as exc:
        return problem(400, "bad_body", str(exc))
    except ValueError:
        payload = None
    if not isinstance(payload, dict) or not isinstance(payload.get("text"), str):
        return problem(400, "bad_body", 'send a JSON object like {"text": "hello", "sender": "ada"}')
    sender = payload.get("sender")
    if sender is not None and not isinstance(sender, str):
        return problem(400, "bad_body", "sender must be a string")
    try:
        sent = await state.messaging.send(
            principal.tenant_id,
            principal.actor,
            request.path_params["channel"],
            payload["text"],
            sender,
            started_by=principal.person_id,
        )
    except ValidationFailed as exc:
        return problem(422, "invalid", str(exc))
    except RateLimited as exc:  # nothing was stored: send the message again after Retry-After
        return refused(exc)
    return JSONResponse(
        {"message_id": str(sent.message.id), "run_ids": [str(r) for r in sent.run_ids]}, status_code=202
    )
