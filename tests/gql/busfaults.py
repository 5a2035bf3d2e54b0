"""Outages of the event bus, staged inside the server under test (both adapters, no Redis restart needed).

``bus_reconnected`` puts the notice a bus gives its live subscribers after it lost messages (the Redis bus does
this when its pub/sub connection comes back) into every local subscription of a channel, exactly as the bus
would; a test writes the changes "lost" in the outage to the database behind the bus's back.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from studio_gql.state import AppState
from studio_shared.events import RECONNECTED
from studio_shared.events.base import LocalSubscription


def _subscriptions(state: AppState, channel: str) -> set[LocalSubscription]:
    found: Any = getattr(state.bus, "_channels", {}).get(channel)
    if found is None:
        return set()
    subscribers: set[LocalSubscription] = found.subscribers if hasattr(found, "subscribers") else found
    return subscribers


async def until_subscribed(state: AppState, channel: str, count: int = 1) -> None:
    """Wait until the server holds ``count`` live subscriptions of ``channel``."""
    for _ in range(500):
        if sum(1 for s in _subscriptions(state, channel) if s.live) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"no live subscription of {channel}")


def bus_reconnected(state: AppState, channel: str, lost_since: datetime) -> int:
    """Tell the live subscriptions of ``channel`` that messages since ``lost_since`` may be lost; how many."""
    told = 0
    for subscription in _subscriptions(state, channel):
        if subscription.live:
            subscription.put({**RECONNECTED, "since": lost_since.isoformat()})
            told += 1
    return told
