"""Security headers on every answer, as a pure ASGI middleware: what no route can forget.

- Every answer: ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: no-referrer`` (no URL of the studio,
  a run id or a webhook id, leaves with a click on a link).
- Every HTML answer (the web app, the "not built" page, GraphiQL): a Content-Security-Policy, ``X-Frame-Options:
  DENY``, ``Cross-Origin-Opener-Policy: same-origin`` and a ``Permissions-Policy`` that turns off devices the
  app never uses.

The app's policy allows scripts from the studio's own origin only: no inline script, no ``eval`` (the schema
forms validate with an interpreter, not Ajv's generated code), no other host. Styles allow ``'unsafe-inline'``:
React Flow positions nodes with ``style`` attributes and Radix injects ``<style>`` elements; a style cannot run
code. ``connect-src 'self'`` covers the same-origin websocket (CSP Level 3; every current browser). Nothing may
frame the studio (clickjacking), and ``base-uri``/``form-action``/``object-src`` close the other doors.

GraphiQL (development only; off in production) is built with the web app and served from the same origin, so its
page has the app's policy too: no CDN, no inline script. A route that sets a header itself (an artifact
download's sandbox policy) keeps its own.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_COMMON = (
    "default-src 'self'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
)
APP_CSP = "; ".join(("script-src 'self'", "style-src 'self' 'unsafe-inline'", "worker-src 'self'", *_COMMON))
PERMISSIONS = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"

EVERY = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
HTML = {
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": PERMISSIONS,
}


class SecurityHeaders:
    """Adds the headers above to each HTTP answer that does not set them itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in EVERY.items():
                    headers.setdefault(name, value)
                if headers.get("content-type", "").startswith("text/html"):
                    headers.setdefault("Content-Security-Policy", APP_CSP)
                    for name, value in HTML.items():
                        headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
