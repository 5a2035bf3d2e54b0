"""A small graphql-transport-ws client over a real socket, for the subscription tests.

It speaks the protocol the way a browser client (graphql-ws) does: ``connection_init`` with the
bearer token, one id per subscription, ``complete`` to stop one, pongs for pings. A reader task routes
each message to its subscription's queue, so several subscriptions share one connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

PROTOCOL = "graphql-transport-ws"


class Closed(Exception):
    """The server closed the connection; ``code`` and ``reason`` say why."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"closed {code}: {reason}")
        self.code, self.reason = code, reason


class WsClient:
    def __init__(self, url: str, token: str | None) -> None:
        self.url, self.token = url, token
        self._ids = itertools.count(1)
        self._queues: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self._conn: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self.closed: Closed | None = None

    async def __aenter__(self) -> WsClient:
        self._conn = await connect(self.url, subprotocols=[PROTOCOL])  # type: ignore[list-item]
        payload = {"authorization": f"Bearer {self.token}"} if self.token else {}
        await self._send({"type": "connection_init", "payload": payload})
        try:
            ack = json.loads(await asyncio.wait_for(self._conn.recv(), 5))
        except ConnectionClosed as exc:
            raise Closed(exc.rcvd.code if exc.rcvd else None, exc.rcvd.reason if exc.rcvd else "") from exc
        assert ack["type"] == "connection_ack", ack
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._conn is not None:
            await self._conn.close()

    async def _send(self, message: dict[str, Any]) -> None:
        assert self._conn is not None
        await self._conn.send(json.dumps(message))

    async def _read(self) -> None:
        assert self._conn is not None
        try:
            async for raw in self._conn:
                message = json.loads(raw)
                if message["type"] == "ping":
                    await self._send({"type": "pong"})
                elif "id" in message:
                    self._queues.setdefault(message["id"], asyncio.Queue()).put_nowait(message)
        except ConnectionClosed as exc:
            self.closed = Closed(exc.rcvd.code if exc.rcvd else None, exc.rcvd.reason if exc.rcvd else "")
        for queue in self._queues.values():
            queue.put_nowait({"type": "closed"})

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> str:
        return await self.subscribe_with({"query": query, "variables": variables or {}})

    async def subscribe_with(self, payload: dict[str, Any]) -> str:
        """A ``subscribe`` with this payload as it is (e.g. a trusted document's ``documentId`` and no query)."""
        id = str(next(self._ids))
        self._queues[id] = asyncio.Queue()
        await self._send({"id": id, "type": "subscribe", "payload": payload})
        return id

    async def complete(self, id: str) -> None:
        await self._send({"id": id, "type": "complete"})

    async def receive(self, id: str, timeout: float = 10) -> dict[str, Any]:
        """The next message of subscription ``id``: ``next``, ``error``, ``complete`` or ``closed``."""
        return await asyncio.wait_for(self._queues[id].get(), timeout)

    async def results(self, id: str, timeout: float = 10) -> AsyncIterator[dict[str, Any]]:
        """Each ``next`` payload's data until the server completes the subscription; errors raise."""
        while True:
            message = await self.receive(id, timeout)
            if message["type"] == "complete":
                return
            assert message["type"] == "next", message
            assert not message["payload"].get("errors"), message
            yield message["payload"]["data"]
