"""The event-bus port: the protocols, the wire codec and the bounded per-subscriber buffer both adapters share.

The bus is transport only. The database is the source of truth for run events: subscribers de-duplicate by
``seq`` and read gaps from the store, so the bus may drop messages (a full buffer drops the oldest) but never
makes a publisher wait for a slow subscriber.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, date, datetime
from typing import Any, Protocol

from studio_shared.errors import StudioError

Message = dict[str, Any]  # JSON-serialisable; shared by every local subscriber, so treat it as read-only

# The bus lost messages while reconnecting: re-read from the store. The Redis bus adds ``since`` (ISO 8601, UTC):
# when the connection dropped, so that a change feed can re-read only what changed after it.
RECONNECTED: Message = {"_bus": "reconnected"}


def reconnected_since(message: Message) -> datetime | None:
    """For a reconnect notice, the moment messages may have been lost from (None when it does not say); for
    any other message, None."""
    if message.get("_bus") != "reconnected" or not isinstance(message.get("since"), str):
        return None
    try:
        since = datetime.fromisoformat(message["since"])
    except ValueError:
        return None
    return since if since.tzinfo else since.replace(tzinfo=UTC)


class BusUnavailable(StudioError):
    """The bus cannot carry a message now (Redis down, bus closed); callers treat the bus as best-effort."""

    code = "BUS_UNAVAILABLE"


class Subscription(Protocol):
    """An async-iterable of messages; iteration ends when the subscription or the bus closes."""

    def __aiter__(self) -> AsyncIterator[Message]: ...

    async def get(self, timeout: float | None = None) -> Message | None:  # noqa: ASYNC109 - the documented API
        """The next message, or None after `timeout` seconds (or once the subscription has ended)."""
        ...

    @property
    def dropped(self) -> int:
        """How many messages a full buffer has dropped; a gap in `seq` tells the consumer where."""
        ...

    @property
    def ended(self) -> bool:
        """The subscription or its bus has closed: `get` answers None at once from now on."""
        ...


class EventBus(Protocol):
    """Fan-out of JSON messages to channel subscribers; names come from `studio_shared.events.channels`."""

    async def publish(self, channel: str, message: Message) -> None: ...

    async def publish_many(self, items: Sequence[tuple[str, Message]]) -> None:
        """Publish in one round trip, preserving order per channel."""
        ...

    def subscribe(self, *channels: str, buffer: int = 1000) -> AbstractAsyncContextManager[Subscription]:
        """Listen on `channels`; subscribed before `__aenter__` returns, so history read afterwards leaves no gap."""
        ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


def _default(value: object) -> str:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, date):  # datetime too
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def encode(message: Message) -> str:
    """Compact JSON; UUIDs and datetimes become strings, exactly as a subscriber will see them."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False, default=_default)


def decode(data: str | bytes) -> Message:
    """The inverse of `encode`; rejects anything but a JSON object."""
    message = json.loads(data)
    if not isinstance(message, dict):
        raise ValueError(f"a bus message must be a JSON object, not {type(message).__name__}")
    return message


def unique_channels(channels: Sequence[str]) -> tuple[str, ...]:
    """The channels of one subscription, de-duplicated in order; at least one."""
    if not channels:
        raise ValueError("subscribe() needs at least one channel")
    return tuple(dict.fromkeys(channels))


class LocalSubscription:
    """One subscriber's bounded buffer: `put` never waits; when full it drops the oldest message and counts it."""

    def __init__(self, buffer: int) -> None:
        if buffer < 1:
            raise ValueError(f"buffer must be at least 1, not {buffer}")
        self._size = buffer
        self._messages: deque[Message] = deque()
        self._ready = asyncio.Event()
        self._dropped = 0
        self._ended = False
        self.live = False  # set once subscribed; only live subscriptions are told about a reconnect

    @property
    def dropped(self) -> int:
        return self._dropped

    @property
    def ended(self) -> bool:
        return self._ended

    def put(self, message: Message) -> None:
        """Buffer a message without waiting; a full buffer drops its oldest."""
        if self._ended:
            return
        if len(self._messages) >= self._size:
            self._messages.popleft()
            self._dropped += 1
        self._messages.append(message)
        self._ready.set()

    def end(self) -> None:
        """Stop accepting messages; readers drain what is buffered, then iteration ends."""
        self._ended = True
        self._ready.set()

    async def get(self, timeout: float | None = None) -> Message | None:  # noqa: ASYNC109 - the documented API
        if self._messages:
            return self._messages.popleft()
        try:
            async with asyncio.timeout(timeout):
                while not self._messages:
                    if self._ended:
                        return None
                    self._ready.clear()
                    await self._ready.wait()
        except TimeoutError:
            return None
        return self._messages.popleft()

    def __aiter__(self) -> LocalSubscription:
        return self

    async def __anext__(self) -> Message:
        message = await self.get()
        if message is None:
            raise StopAsyncIteration
        return message
