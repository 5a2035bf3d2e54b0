"""A client that goes away mid-request (the browser cancelled it by navigating) is one debug line, not an error."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from starlette.applications import Starlette


def _scope(path: str, body_size: int) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"studio.test"),
            (b"content-type", b"application/json"),
            (b"content-length", str(body_size).encode()),
        ],
        "client": ("127.0.0.1", 40000),
        "server": ("studio.test", 80),
        "state": {},
    }


@pytest.mark.parametrize("path", ["/graphql", "/messages/chat"])
async def test_a_client_that_goes_away_is_one_debug_line(
    app: Starlette, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    messages = iter(
        [{"type": "http.request", "body": b'{"query": "{ me', "more_body": True}, {"type": "http.disconnect"}]
    )
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return next(messages, {"type": "http.disconnect"})

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    caplog.set_level(logging.DEBUG)
    await app(_scope(path, 4096), receive, send)  # returns: nothing for the server to log as a crash
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert problems == [], [r.getMessage() for r in problems]
    gone = [r for r in caplog.records if "went away" in r.getMessage()]
    assert len(gone) <= 1 and all(r.levelno == logging.DEBUG and r.exc_info is None for r in gone)
    if path == "/graphql":
        assert [r.getMessage() for r in gone] == [f"client went away before the answer: POST {path}"]
