"""The Redis event bus: one pub/sub connection per process, read by one task that fans out to local buffers.

Local subscribers are reference-counted per channel: the first sends SUBSCRIBE (and waits for Redis to confirm
it), the last to leave sends UNSUBSCRIBE. Commands for the pub/sub connection go through an outbox drained by a
writer task, so a cancelled subscriber can never interrupt a half-written command on the shared socket. When the
connection drops, the reader reconnects with backoff, re-subscribes every channel in one command and then puts
``RECONNECTED`` into each live subscription (with ``since``: when the connection dropped), which tells the
consumer to re-read from the store what changed since then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import uuid
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from studio_shared.events._redis_internals import PubSubConnection
from studio_shared.events.base import (
    RECONNECTED,
    BusUnavailable,
    LocalSubscription,
    Message,
    Subscription,
    decode,
    encode,
    unique_channels,
)

log = logging.getLogger(__name__)

_CONNECTION_ERRORS = (RedisError, OSError)


def mask_password(url: str) -> str:
    """The URL with any password replaced by ``***``, fit for logs."""
    url = re.sub(r"(?<=[?&]password=)[^&]*", "***", url)
    return re.sub(r"(?<=://)([^:/@]*):[^@/]*@", r"\1:***@", url)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class _Channel:
    """One Redis channel with local subscribers; `ready` resolves when Redis confirms the subscription."""

    __slots__ = ("ready", "subscribers")

    def __init__(self, ready: asyncio.Future[None]) -> None:
        self.ready = ready
        self.subscribers: set[LocalSubscription] = set()


class RedisEventBus:
    """Publishes through one shared client; receives through one pub/sub connection shared by all subscribers."""

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 2.0,
        subscribe_timeout_s: float = 5.0,
        health_check_s: float = 30.0,
        retry_min_s: float = 0.1,
        retry_max_s: float = 2.0,
    ) -> None:
        self.url = url
        self.client_name = f"studio-events-{os.getpid()}-{uuid.uuid4().hex[:8]}"  # finds our connection in CLIENT LIST
        self._safe_url = mask_password(url)
        self._timeout_s = timeout_s
        self._subscribe_timeout_s = subscribe_timeout_s
        self._health_check_s = health_check_s
        self._retry_min_s, self._retry_max_s = retry_min_s, retry_max_s
        self._client: aioredis.Redis | None = None
        self._reader: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._conn: PubSubConnection | None = None
        self._outbox: asyncio.Queue[tuple[str, ...]] | None = None
        self._channels: dict[str, _Channel] = {}
        # Redis confirms (un)subscriptions in the order it received them, so one FIFO per channel pairs them up.
        self._sub_fifo: defaultdict[str, deque[_Channel | None]] = defaultdict(deque)
        self._unsub_fifo: defaultdict[str, deque[asyncio.Future[None]]] = defaultdict(deque)
        self._resubscribing = 0  # confirmations still due for the bulk SUBSCRIBE after a reconnect
        self._tell_reconnected: set[LocalSubscription] = set()
        self._lost_since: datetime | None = None  # when the connection whose loss live subscribers await dropped
        self._closed = False

    # lifecycle

    async def start(self) -> None:
        """Create the client and the reader; waits for the first connection attempt but not for its success."""
        if self._closed:
            raise BusUnavailable("the event bus is closed and cannot be restarted")
        if self._reader is not None:
            return
        self._client = aioredis.Redis.from_url(
            self.url,
            socket_connect_timeout=self._timeout_s,
            socket_timeout=self._timeout_s,
            retry_on_error=[RedisConnectionError],  # one retry: a pooled connection may predate a Redis restart
        )
        first_attempt: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read_forever(first_attempt), name="studio-event-bus-reader")
        await asyncio.wait({first_attempt, self._reader}, return_when=asyncio.FIRST_COMPLETED)

    async def close(self) -> None:
        """Stop the reader, close both connections and end every subscription's iteration."""
        if self._closed:
            return
        self._closed = True
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.wait({self._reader})
            self._reader = None
        for channel in self._channels.values():
            if not channel.ready.done():
                channel.ready.set_result(None)  # wakes subscribers still joining; they see the bus is closed
            for subscription in channel.subscribers:
                subscription.end()
        self._channels.clear()
        self._reset_fifos()
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        log.info("event bus closed (Redis at %s)", self._safe_url)

    def _live_client(self) -> aioredis.Redis:
        if self._closed:
            raise BusUnavailable("the event bus is closed")
        if self._client is None:
            raise BusUnavailable("the event bus is not started: call start() first")
        return self._client

    # publishing

    async def publish(self, channel: str, message: Message) -> None:
        client = self._live_client()
        data = encode(message)
        try:
            await client.publish(channel, data)
        except _CONNECTION_ERRORS as exc:
            raise BusUnavailable(f"cannot publish to Redis at {self._safe_url}: {exc}") from exc

    async def publish_many(self, items: Sequence[tuple[str, Message]]) -> None:
        client = self._live_client()
        encoded = [(channel, encode(message)) for channel, message in items]
        if not encoded:
            return
        try:
            async with client.pipeline(transaction=False) as pipe:
                for channel, data in encoded:
                    pipe.publish(channel, data)
                await pipe.execute()
        except _CONNECTION_ERRORS as exc:
            raise BusUnavailable(f"cannot publish to Redis at {self._safe_url}: {exc}") from exc

    # subscribing

    @asynccontextmanager
    async def subscribe(self, *channels: str, buffer: int = 1000) -> AsyncIterator[Subscription]:
        names = unique_channels(channels)
        self._live_client()
        subscription = LocalSubscription(buffer)
        try:
            await self._join(subscription, names)
            yield subscription
        finally:
            await self._leave(subscription, names)

    def subscriber_count(self, channel: str) -> int:
        """Local subscribers of `channel`, for diagnostics and tests."""
        found = self._channels.get(channel)
        return len(found.subscribers) if found else 0

    async def _join(self, subscription: LocalSubscription, names: tuple[str, ...]) -> None:
        loop = asyncio.get_running_loop()
        new: list[str] = []
        for name in names:
            channel = self._channels.get(name)
            if channel is None:
                channel = self._channels[name] = _Channel(loop.create_future())
                new.append(name)
            channel.subscribers.add(subscription)
        if new:
            self._enqueue("SUBSCRIBE", new)  # when disconnected, the reader subscribes on reconnect instead
        deadline = loop.time() + self._subscribe_timeout_s
        while True:
            if self._closed:
                raise BusUnavailable("the event bus is closed")
            # Re-read each time: a reconnect replaces confirmed futures with fresh ones to wait for.
            pending = {self._channels[n].ready for n in names if not self._channels[n].ready.done()}
            if not pending:
                break
            if loop.time() >= deadline:
                raise BusUnavailable(
                    f"Redis at {self._safe_url} did not confirm the subscription within {self._subscribe_timeout_s}s"
                )
            await asyncio.wait(pending, timeout=deadline - loop.time())  # never cancels futures others wait on
        subscription.live = True

    async def _leave(self, subscription: LocalSubscription, names: tuple[str, ...]) -> None:
        subscription.end()
        self._tell_reconnected.discard(subscription)
        gone: list[str] = []
        for name in names:
            channel = self._channels.get(name)
            if channel is not None and subscription in channel.subscribers:
                channel.subscribers.discard(subscription)
                if not channel.subscribers:
                    del self._channels[name]
                    gone.append(name)
        if gone and not self._closed:
            waiters = self._enqueue("UNSUBSCRIBE", gone)
            if waiters:
                await asyncio.wait(waiters, timeout=self._subscribe_timeout_s)

    def _enqueue(self, verb: str, names: Sequence[str]) -> list[asyncio.Future[None]]:
        """Queue SUBSCRIBE or UNSUBSCRIBE for the writer and return futures for the UNSUBSCRIBE confirmations."""
        if self._conn is None or self._outbox is None:
            return []
        waiters: list[asyncio.Future[None]] = []
        for name in names:
            if verb == "SUBSCRIBE":
                self._sub_fifo[name].append(self._channels.get(name))
            else:
                waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                self._unsub_fifo[name].append(waiter)
                waiters.append(waiter)
        self._outbox.put_nowait((verb, *names))
        return waiters

    def _reset_fifos(self) -> None:
        self._sub_fifo.clear()
        for waiters in self._unsub_fifo.values():
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)  # a closed connection has unsubscribed everything
        self._unsub_fifo.clear()

    # the pub/sub connection

    async def _read_forever(self, first_attempt: asyncio.Future[None]) -> None:
        delay, failures = self._retry_min_s, 0
        while True:
            conn: PubSubConnection | None = None
            try:
                conn = await self._connect()
                delay, failures = self._retry_min_s, 0
                if not first_attempt.done():
                    first_attempt.set_result(None)
                await self._read(conn)
            except _CONNECTION_ERRORS as exc:
                if conn is not None:
                    log.warning("event bus lost its pub/sub connection to Redis at %s: %s", self._safe_url, exc)
                else:
                    failures += 1  # warn once per outage, not every retry
                    level = logging.WARNING if failures == 1 else logging.DEBUG
                    log.log(level, "event bus cannot reach Redis at %s: %s; retrying", self._safe_url, exc)
            except Exception:
                log.exception("event bus reader failed; reconnecting to Redis at %s", self._safe_url)
            finally:
                if not first_attempt.done():
                    first_attempt.set_result(None)
                if conn is not None:
                    await self._disconnected(conn)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._retry_max_s)

    async def _connect(self) -> PubSubConnection:
        if self._client is None:
            raise BusUnavailable("the event bus is not started: call start() first")
        # Our own connection from the client's pool settings (URL, auth, TLS), outside the pool.
        conn = await PubSubConnection.open(self._client, self.client_name, self._timeout_s)
        # No await from here on: the snapshot of channels, the bulk SUBSCRIBE and `_conn` change together.
        self._reset_fifos()
        names = tuple(self._channels)
        self._conn, self._outbox = conn, asyncio.Queue()
        if names:
            self._enqueue("SUBSCRIBE", names)
        else:
            self._tell_reconnected.clear()
            self._lost_since = None  # nobody listened through the outage: nothing to re-read
        self._resubscribing = len(names)
        self._writer = asyncio.create_task(self._write(conn, self._outbox), name="studio-event-bus-writer")
        reconnect = f" (re-subscribing {len(names)} channels)" if names else ""
        log.info("event bus connected to Redis at %s%s", self._safe_url, reconnect)
        return conn

    async def _disconnected(self, conn: PubSubConnection) -> None:
        """Forget the connection; confirmed channels must be confirmed again, and live subscribers told."""
        loop = asyncio.get_running_loop()
        self._conn = self._outbox = None
        self._resubscribing = 0
        if self._lost_since is None:
            self._lost_since = datetime.now(UTC)  # the first drop of an outage: messages may be lost from here
        self._reset_fifos()
        for channel in self._channels.values():
            if channel.ready.done():
                channel.ready = loop.create_future()
            self._tell_reconnected.update(s for s in channel.subscribers if s.live)
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.cancel()
            await asyncio.wait({writer})
        with contextlib.suppress(*_CONNECTION_ERRORS):
            await conn.close()

    async def _write(self, conn: PubSubConnection, outbox: asyncio.Queue[tuple[str, ...]]) -> None:
        """Send queued commands in order; a failed write closes the connection, which the reader then notices.

        Everything queued goes out in one write: on a busy process this task runs about once per event-loop turn,
        and a burst of subscribers (hundreds of sockets resubscribing at once) must not wait a turn per command.
        """
        try:
            while True:
                commands = [await outbox.get()]
                while not outbox.empty():
                    commands.append(outbox.get_nowait())
                await conn.send(commands)
        except _CONNECTION_ERRORS as exc:
            log.warning("event bus cannot write to Redis at %s: %s", self._safe_url, exc)
            with contextlib.suppress(*_CONNECTION_ERRORS):
                await conn.close()

    async def _read(self, conn: PubSubConnection) -> None:
        """Dispatch replies until the connection fails; a PING unanswered for a whole interval counts as failure."""
        ping_pending = False
        while True:
            response = await conn.read(self._health_check_s)
            if response is None:
                if ping_pending:
                    raise RedisConnectionError(f"no reply to PING within {self._health_check_s}s")
                if self._outbox is not None:
                    self._outbox.put_nowait(("PING",))
                ping_pending = True
                continue
            ping_pending = False
            if isinstance(response, list) and len(response) >= 2:
                self._dispatch(_text(response[0]), _text(response[1]), response)

    def _dispatch(self, kind: str, name: str, response: list[Any]) -> None:
        if kind == "message":
            channel = self._channels.get(name)
            if channel is None or not channel.subscribers:
                return
            try:
                message = decode(response[2])
            except ValueError:
                log.warning("event bus ignored a message on %s that is not a JSON object", name)
                return
            for subscription in channel.subscribers:
                subscription.put(message)
        elif kind == "subscribe":
            fifo = self._sub_fifo.get(name)
            expected = fifo.popleft() if fifo else None
            channel = self._channels.get(name)
            if channel is not None and channel is expected and not channel.ready.done():
                channel.ready.set_result(None)
            if self._resubscribing:
                self._resubscribing -= 1
                if not self._resubscribing:
                    self._announce_reconnect()
        elif kind == "unsubscribe":
            waiters = self._unsub_fifo.get(name)
            if waiters:
                waiter = waiters.popleft()
                if not waiter.done():
                    waiter.set_result(None)

    def _announce_reconnect(self) -> None:
        told = 0
        since = (self._lost_since or datetime.now(UTC)).isoformat()
        for subscription in self._tell_reconnected:
            if not subscription.ended:
                subscription.put({**RECONNECTED, "since": since})
                told += 1
        self._tell_reconnected.clear()
        self._lost_since = None
        log.info("event bus re-subscribed on Redis at %s; told %d subscribers to re-read", self._safe_url, told)
