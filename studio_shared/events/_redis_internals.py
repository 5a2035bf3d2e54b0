"""redis-py internals the Redis event bus relies on, fenced in one module (README: "Library internals we rely on").

The bus receives pub/sub messages for the whole process on one connection of its own, built from the client's
pool settings (URL, auth, TLS) with ``ConnectionPool.make_connection`` and driven at the protocol level:
``connect``, ``pack_command``/``pack_commands`` and ``send_packed_command(..., check_health=False)``,
``read_response(timeout=...)``, ``disconnect(nowait=True)``. These are methods of redis-py's connection classes,
which its documentation leaves out of the public API. redis-py's ``PubSub`` would not do, because the bus needs:

- one writer: every (un)subscribe goes through an outbox drained by one task, so a subscriber cancelled mid-call
  never leaves half a command on the shared socket (``PubSub`` writes from the caller's task);
- one write per batch: what is queued goes out in one write; 500 sockets re-subscribing at once, one command per
  event-loop turn, left confirmations timing out;
- reconnects it can announce: after a reconnect every channel is re-subscribed in one command, then each live
  subscription is told (``RECONNECTED``, with since when) to re-read from the database what it may have missed;
  ``PubSub`` re-subscribes silently;
- its own health check: a PING after an idle interval, and a connection that does not answer it is dropped.

``PubSubConnection`` is that connection; nothing else in the studio touches redis-py's connection internals.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection, ConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError

from studio_shared.internals import Fence, Relied

VERIFIED = {"redis": "5.3.1"}


class PubSubConnection:
    """A connection of our own, outside the client's pool, for SUBSCRIBE, UNSUBSCRIBE, PING and their replies."""

    def __init__(self, conn: AbstractConnection) -> None:
        self._conn = conn

    @classmethod
    async def open(cls, client: aioredis.Redis, name: str, timeout_s: float) -> PubSubConnection:
        """Connect with the client's settings and name the connection (``CLIENT SETNAME``, so it shows in ``CLIENT
        LIST``; an ACL may forbid naming, which is fine). Raises the connection's error, leaving nothing open."""
        # redis-py leaves these two methods unannotated.
        conn: AbstractConnection = client.connection_pool.make_connection()  # type: ignore[no-untyped-call]
        try:
            await conn.connect()  # type: ignore[no-untyped-call]
            await conn.send_packed_command(conn.pack_command("CLIENT", "SETNAME", name), check_health=False)
            with contextlib.suppress(ResponseError):  # naming is a convenience; an ACL may forbid it
                if await conn.read_response(timeout=timeout_s) is None:
                    raise RedisConnectionError(f"no reply within {timeout_s}s")
        except BaseException:
            with contextlib.suppress(RedisError, OSError):
                await conn.disconnect(nowait=True)
            raise
        return cls(conn)

    async def send(self, commands: Sequence[tuple[str, ...]]) -> None:
        """Send ``commands`` in one write (no health check: the bus does its own)."""
        await self._conn.send_packed_command(self._conn.pack_commands(commands), check_health=False)

    async def read(self, timeout_s: float) -> Any:
        """The next reply or pushed message; None when nothing arrived within ``timeout_s``."""
        return await self._conn.read_response(timeout=timeout_s)

    async def close(self) -> None:
        """Close the socket without waiting for the server."""
        await self._conn.disconnect(nowait=True)


def _read_response_times_out_with_none() -> str | None:
    source = inspect.getsource(AbstractConnection.read_response)
    if "return None" not in source or "timeout" not in source:
        return "AbstractConnection.read_response no longer returns None when its timeout passes"
    return None


FENCE = Fence(
    module="studio_shared/events/_redis_internals.py",
    verified=VERIFIED,
    relied=(
        Relied("redis.asyncio.connection.ConnectionPool", ("make_connection",), lambda: ConnectionPool),
        Relied(
            "redis.asyncio.connection.AbstractConnection",
            (
                "connect",
                "pack_command(args)",
                "pack_commands(commands)",
                "send_packed_command(command, check_health)",
                "read_response(timeout)",
                "disconnect(nowait)",
            ),
            lambda: AbstractConnection,
        ),
    ),
    probes=(_read_response_times_out_with_none,),
)
