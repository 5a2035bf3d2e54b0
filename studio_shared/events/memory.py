"""The embedded event bus: in-process fan-out within one event loop, used when no Redis is configured."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from studio_shared.events.base import (
    BusUnavailable,
    LocalSubscription,
    Message,
    Subscription,
    decode,
    encode,
    unique_channels,
)


class MemoryEventBus:
    """Synchronous fan-out to bounded per-subscriber buffers; messages go through the same JSON codec as Redis."""

    def __init__(self) -> None:
        self._channels: dict[str, set[LocalSubscription]] = {}
        self._started = False
        self._closed = False

    async def start(self) -> None:
        if self._closed:
            raise BusUnavailable("the event bus is closed and cannot be restarted")
        self._started = True

    async def close(self) -> None:
        self._closed = True
        for subscribers in self._channels.values():
            for subscription in subscribers:
                subscription.end()
        self._channels.clear()

    def _check_open(self) -> None:
        if self._closed:
            raise BusUnavailable("the event bus is closed")
        if not self._started:
            raise BusUnavailable("the event bus is not started: call start() first")

    async def publish(self, channel: str, message: Message) -> None:
        self._check_open()
        self._fan_out(channel, message)

    async def publish_many(self, items: Sequence[tuple[str, Message]]) -> None:
        self._check_open()
        for channel, message in items:
            self._fan_out(channel, message)

    def _fan_out(self, channel: str, message: Message) -> None:
        # Encode even with no subscriber, so an unserialisable message fails here as it would with Redis; the
        # round trip gives subscribers what Redis would: strings for UUIDs and datetimes, and a copy.
        data = encode(message)
        subscribers = self._channels.get(channel)
        if not subscribers:
            return
        delivered = decode(data)
        for subscription in subscribers:
            subscription.put(delivered)

    @asynccontextmanager
    async def subscribe(self, *channels: str, buffer: int = 1000) -> AsyncIterator[Subscription]:
        names = unique_channels(channels)
        self._check_open()
        subscription = LocalSubscription(buffer)
        for name in names:
            self._channels.setdefault(name, set()).add(subscription)
        subscription.live = True
        try:
            yield subscription
        finally:
            subscription.end()
            for name in names:
                subscribers = self._channels.get(name)
                if subscribers is not None:
                    subscribers.discard(subscription)
                    if not subscribers:
                        del self._channels[name]

    def subscriber_count(self, channel: str) -> int:
        """Local subscribers of `channel`, for diagnostics and tests."""
        return len(self._channels.get(channel, ()))
