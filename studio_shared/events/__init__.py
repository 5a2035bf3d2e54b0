"""The event bus: transport for run events and worker signals; the database stays the source of truth.

``event_bus_from(redis_url)`` picks the adapter: in-memory (embedded, one process) without a URL, Redis pub/sub
with one. Channel names come only from `studio_shared.events.channels`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from studio_shared.events import channels
from studio_shared.events.base import RECONNECTED, BusUnavailable, EventBus, Message, Subscription, reconnected_since
from studio_shared.events.contract import Event, EventKind
from studio_shared.events.memory import MemoryEventBus

__all__ = [
    "RECONNECTED",
    "BusUnavailable",
    "Event",
    "EventBus",
    "EventKind",
    "MemoryEventBus",
    "Message",
    "Subscription",
    "channels",
    "event_bus_from",
    "listen_forever",
    "reconnected_since",
]

log = logging.getLogger(__name__)


def event_bus_from(redis_url: str | None) -> EventBus:
    """The in-memory bus without a URL, else the Redis bus (imported only then, so redis stays optional here)."""
    if redis_url is None:
        return MemoryEventBus()
    from studio_shared.events.redis import RedisEventBus

    return RedisEventBus(redis_url)


async def listen_forever(bus: EventBus, channel: str, on_message: Callable[[Message], None]) -> None:
    """Call ``on_message`` for every message on ``channel`` until cancelled, subscribing again after a failure."""
    while True:
        try:
            async with bus.subscribe(channel) as messages:
                async for message in messages:
                    on_message(message)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("listening on %s failed; subscribing again", channel, exc_info=True)
            await asyncio.sleep(1)
