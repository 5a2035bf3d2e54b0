"""Small real HTTP servers the tests start on 127.0.0.1: a target that records what reaches it, and a scripted
OpenAI-compatible model. They run on the session's event loop, so worker processes can call them too."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # pytest keeps its own signal handlers
        yield


@contextlib.asynccontextmanager
async def serve(app: ASGIApp, **config: Any) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on a free port of 127.0.0.1; yields ``http://127.0.0.1:<port>``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = _Server(uvicorn.Config(app, **{"lifespan": "off", "log_level": "warning", **config}))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Target:
    """An HTTP endpoint that records every request; routes cover the node's success and failure paths."""

    seen: list[Seen] = field(default_factory=list)
    url: str = ""

    def app(self) -> Starlette:
        async def record(request: Request) -> Seen:
            seen = Seen(request.method, request.url.path, dict(request.headers), await request.body())
            self.seen.append(seen)
            return seen

        async def echo(request: Request) -> Response:
            seen = await record(request)
            body = seen.body.decode()
            return JSONResponse(
                {"method": seen.method, "query": dict(request.query_params), "headers": seen.headers, "body": body}
            )

        async def status(request: Request) -> Response:
            seen = await record(request)
            code = int(request.path_params["code"])
            body: dict[str, Any] = {"error": f"status {code}"}
            if request.query_params.get("echo"):  # an API that quotes the request back in its error
                body["headers"] = seen.headers
            return JSONResponse(body, status_code=code)

        async def slow(request: Request) -> Response:
            await record(request)
            await asyncio.sleep(float(request.query_params.get("s", "5")))
            return JSONResponse({"ok": True})

        async def big(request: Request) -> Response:
            await record(request)
            size = int(request.query_params.get("bytes", "100000"))

            async def chunks() -> AsyncIterator[bytes]:
                for _ in range(size // 1000):
                    yield b"x" * 1000

            return StreamingResponse(chunks(), media_type="text/plain")

        async def text(request: Request) -> Response:
            await record(request)
            return Response("plain words", media_type="text/plain")

        async def nonfinite(request: Request) -> Response:
            await record(request)  # what Python's json.dumps writes for inf and nan: not JSON
            return Response(
                '{"price": NaN, "limits": [Infinity, -Infinity], "big": 1e999}', media_type="application/json"
            )

        async def redirect(request: Request) -> Response:
            await record(request)
            hops = int(request.query_params.get("hops", "1"))
            target = request.query_params.get("to") or "/echo"
            code = request.query_params.get("code", "302")
            location = f"/redirect?hops={hops - 1}&code={code}&to={target}" if hops > 1 else target
            return RedirectResponse(location, status_code=int(code))

        return Starlette(
            routes=[
                Route("/echo", echo, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
                Route("/status/{code:int}", status, methods=["GET", "POST"]),
                Route("/slow", slow),
                Route("/big", big),
                Route("/text", text),
                Route("/nonfinite", nonfinite),
                Route("/redirect", redirect, methods=["GET", "POST"]),
            ]
        )


class StreamCut(Exception):
    """Raised inside a streamed answer: the server drops the connection mid-body (no final chunk, no [DONE])."""


@dataclass
class FakeModel:
    """A scripted OpenAI-compatible ``/v1/chat/completions``: answers from a script, records every request.

    A scripted entry is a reply (``{"content": …}`` or ``{"tool_calls": [(name, args), …]}``, optionally with
    ``"usage": {…}``) or ``{"status": 429, "headers": {"Retry-After": "1"}}``. With the script empty it answers "ok".
    A request with ``stream: true`` gets Server-Sent Events: the content in ``chunk_chars`` pieces (``delay_s``
    apart), tool calls in fragments, the usage in a final chunk when ``stream_options.include_usage`` asks, then
    ``[DONE]``; ``"cut": n`` drops the connection after n content chunks. ``streamed`` counts chunks sent.
    """

    script: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    url: str = ""
    streamed: int = 0
    chunk_sent_at: list[float] = field(default_factory=list)  # time.perf_counter() of each content chunk sent

    def app(self) -> Starlette:
        async def completions(request: Request) -> Response:
            body = await request.json()
            self.requests.append(body)
            self.headers.append(dict(request.headers))
            entry = self.script.pop(0) if self.script else {"content": "ok"}
            if "status" in entry:
                return JSONResponse(
                    {"error": {"message": entry.get("message", "error")}},
                    status_code=entry["status"],
                    headers=entry.get("headers"),
                )
            if entry.get("wait"):  # hold the answer until the test sets the event (a worker killed mid-call)
                await entry["wait"].wait()
            usage = entry.get("usage") or {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
            calls = [
                {
                    "id": f"call_{i}_{len(self.requests)}",
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(args)},
                }
                for i, (name, args) in enumerate(entry.get("tool_calls") or [])
            ]
            if body.get("stream") and not entry.get("no_stream"):  # no_stream: a provider that ignores stream
                include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
                return StreamingResponse(
                    self._chunks(entry, calls, usage if include_usage else None), media_type="text/event-stream"
                )
            message: dict[str, Any] = {"role": "assistant", "content": entry.get("content")}
            if calls:
                message["tool_calls"] = calls
            return JSONResponse(
                {
                    "id": "cmpl",
                    "object": "chat.completion",
                    "choices": [{"index": 0, "message": message}],
                    "usage": usage,
                }
            )

        return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])

    async def _chunks(
        self, entry: dict[str, Any], calls: list[dict[str, Any]], usage: dict[str, Any] | None
    ) -> AsyncIterator[bytes]:
        def sse(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
            chunk = {
                "id": "cmpl",
                "object": "chat.completion.chunk",
                "model": "fake",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                **extra,
            }
            return f"data: {json.dumps(chunk)}\n\n".encode()

        yield sse({"role": "assistant", "content": ""})
        text = entry.get("content") or ""
        size = int(entry.get("chunk_chars", 4))
        for n, start in enumerate(range(0, len(text), size)):
            if entry.get("cut") is not None and n >= entry["cut"]:
                raise StreamCut
            if entry.get("delay_s"):
                await asyncio.sleep(entry["delay_s"])
            self.streamed += 1
            self.chunk_sent_at.append(time.perf_counter())
            yield sse({"content": text[start : start + size]})
        for i, call in enumerate(calls):
            arguments = call["function"]["arguments"]
            head = {"index": i, "id": call["id"], "type": "function", "function": {"name": call["function"]["name"]}}
            yield sse({"tool_calls": [{**head, "function": {**head["function"], "arguments": arguments[:3]}}]})
            yield sse({"tool_calls": [{"index": i, "function": {"arguments": arguments[3:]}}]})
        yield sse({}, "tool_calls" if calls else "stop")
        if usage is not None:
            yield f"data: {json.dumps({'id': 'cmpl', 'choices': [], 'usage': usage})}\n\n".encode()
        yield b"data: [DONE]\n\n"


INTERNAL_SECRET = "internal-config-4f1c9e"  # what Internal serves: it must never reach an answer


class Internal:
    """A service on the API's own network that records every request: ``/internal/config.json`` answers a
    JSON Schema holding ``INTERNAL_SECRET``, ``/slow?s=N`` answers one after N seconds. It runs on a thread of
    its own, so a caller that blocks the event loop (a synchronous fetch) still reaches it and is recorded."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.url = ""
        self._server: ThreadingHTTPServer | None = None

    def __enter__(self) -> Internal:
        paths = self.paths

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                paths.append(url.path)
                if url.path == "/slow":
                    time.sleep(float(parse_qs(url.query).get("s", ["5"])[0]))
                body = json.dumps({"const": INTERNAL_SECRET}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
