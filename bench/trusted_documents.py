"""What a trusted document saves the API per request: the Python client's ``startRun`` and ``GetRun`` through the whole
HTTP view (body, document lookup, extensions, parsing and validation), sent three ways: by ``documentId``, by their
text (the parser and validation caches hit, as for any document sent again), and by a text the caches have never seen
(an arbitrary document: a fresh parse and validation each time, which is what a trusted document never costs).

In-process, no services: the view runs without credentials, so the first field's permission check refuses each
operation before any resolver reads anything, and every row is the same fixed work but for the document's path.
CPU time of this process per request, median of rounds. Prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from itertools import count
from types import SimpleNamespace
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Route

from studio_gql.graphql_app import StudioGraphQL
from studio_gql.trusted_documents import MANIFEST_DIR
from studio_shared.settings import Env, Settings

NAME = "trusted-documents"
HELP = "API CPU per request of the Python client's startRun and GetRun by documentId, by text, and by an unseen text"
RUN_ID = "00000000-0000-4000-8000-000000000001"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repeat", type=int, default=2_000, help="requests per measurement (default 2,000)")
    parser.add_argument("--rounds", type=int, default=5, help="measurements per row; the median is shown")


def _shipped(operation: str) -> tuple[str, str]:
    manifest: dict[str, str] = json.loads((MANIFEST_DIR / "python-client.json").read_text(encoding="utf-8"))
    return next((key, text) for key, text in manifest.items() if text.strip().startswith(operation))


def _app(settings: Settings) -> Starlette:
    app = Starlette(routes=[Route("/graphql", StudioGraphQL(settings), methods=["GET", "POST"])])
    app.state.studio = SimpleNamespace(settings=settings)  # no credentials are sent: nothing else is read
    return app


async def _post(app: Starlette, body: dict[str, Any]) -> dict[str, Any]:
    """One POST through the ASGI app, without a client library's overhead."""
    raw = json.dumps(body).encode()
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"accept", b"application/json")],
        "http_version": "1.1",
        "scheme": "http",
        "server": ("bench", 80),
        "client": ("bench", 1),
        "root_path": "",
        "app": app,
    }
    sent = False
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": raw, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    answer: dict[str, Any] = json.loads(b"".join(chunks))
    return answer


def _refused(answer: dict[str, Any]) -> None:
    errors = answer.get("errors") or []
    if not errors or "authentication required" not in errors[0]["message"]:
        raise AssertionError(f"expected the permission refusal, got {answer}")


async def _per_request_us(call: Callable[[], Awaitable[None]], repeat: int, rounds: int) -> float:
    await call()  # the first request fills the caches: every request measured below finds them warm
    samples = []
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(repeat):
            await call()
        samples.append((time.process_time() - started) / repeat * 1e6)
    return statistics.median(samples)


async def measure(repeat: int, rounds: int) -> list[tuple[str, float]]:
    app = _app(Settings(env=Env.PRODUCTION, jwt_secret="x" * 32, secret_key="y" * 32))
    unseen = count()
    rows: list[tuple[str, float]] = []
    for operation, variables in (
        ("mutation StartRun", {"workflowId": RUN_ID, "input": {"n": 1}}),
        ("query GetRun", {"id": RUN_ID}),
    ):
        key, text = _shipped(operation)

        async def by_id(key: str = key, variables: dict[str, Any] = variables) -> None:
            _refused(await _post(app, {"documentId": f"sha256:{key}", "variables": variables}))

        async def by_text(text: str = text, variables: dict[str, Any] = variables) -> None:
            _refused(await _post(app, {"query": text, "variables": variables}))

        async def by_unseen_text(text: str = text, variables: dict[str, Any] = variables) -> None:
            fresh = f"{text}\n# {next(unseen)}"  # a comment: the same operation, a text no cache has seen
            _refused(await _post(app, {"query": fresh, "variables": variables}))

        name = operation.split()[1]
        rows.append((f"{name} by documentId", await _per_request_us(by_id, repeat, rounds)))
        rows.append((f"{name} by text (cached)", await _per_request_us(by_text, repeat, rounds)))
        cold = await _per_request_us(by_unseen_text, max(repeat // 10, 1), rounds)
        rows.append((f"{name} by a text never seen", cold))
    return rows


def main(args: argparse.Namespace) -> int:
    rows = asyncio.run(measure(args.repeat, args.rounds))
    print(f"{'request (production settings, refused at its first field)':<58} {'CPU µs per request':>19}")
    for label, us in rows:
        print(f"{label:<58} {us:>19,.1f}")
    return 0
