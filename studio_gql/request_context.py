"""Each HTTP request's id and span: what its log lines and the runs it starts are traced back to.

The request id is the client's ``X-Request-ID`` when it is a plausible one (1 to 128 characters of letters, digits
and ``-_.:``; anything else could forge or flood a log line), otherwise a new one; it is bound to every log line the
request writes (``studio_shared.logs``) and returned in the answer's ``X-Request-ID``. With traces on, the request
is a server span (continuing the caller's W3C ``traceparent`` when it sends one), named by its method and the first
segment of its path: ``POST /graphql``, ``POST /hooks`` (a webhook's id stays out of the name; the path is an
attribute only where it names no secret).
"""

from __future__ import annotations

import re
import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from studio_shared import logs, tracing

HEADER = "X-Request-ID"
_PLAUSIBLE = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# Paths whose tail is a secret (a resume token, a webhook's id that its URL holds): the span keeps only the head.
_SECRET_TAILS = ("/hooks/",)


def request_id(given: str | None) -> str:
    return given if given is not None and _PLAUSIBLE.fullmatch(given) else uuid.uuid4().hex


class RequestContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        rid = request_id(headers.get(HEADER))
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[HEADER] = rid
            await send(message)

        token = logs.bind(request_id=rid)
        try:
            if not tracing.enabled():
                await self.app(scope, receive, send_with_id)
                return
            path: str = scope.get("path", "")
            method: str = scope.get("method", "")
            head = "/" + path.lstrip("/").split("/", 1)[0]
            attributes = {"http.request.method": method, "url.path": head if path.startswith(_SECRET_TAILS) else path}
            with tracing.span(
                f"{method} {head}", attributes, parent=headers.get("traceparent"), kind="server"
            ) as current:
                if current is not None:
                    current.set_attribute("studio.request_id", rid)
                await self.app(scope, receive, send_with_id)
                if current is not None:
                    current.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        tracing.failed(current, str(status))
        finally:
            logs.unbind(token)
