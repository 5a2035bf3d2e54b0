"""Reject oversized request bodies before any parsing: ``read_body`` for the HTTP routes that read a body
(webhooks, messages), the ``BodyLimit`` middleware for GraphQL. Neither holds more than the limit in memory."""

from __future__ import annotations

import json

from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send


async def read_body(request: Request, limit: int) -> bytes | None:
    """The body, or None when it is over ``limit`` bytes: by its Content-Length, or as soon as the stream passes
    the limit (the rest is never read). A client that went away reads as an empty body."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                return None
    except ClientDisconnect:
        return b""
    return bytes(body)


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    """413 for bodies over ``max_bytes`` on paths under ``prefix`` (by Content-Length, or while streaming)."""

    def __init__(self, app: ASGIApp, max_bytes: int, prefix: str = "/graphql") -> None:
        self.app, self.max_bytes, self.prefix = app, max_bytes, prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await _too_large(send, self.max_bytes)
            return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await _too_large(send, self.max_bytes)


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps({"error": f"request body too large: the limit is {limit} bytes"}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
